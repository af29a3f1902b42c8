"""Ground-truth sidecars (cardiolens' own annotation format) joined to ingested recordings.

A sidecar is ``<truth_dir>/<stem>.json`` (events, landmarks, curves, labels) plus ``<stem>.npz``
(``masks`` and ``evidence`` arrays with the recording's NumPy shape), where the stem is
:func:`sidecar_stem` of the SeriesInstanceUID: a keyed hash under the pseudonymisation key, so
neither the UID nor anything that can be checked against a list of UIDs without the key appears
in file names. Whoever writes sidecars (the synthetic generator, an annotation tool) must use the
key ingestion uses. Fields that point back at the source (generator indices) are dropped before
the JSON is written under results/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cardiolens.privacy import keyed_hash

DROPPED_FIELDS = ("patient_index", "recording_index")


@dataclass(frozen=True)
class Truth:
    meta: dict[str, Any]
    masks: NDArray[np.uint8]
    evidence: NDArray[np.uint8] | None
    files: tuple[str, ...]


class TruthMismatch(ValueError):
    pass


def sidecar_stem(key: bytes, series_uid: str) -> str:
    """File stem of the ground-truth sidecar of a series: ``T`` + keyed hash (HMAC-SHA256 under
    the pseudonymisation key, domain ``sidecar``) of the SeriesInstanceUID."""
    return "T" + keyed_hash(key, series_uid.strip(), domain="sidecar")


def load_truth(truth_dir: str | None, key: bytes, series_uid: str, shape: tuple[int, ...]) -> Truth | None:
    """The sidecar of ``series_uid`` (stem under ``key``) checked against the image ``shape``, or
    None when absent."""
    if not truth_dir:
        return None
    stem = sidecar_stem(key, series_uid)
    jpath, npath = Path(truth_dir) / f"{stem}.json", Path(truth_dir) / f"{stem}.npz"
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
