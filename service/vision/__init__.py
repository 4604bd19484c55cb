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

from service.vision.annotate import annotate
from service.vision.config import (
    BoxDetectionConfig,
    ClassificationConfig,
    DbTextConfig,
    PostprocessConfig,
    PreprocessConfig,
    apply_overrides,
    parse_postprocess,
)
from service.vision.decode import (
    DecodedFrame,
    FrameDecoder,
    H264Decoder,
    JpegDecoder,
    PngDecoder,
    RawDecoder,
    decode_image,
    make_decoder,
)
from service.vision.postprocess import Classification, Detection, Postprocessor, make_postprocessor, nms
from service.vision.preprocess import Preprocessor, Transform

__all__ = [
    "BoxDetectionConfig",
    "Classification",
    "ClassificationConfig",
    "DbTextConfig",
    "DecodedFrame",
    "Detection",
    "FrameDecoder",
    "H264Decoder",
    "JpegDecoder",
    "PngDecoder",
    "PostprocessConfig",
    "Postprocessor",
    "PreprocessConfig",
    "Preprocessor",
    "RawDecoder",
    "Transform",
    "annotate",
    "apply_overrides",
    "decode_image",
    "make_decoder",
    "make_postprocessor",
    "nms",
    "parse_postprocess",
]
