"""Group DICOM headers into recordings by UID and order MR stacks by slice position and time.

- A multi-frame file (ultrasound cine) is one recording, identified by its SOPInstanceUID.
- Single-frame MR images, and the frames of enhanced multi-frame MR files (one header per frame,
  :func:`cardiolens.ingest.dicom_scan.enhanced_mr_frames`), are grouped by SeriesInstanceUID (never "the first series in a
  folder"), ordered by their position along the slice normal (ImagePositionPatient projected on
  the cross product of the ImageOrientationPatient cosines) and by TriggerTime, and must fill a
  complete (slice, phase) grid.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from cardiolens.ingest.dicom_scan import Header, slice_normal
from cardiolens.ingest.model import Rejection
from cardiolens.ingest.reasons import Reason

POSITION_TOL_MM = 0.01
SPACING_REL_TOL = 0.02


@dataclass(frozen=True)
class Candidate:
    uid: str                      # source UID the recording_id is derived from
    kind: str                     # "us_multiframe" | "mr_stack"
    grid: tuple[tuple[Header, ...], ...]  # [slice][phase] (one slice, one "phase" for multi-frame)
    slice_spacing: float | None   # mm along the normal (None for a single slice)

    @property
    def headers(self) -> list[Header]:
        return [h for row in self.grid for h in row]

    @property
    def files(self) -> tuple[str, ...]:
        """The source files, each once (the frames of a multi-frame file share one), in grid order."""
        return tuple(dict.fromkeys(h.path for h in self.headers))


def _reject_all(headers: list[Header], reason: Reason, message: str) -> list[Rejection]:
    return [Rejection(path, "", reason, message) for path in dict.fromkeys(h.path for h in headers)]


def _mr_stack(series_uid: str, headers: list[Header]) -> Candidate | list[Rejection]:
    first = headers[0]
    for attr in ("orientation", "position", "pixel_spacing"):
        if any(getattr(h, attr) is None for h in headers):
            return _reject_all(headers, Reason.MISSING_ATTRIBUTE, f"series lacks {attr} on some images")
    if len({(h.rows, h.cols) for h in headers}) > 1:
        return _reject_all(headers, Reason.INCONSISTENT, "images of different sizes in one series")
    if any(np.max(np.abs(np.subtract(h.orientation, first.orientation))) > 1e-3 for h in headers):
        return _reject_all(headers, Reason.INCONSISTENT, "different orientations in one series")
    if any(np.max(np.abs(np.subtract(h.pixel_spacing, first.pixel_spacing))) > 1e-4 for h in headers):
        return _reject_all(headers, Reason.INCONSISTENT, "different pixel spacings in one series")
    normal = slice_normal(first.orientation)
    proj = np.array([float(np.dot(h.position, normal)) for h in headers])
    levels = np.unique(np.round(proj / POSITION_TOL_MM).astype(np.int64))
    by_slice: dict[int, list[Header]] = defaultdict(list)
    for h, p in zip(headers, proj):
        by_slice[int(np.round(p / POSITION_TOL_MM))].append(h)
    n_phases = {len(v) for v in by_slice.values()}
    if len(n_phases) != 1:
        return _reject_all(headers, Reason.INCOMPLETE, f"slices have different phase counts {sorted(n_phases)}")
    grid = []
    for level in levels:
        row = sorted(by_slice[int(level)], key=lambda h: (h.trigger_time if h.trigger_time is not None else 0.0, h.sop_uid, h.frame or 0))
        times = [h.trigger_time for h in row]
        if len(row) > 1 and (None in times or len(set(times)) != len(times)):
            return _reject_all(headers, Reason.INCOMPLETE, "phases of a slice lack distinct TriggerTime values (NominalCardiacTriggerDelayTime in enhanced MR)")
        grid.append(tuple(row))
    spacing = None
    if len(levels) > 1:
        pos = np.sort(np.unique(np.round(proj, 2)))
        gaps = np.diff(pos)
        if np.max(np.abs(gaps - np.median(gaps))) > SPACING_REL_TOL * np.median(gaps):
            return _reject_all(headers, Reason.INCONSISTENT, f"non-uniform slice spacing {np.round(gaps, 2).tolist()} mm")
        spacing = float(np.median(gaps))
    return Candidate(series_uid, "mr_stack", tuple(grid), spacing)


def group(headers: list[Header]) -> tuple[list[Candidate], list[Rejection]]:
    """Recording candidates and the files rejected while grouping (duplicates, bad series)."""
    rejected: list[Rejection] = []
    owner: dict[str, str] = {}   # SOPInstanceUID -> the file that holds it (the frames of one file share it)
    unique: list[Header] = []
    for h in sorted(headers, key=lambda h: (h.path, h.frame or 0)):
        if owner.setdefault(h.sop_uid, h.path) != h.path:
            if h.frame is None or h.frame == 0:  # one rejection per file
                rejected.append(Rejection(h.path, "", Reason.DUPLICATE, "SOPInstanceUID already ingested from another file"))
            continue
        unique.append(h)
    candidates: list[Candidate] = []
    series: dict[str, list[Header]] = defaultdict(list)
    for h in unique:
        if h.multiframe:
            candidates.append(Candidate(h.sop_uid, "us_multiframe", ((h,),), None))
        else:
            series[h.series_uid].append(h)
    for uid in sorted(series):
        res = _mr_stack(uid, series[uid])
        if isinstance(res, Candidate):
            candidates.append(res)
        else:
            rejected.extend(res)
    return candidates, rejected
