"""Image and video building blocks: decode -> preprocess -> (model) -> postprocess -> annotate.

Pure and synchronous: no gRPC, no protos, no threads. The StreamVideo servicer and the
unary image path compose these around a model runner:

    decoder = make_decoder("h264")                     # per stream, stateful
    pre = Preprocessor(preprocess_config)              # per model (or per stream override)
    post = make_postprocessor(postprocess_config, model_dir)
    for frame in decoder.decode(data, tag):            # zero or more pictures
        tensor, transform = pre(frame.image)
        outputs = runner(tensor)                       # the model, elsewhere
        results = post(outputs, transform)             # source-pixel Detections / Classifications
"""
# Import the submodules you need (service.vision.config, .decode, .preprocess, .postprocess,
# .annotate): the package itself imports nothing, so loading a model's config does not pull
# in OpenCV, PyAV or pyclipper.
