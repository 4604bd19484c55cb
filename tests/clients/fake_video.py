"""A small blocking StreamVideo server for the video client's resume tests.

Each call answers the frames it reads (pictures only: in an H.264 stream a message of parameter
sets gets no reply, as on the real server) and, when `cuts` says so, ends after that many frames with
UNAVAILABLE "server draining: reconnect" — frames the client sent past that point are left
unread, as a draining server leaves them. Every call's frames are recorded.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

from protos.h264 import parameter_sets_only
from protos.switchyard.v1 import video_pb2 as vpb

SERVICE = "switchyard.v1.Predict"
DRAINING = "server draining: reconnect"


class FakeVideo:
    def __init__(self, cuts: list[int] | None = None, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.cuts = list(cuts or [])  # the n-th call ends after cuts[n] frames; later calls run to the end
        self.code = code
        self.calls: list[list[vpb.VideoFrame]] = []
        self._lock = threading.Lock()
        self.server = grpc.server(ThreadPoolExecutor(4))
        handler = grpc.stream_stream_rpc_method_handler(
            self._stream, vpb.StreamVideoRequest.FromString, vpb.StreamVideoResponse.SerializeToString
        )
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"StreamVideo": handler})])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(0).wait()

    def _stream(self, requests, context: grpc.ServicerContext):
        with self._lock:
            number = len(self.calls)
            frames: list[vpb.VideoFrame] = []
            self.calls.append(frames)
        cut = self.cuts[number] if number < len(self.cuts) else None
        config = next(requests)
        assert config.WhichOneof("kind") == "config"
        h264 = config.config.encoding == vpb.StreamConfig.ENCODING_H264
        if cut == 0:
            context.abort(self.code, DRAINING)
        for request in requests:
            frames.append(request.frame)
            if not (h264 and parameter_sets_only(request.frame.data)):  # as service/video/session.py
                result = vpb.FrameResult(width=len(frames))
                yield vpb.StreamVideoResponse(index=request.frame.index, pts=request.frame.pts, result=result)
            if cut is not None and len(frames) >= cut:
                context.abort(self.code, DRAINING)
