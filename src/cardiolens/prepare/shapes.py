"""The shape of one study's samples, from its configuration alone (no recording needed).

This is the ``shape`` column of ``samples.parquet`` that :mod:`cardiolens.prepare.samples` writes
and that training builds its network for, so the network can be checked before any data is
prepared (``cardiolens check-config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def input_shape(study: Mapping[str, Any]) -> tuple[int, ...]:
    """Shape of one sample of ``study`` (a filled ``studies.<name>`` block), without the batch axis.

    - ``mmode``: (1, line, time) = (1, *mmode.size); the cropped variant is resized to the same size.
    - ``frames``: (2, crop_px, crop_px), the ED and ES frames as two channels (a dual-input network
      gives one to each branch).
    - ``clip``: (clip.frames, *clip.size) = (T, H, W); the data loader adds the channel axis of
      the 3-D network, (1, T, H, W).

    Raises:
        ValueError: for an unknown representation.
    """
    rep = study["representation"]
    if rep == "mmode":
        return (1, *(int(n) for n in study["mmode"]["size"]))
    if rep == "frames":
        crop = int(study["frames"]["crop_px"])
        return (2, crop, crop)
    if rep == "clip":
        return (int(study["clip"]["frames"]), *(int(n) for n in study["clip"]["size"]))
    raise ValueError(f"unknown representation {rep!r}; known: mmode, frames, clip")
