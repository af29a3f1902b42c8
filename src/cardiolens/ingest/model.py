"""What adapters hand to the ingest stage: discovered units and loaded recordings.

An adapter reads one dataset layout. ``discover`` runs once per source (cheap: file names,
metadata files, headers) and assigns every file under the source root to exactly one of: a
:class:`Unit` (a future recording), a rejection, or the ancillary list (dataset metadata such as
a FileList.csv that is read but is not part of one recording). ``load(unit, source, key)`` runs
in worker processes, one unit at a time, and returns a :class:`Loaded` recording or raises
:class:`Reject`; ``key`` is the pseudonymisation key, for files named by keyed hashes (ground-truth
sidecars).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cardiolens.ingest.blanking import Kept
from cardiolens.ingest.reasons import Reason


class Reject(Exception):
    """A unit (or file) cannot be ingested; carries the reason code and a message without PHI."""

    def __init__(self, reason: Reason | str, message: str):
        super().__init__(message)
        self.reason = Reason(reason)
        self.message = message


@dataclass(frozen=True)
class Rejection:
    path: str          # relative to the source root
    sha256: str
    reason: Reason
    message: str


@dataclass(frozen=True)
class Unit:
    """A recording found by ``discover``: its identity and the files it is built from."""

    uid: str                       # stable source identifier -> recording_id (keyed hash)
    patient_id: str                # source patient identifier -> patient_key (keyed hash)
    study_uid: str                 # source study identifier -> study_key
    files: tuple[str, ...]         # paths relative to the source root, every file the recording uses
    payload: Any = None            # adapter-specific, picklable


@dataclass
class Discovery:
    units: list[Unit]
    rejections: list[Rejection]
    ancillary: list[str]                       # metadata files read for the whole dataset
    clinical: pd.DataFrame | None = None       # index: source patient id; cardiolens.ingest.clinical.CANONICAL columns
    clinical_files: list[str] = field(default_factory=list)   # absolute paths, for provenance
    notes: dict[str, Any] = field(default_factory=dict)        # counts worth logging (no PHI)
    #: index: source patient id; sex, age, height_cm, weight_kg the images' headers give (DICOM:
    #: :mod:`cardiolens.ingest.dicom_covariates`), used where the clinical table has no value
    header_covariates: pd.DataFrame | None = None


@dataclass
class Loaded:
    """A decoded recording in physical space (NumPy order: (T, H, W) or (T, S, H, W)).

    An adapter that blanks the pixels itself (:mod:`cardiolens.ingest.blanking`; the DICOM
    adapter, whose ultrasound regions crop the image before its ground truth is matched) sets
    ``kept``; otherwise the stage applies the rules before the image is written.
    """

    array: NDArray
    spacing: tuple[float, ...]                 # ITK order (x, y[, z], t); t is the frame time or 1.0
    modality: str
    view: str
    origin: tuple[float, ...] | None = None
    direction: NDArray[np.float64] | None = None
    spacing_known: bool = True                 # False: spacing is in pixels (dataset has none)
    frame_time_ms: float | None = None
    r_peak_frames: list[int] = field(default_factory=list)
    ed_frame: int | None = None
    es_frame: int | None = None
    mvc_frame: int | None = None
    avo_frame: int | None = None
    heart_rate: float | None = None
    source_frames: list[int] | None = None     # original frame index of each stored frame
    masks: NDArray[np.uint8] | None = None     # cardiolens.labels codes, 255 = frame not annotated
    evidence: NDArray[np.uint8] | None = None
    truth_meta: dict[str, Any] | None = None
    truth_files: list[str] = field(default_factory=list)
    quality: str | None = None
    ef_percent: float | None = None
    split: str | None = None
    n_slices: int = 1
    spacing_z: float | None = None
    kept: Kept | None = None                   # set once the pixels outside the kept area are blanked
    burned_in: bool | None = None              # DICOM BurnedInAnnotation (None: absent or not DICOM)
