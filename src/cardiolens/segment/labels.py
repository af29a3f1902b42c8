"""A segmentation model's classes: canonical label codes <-> the model's channel indices.

A model segments a few structures (``segment.models.<name>.classes``, names from
:data:`cardiolens.labels.NAMES`); channel 0 is background, channel k is the k-th class. The
septum is part of the myocardium for the model (sources differ in whether they code it apart:
the synthetic cohort does, CAMUS and ACDC do not), and every other structure is background.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cardiolens import labels as L

CODES = {name: code for code, name in L.NAMES.items()}
#: Canonical codes that count as another class for a model (septum is myocardium).
MERGED = {L.SEPTUM: L.MYOCARDIUM}


def class_codes(names: list[str]) -> list[int]:
    """Canonical codes of the class names, in order; raises ValueError naming an unknown one."""
    bad = [n for n in names if n not in CODES or CODES[n] in (L.BACKGROUND, L.UNLABELLED, L.SEPTUM)]
    if bad:
        allowed = sorted(n for n, c in CODES.items() if c not in (L.BACKGROUND, L.UNLABELLED, L.SEPTUM))
        raise ValueError(f"unknown segmentation class(es) {bad}; use {allowed}")
    return [CODES[n] for n in names]


def to_channels(mask: NDArray, codes: list[int]) -> NDArray[np.uint8]:
    """Canonical label map (any shape) -> channel indices 0..len(codes) (0 = background)."""
    merged = mask.copy()
    for a, b in MERGED.items():
        merged[merged == a] = b
    out = np.zeros(mask.shape, np.uint8)
    for k, code in enumerate(codes, start=1):
        out[merged == code] = k
    return out


def to_codes(channels: NDArray, codes: list[int]) -> NDArray[np.uint8]:
    """Channel indices -> canonical label codes (0 stays background)."""
    lut = np.array([L.BACKGROUND, *codes], np.uint8)
    return lut[channels]


def annotated_frames(mask: NDArray) -> NDArray[np.bool_]:
    """(N, H, W) label maps -> (N,) whether each frame is fully annotated (no UNLABELLED pixel)."""
    return ~(mask == L.UNLABELLED).reshape(len(mask), -1).any(axis=1)


def has_every_class(mask: NDArray, codes: list[int]) -> list[str]:
    """Names of the model's classes that never occur in an annotated frame of ``mask``: a source
    whose masks lack a structure (Sunnybrook's have no RV) would teach the model it is background."""
    merged = mask.copy()
    for a, b in MERGED.items():
        merged[merged == a] = b
    present = set(np.unique(merged[merged != L.UNLABELLED]).tolist())
    return [L.NAMES[c] for c in codes if c not in present]
