"""Ground-truth sidecars (cardiolens' own annotation format) joined to ingested recordings.

A sidecar is ``<truth_dir>/<SeriesInstanceUID>.json`` (events, landmarks, curves, labels) plus
``.npz`` (``masks`` and ``evidence`` arrays with the recording's NumPy shape). Fields that
point back at the source (generator indices) are dropped before the JSON is written under
results/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

DROPPED_FIELDS = ("patient_index", "recording_index")


@dataclass(frozen=True)
class Truth:
    meta: dict[str, Any]
    masks: NDArray[np.uint8]
    evidence: NDArray[np.uint8] | None
    files: tuple[str, ...]


class TruthMismatch(ValueError):
    pass


def load_truth(truth_dir: str | None, series_uid: str, shape: tuple[int, ...]) -> Truth | None:
    """The sidecar of ``series_uid`` checked against the image ``shape``, or None when absent."""
    if not truth_dir:
        return None
    jpath, npath = Path(truth_dir) / f"{series_uid}.json", Path(truth_dir) / f"{series_uid}.npz"
    if not jpath.exists() and not npath.exists():
        return None
    if not (jpath.exists() and npath.exists()):
        raise TruthMismatch("ground-truth sidecar is incomplete (need both .json and .npz)")
    with open(jpath, encoding="utf-8") as fh:
        meta = json.load(fh)
    with np.load(npath) as z:
        masks = z["masks"].astype(np.uint8)
        evidence = z["evidence"].astype(np.uint8) if "evidence" in z else None
    if masks.shape != shape:
        raise TruthMismatch(f"ground-truth masks have shape {masks.shape}, image has {shape}")
    meta = {k: v for k, v in meta.items() if k not in DROPPED_FIELDS}
    return Truth(meta, masks, evidence, (str(jpath), str(npath)))
