"""Frame statistics for drift: brightness, contrast and a blur measure of one decoded picture.

A camera that goes dark, loses contrast (fog, a covered lens) or falls out of focus changes
these long before anyone reads the model's outputs. They are computed on the drift monitor's
thread for sampled frames only (service/drift/monitor.py), and enter the reference profile
and the windows as three pseudo-tensors on the "frame" side, one feature each, so PSI and KS
score them like any tensor channel.
"""

from __future__ import annotations

import cv2
import numpy as np

FRAME_SIDE = "frame"
BRIGHTNESS, CONTRAST, BLUR = "frame.brightness", "frame.contrast", "frame.blur"
FRAME_TENSORS = (BRIGHTNESS, CONTRAST, BLUR)
# The blur measure runs on a luma scaled down to at most this many pixels on its longer side:
# cheap at any source size, and the same scale for the reference and the live frames.
BLUR_SIDE = 320


def luma(frame: np.ndarray) -> np.ndarray:
    """BT.601 luma (uint8, as OpenCV rounds it) of an RGB, RGBA or single-channel uint8 frame."""
    if frame.ndim == 2:
        return frame
    channels = frame.shape[2]
    if channels == 1:
        return frame[:, :, 0]
    if channels == 4:
        return cv2.cvtColor(frame, cv2.COLOR_RGBA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def blur_luma(gray: np.ndarray) -> np.ndarray:
    """The luma the blur measure reads: area-averaged down to BLUR_SIDE on the longer side, never up."""
    height, width = gray.shape
    longest = max(height, width)
    if longest <= BLUR_SIDE:
        return gray
    scale = BLUR_SIDE / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def frame_statistics(frame: np.ndarray) -> dict[str, np.ndarray]:
    """{tensor: [[value]]}: mean luma, luma standard deviation, variance of the Laplacian.

    The variance of the Laplacian falls as a picture loses sharp edges: an out-of-focus or
    smeared camera reads low, a sharp one high (its scale depends on the scene, which is what
    the reference is for).
    """
    gray = luma(np.ascontiguousarray(frame))
    mean, std = cv2.meanStdDev(gray)
    laplacian = cv2.Laplacian(blur_luma(gray), cv2.CV_64F)
    values = (float(mean[0, 0]), float(std[0, 0]), float(laplacian.var()))
    return {name: np.array([[value]]) for name, value in zip(FRAME_TENSORS, values, strict=True)}
