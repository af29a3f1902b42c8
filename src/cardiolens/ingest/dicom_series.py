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
    def several_series(self) -> bool:
        """Whether the stack was built from several series (one per slice)."""
        return len({h.series_uid for h in self.headers}) > 1

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


#: Series stacked into one cine must agree on their frame time within this fraction.
FRAME_TIME_REL_TOL = 0.10


def _stack_key(headers: list[Header]) -> tuple | None:
    """What single-slice cine series of one stack share (patient, study, orientation, image size,
    pixel spacing, view, MR sequence signature), or None for a series that is not one slice of two
    phases or more with complete geometry."""
    first = headers[0]
    if len(headers) < 2 or any(h.position is None or h.orientation is None or h.pixel_spacing is None for h in headers):
        return None
    normal = slice_normal(first.orientation)
    if np.ptp([float(np.dot(h.position, normal)) for h in headers]) > POSITION_TOL_MM:
        return None  # several slices already: a stack of its own
    return (first.patient_id, first.study_uid, tuple(np.round(first.orientation, 3)), first.rows, first.cols,
            tuple(np.round(first.pixel_spacing, 4)), first.view, first.acquisition)


def _unstackable(members: list[list[Header]]) -> str | None:
    """Why single-slice series (one list of headers each, distinct positions) do not make one
    stack, or None when they do: phase counts, in-plane offsets, timing (see
    :func:`stack_single_slice_series`)."""
    counts = sorted({len(m) for m in members})
    if len(counts) > 1:
        return f"their phase counts differ ({counts})"
    first = members[0][0]
    row, col = np.asarray(first.orientation[:3]), np.asarray(first.orientation[3:])
    inplane = np.array([[np.dot(m[0].position, row), np.dot(m[0].position, col)] for m in members])
    shift = float(np.max(np.ptp(inplane, axis=0)))
    if shift > 0.5 * min(first.pixel_spacing):
        return f"their in-plane positions differ by up to {shift:.1f} mm (not one planned stack)"
    times = [sorted(h.trigger_time for h in m) for m in members]
    if any(None in t for t in times):
        return "some phases lack a TriggerTime"
    step = np.array([np.median(np.diff(t)) for t in times])
    if step.min() <= 0 or np.ptp(step) > FRAME_TIME_REL_TOL * np.median(step):
        return f"their frame times differ ({step.min():.1f} to {step.max():.1f} ms)"
    starts = np.array([t[0] for t in times])
    if np.ptp(starts) > np.median(step):
        return f"their first phases lie {np.ptp(starts):.0f} ms apart, more than one frame time"
    return None


def stack_single_slice_series(series: dict[str, list[Header]]) -> tuple[dict[str, list[Header]], list[Candidate], list[str]]:
    """Merge the single-slice cine series that form one short-axis stack (as scanners that acquire
    each slice in its own breath-hold export it: one series per slice) into one series.

    Candidates share :func:`_stack_key` (patient, study, orientation, image size, pixel spacing,
    view and MR sequence signature). A position acquired more than once keeps the series with the
    highest SeriesNumber (the repeat) in the stack; the others stay recordings of their own. The
    slices must then have the same phase count, the same in-plane position (within half a pixel),
    frame times within :data:`FRAME_TIME_REL_TOL` of each other, first phases within one frame
    time, and together pass :func:`_mr_stack` (evenly spaced). Phases are matched by their order in
    each slice. Otherwise every series stays a recording of its own. The notes (no UIDs) say what
    was done and why, one line per group.
    Returns (the series left as they are, the stacks as candidates, notes); a stack's ``uid``
    joins its members' UIDs with '+'."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for uid in sorted(series):
        key = _stack_key(series[uid])
        if key is not None:
            groups[key].append(uid)
    out = dict(series)
    stacks: list[Candidate] = []
    notes = []
    for uids in groups.values():
        if len(uids) < 2:
            continue
        normal = slice_normal(series[uids[0]][0].orientation)
        at: dict[int, list[str]] = defaultdict(list)
        for u in uids:
            at[round(float(np.dot(series[u][0].position, normal)) / POSITION_TOL_MM)].append(u)
        keep: list[str] = []
        repeats, ambiguous = 0, False
        for level in sorted(at):
            here = sorted(at[level], key=lambda u: -(series[u][0].series_number or 0))
            numbers = [series[u][0].series_number for u in here]
            if len(here) > 1 and (None in numbers or numbers[0] == numbers[1]):
                ambiguous = True  # which acquisition is the repeat cannot be told
            keep.append(here[0])
            repeats += len(here) - 1
        if ambiguous or len(keep) < 2:
            why = ("a slice position acquired more than once without distinct SeriesNumbers" if ambiguous
                   else "they all lie at one slice position")
            notes.append(f"{len(uids)} single-slice series of one study not stacked: {why}; each is a recording of its own")
            continue
        why = _unstackable([series[u] for u in keep])
        merged = [h for u in keep for h in series[u]]
        trial = _mr_stack("+".join(keep), merged) if why is None else None
        if why is None and not isinstance(trial, Candidate):
            why = trial[0].message
        if why is not None:
            notes.append(f"{len(keep)} single-slice series of one study not stacked: {why}; each is a recording of its own")
            continue
        for u in keep:
            del out[u]
        stacks.append(trial)
        notes.append(f"{len(keep)} single-slice series stacked into one cine"
                     + (f"; {repeats} earlier acquisition(s) of a stacked position kept as recording(s) of their own"
                        if repeats else ""))
    return out, stacks, notes


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
        series, stacks, notes = stack_single_slice_series(series)
        candidates += stacks
    for uid in sorted(series):
        res = _mr_stack(uid, series[uid])
        if isinstance(res, Candidate):
            candidates.append(res)
        else:
            rejected.extend(res)
    return candidates, rejected, notes
