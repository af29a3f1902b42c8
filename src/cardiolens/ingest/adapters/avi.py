"""Motion-JPEG AVI reading (EchoNet-Dynamic videos) with Pillow.

No reader of the product's stack opens AVI containers (ITK and pydicom do not; OpenCV and
PyAV are not dependencies), so the RIFF container is walked here (Microsoft AVI RIFF format:
``RIFF 'AVI '`` > ``LIST 'movi'`` > ``##dc``/``##db`` frame chunks, ``LIST 'rec '`` groups) and
every MJPEG frame is decoded by Pillow, converted to grey with Pillow's ITU-R 601-2 luma
(L = 0.299 R + 0.587 G + 0.114 B). Other codecs are refused with a clear error.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from cardiolens.ingest.model import Reject


@dataclass(frozen=True)
class AviVideo:
    frames: NDArray[np.uint8]        # (T, H, W)
    frame_time_ms: float | None      # from the main header (dwMicroSecPerFrame)
    codec: str


def _chunks(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        cid = data[pos:pos + 4]
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if body + size > end:
            raise Reject("truncated", f"AVI chunk {cid!r} at byte {pos} runs past the end of the file (truncated copy?)")
        yield cid, body, size
        pos = body + size + (size & 1)


def read_avi(path: Path) -> AviVideo:
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"AVI ":
        raise Reject("unreadable", f"{path.name}: not a RIFF AVI file")
    end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    frame_time, codec, frames_raw = None, "", []

    def walk(start: int, stop: int) -> None:
        nonlocal frame_time, codec
        for cid, body, size in _chunks(data, start, stop):
            if cid == b"LIST":
                walk(body + 4, body + size)
            elif cid == b"avih" and size >= 4:
                usec = struct.unpack("<I", data[body:body + 4])[0]
                frame_time = usec / 1000.0 if usec else None
            elif cid == b"strh" and size >= 8 and data[body:body + 4] == b"vids":
                codec = data[body + 4:body + 8].decode("latin-1")
            elif len(cid) == 4 and cid[2:] in (b"dc", b"db") and cid[:2].isdigit():
                frames_raw.append((body, size))

    walk(12, end)
    if codec and codec.upper() != "MJPG":
        raise Reject("unsupported", f"{path.name}: AVI codec {codec!r} is not supported (MJPG only)")
    frames = []
    for body, size in frames_raw:
        if size == 0:
            continue  # a dropped frame marker
        try:
            with Image.open(io.BytesIO(data[body:body + size])) as im:
                frames.append(np.asarray(im.convert("L"), dtype=np.uint8))
        except (UnidentifiedImageError, OSError) as exc:
            raise Reject("pixel_decode_error", f"{path.name}: frame {len(frames)} cannot be decoded ({type(exc).__name__})") from None
    if not frames:
        raise Reject("no_frames", f"{path.name}: the AVI holds no video frames")
    if len({f.shape for f in frames}) > 1:
        raise Reject("inconsistent_series", f"{path.name}: frames of different shapes {sorted({f.shape for f in frames})}")
    return AviVideo(np.stack(frames), frame_time, codec or "MJPG")
