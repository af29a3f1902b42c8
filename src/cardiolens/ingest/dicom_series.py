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


def _stack_key(headers: list[Header]) -> tuple | None:
    """What single-slice cine series of one stack share (patient, study, orientation, image size,
    pixel spacing, phase count), or None for a series that is not one slice of two phases or more
    with complete geometry."""
    first = headers[0]
    if len(headers) < 2 or any(h.position is None or h.orientation is None or h.pixel_spacing is None for h in headers):
        return None
    normal = slice_normal(first.orientation)
    if np.ptp([float(np.dot(h.position, normal)) for h in headers]) > POSITION_TOL_MM:
        return None  # several slices already: a stack of its own
    return (first.patient_id, first.study_uid, tuple(np.round(first.orientation, 3)), first.rows, first.cols,
            tuple(np.round(first.pixel_spacing, 4)), len(headers))


def stack_single_slice_series(series: dict[str, list[Header]]) -> tuple[dict[str, list[Header]], list[str]]:
    """Merge the single-slice cine series that form one short-axis stack (as scanners that acquire
    each slice in its own breath-hold export it: one series per slice) into one series.

    Series merge when they share :func:`_stack_key` (patient, study, orientation, image size,
    pixel spacing and phase count), lie at distinct positions along the slice normal and together
    pass :func:`_mr_stack` (uniform slice spacing). Phases are matched by their order within each
    slice (the first phase of every slice is the frame nearest the R wave). Otherwise each series stays
    a recording of its own, and the second value says why, one line per group (no UIDs).
    Returns (series by key, notes); a merged series' key joins its members' UIDs with '+'."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for uid in sorted(series):
        key = _stack_key(series[uid])
        if key is not None:
            groups[key].append(uid)
    out = dict(series)
    notes = []
    for uids in groups.values():
        if len(uids) < 2:
            continue
        normal = slice_normal(series[uids[0]][0].orientation)
        levels = [round(float(np.dot(series[u][0].position, normal)) / POSITION_TOL_MM) for u in uids]
        if len(set(levels)) < len(levels):
            notes.append(f"{len(uids)} single-slice series of one study not stacked: some share a slice position "
                         "(repeated acquisitions); each is a recording of its own")
            continue
        merged = [h for u in uids for h in series[u]]
        trial = _mr_stack("+".join(uids), merged)
        if not isinstance(trial, Candidate):
            notes.append(f"{len(uids)} single-slice series of one study not stacked: {trial[0].message}; each is a "
                         "recording of its own")
            continue
        for u in uids:
            del out[u]
        out["+".join(uids)] = merged
    return out, notes


def group(headers: list[Header], stack_series: bool = True) -> tuple[list[Candidate], list[Rejection], list[str]]:
    """Recording candidates, the files rejected while grouping (duplicates, bad series) and notes
    for the log. ``stack_series``: merge single-slice cine series into stacks
    (:func:`stack_single_slice_series`)."""
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
    notes: list[str] = []
    if stack_series:
        series, notes = stack_single_slice_series(series)
    for uid in sorted(series):
        res = _mr_stack(uid, series[uid])
        if isinstance(res, Candidate):
            candidates.append(res)
        else:
            rejected.extend(res)
    return candidates, rejected, notes
