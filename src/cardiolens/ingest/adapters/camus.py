"""CAMUS (Leclerc et al., IEEE TMI 2019): apical 2- and 4-chamber echo, one recording per view.

Files ``patientNNNN_<view>_<part>`` with part ED, ES, ED_gt, ES_gt, sequence(_gt) or
half_sequence(_gt), as MetaImage (.mhd + .raw) or NIfTI (.nii.gz); ``Info_<view>.cfg`` gives
ED, ES (1-based), NbFrame, Sex, Age, ImageQuality, EF or LVef, FrameRate. With a sequence the
whole sequence is stored; otherwise the ED and ES frames in cycle order. Masks: CAMUS 1 LV,
2 myocardium, 3 left atrium -> cardiolens 1, 2, 5; frames without ground truth are 255.

A broken file costs only itself: a ``.mhd`` whose ``.raw`` is missing or short, or a ``.raw``
without its ``.mhd``, is rejected with a reason naming the companion, and the recording is built
from the view's other parts (a broken sequence leaves the ED and ES images and their masks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import labels as L
from cardiolens.ingest.adapters.folders import by_patient_folder, leftovers
from cardiolens.ingest.adapters.cfg import need_int, opt_float, read_cfg
from cardiolens.ingest.adapters.itkio import check_labels, metaimage_problem, read_volume, remap
from cardiolens.ingest.clinical import CANONICAL, sex_code
from cardiolens.ingest.model import Discovery, Loaded, Reject, Rejection, Unit
from cardiolens.ingest.reasons import Reason

PATIENT = re.compile(r"^patient\d{4}$")
VIEWS = {"2CH": "A2C", "4CH": "A4C"}
PARTS = ("ED", "ES", "ED_gt", "ES_gt", "sequence", "sequence_gt", "half_sequence", "half_sequence_gt")
CAMUS_LABELS = (0, 1, 2, 3)
TO_CANONICAL = {0: L.BACKGROUND, 1: L.LV_CAVITY, 2: L.MYOCARDIUM, 3: L.LEFT_ATRIUM}
QUALITIES = ("Good", "Medium", "Poor")


def _part_of(name: str, pid: str, view: str) -> str | None:
    prefix = f"{pid}_{view}_"
    if not name.startswith(prefix):
        return None
    stem = name[len(prefix):]
    for ext in (".mhd", ".raw", ".nii.gz", ".nii"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            return stem if stem in PARTS else None
    return None


def _image(folder: Path, pid: str, view: str, part: str, usable: set[str] | None = None) -> Path | None:
    """The image file of ``part`` (.mhd, .nii.gz or .nii), or None; with ``usable``, only a part in it."""
    if usable is not None and part not in usable:
        return None
    for ext in (".mhd", ".nii.gz", ".nii"):
        p = folder / f"{pid}_{view}_{part}{ext}"
        if p.exists():
            return p
    return None


def _broken_parts(own: list[Path], pid: str, view: str, root: Path) -> tuple[set[str], list[Rejection]]:
    """Parts of one view whose files cannot be read, each file rejected with the reason.

    A ``.mhd`` whose ``.raw`` is missing or short is rejected (with its ``.raw`` when present);
    a ``.raw`` without its ``.mhd`` is rejected. The other parts of the view are unaffected, so a
    broken sequence leaves the ED and ES images and their masks to be ingested.
    """
    broken: set[str] = set()
    rejections: list[Rejection] = []
    headers = {m.name[:-4]: m for m in own if m.name.endswith(".mhd")}
    for stem, mhd in sorted(headers.items()):
        problem = metaimage_problem(mhd)
        if problem is None:
            continue
        part = _part_of(mhd.name, pid, view)
        broken.add(part)
        rejections.append(Rejection(str(mhd.relative_to(root)), "", problem.reason, problem.message))
        raw = mhd.with_name(stem + ".raw")
        if raw in own:
            rejections.append(Rejection(str(raw.relative_to(root)), "", problem.reason,
                                        f"data file of {mhd.name}, which cannot be used: {problem.message}"))
    for m in own:
        if m.name.endswith(".raw") and m.name[:-4] not in headers:
            broken.add(_part_of(m.name, pid, view))
            rejections.append(Rejection(str(m.relative_to(root)), "", Reason.MISSING_COMPANION,
                                        f"{m.name}: its MetaImage header {m.name[:-4]}.mhd is missing"))
    return broken, rejections


def _usable(parts: set[str]) -> bool:
    """A recording needs a sequence, or both the ED and the ES image."""
    return bool({"sequence", "half_sequence"} & parts) or {"ED", "ES"} <= parts


def discover(source: dict[str, Any], files: list[Path], mapper: Callable) -> Discovery:
    root = Path(source["path"])
    by_patient, rejections, ancillary = by_patient_folder(files, root, PATIENT, "CAMUS")
    units, rows = [], {}
    for folder, members in sorted(by_patient.items()):
        pid = folder.name
        assigned: set[Path] = set()
        for view in VIEWS:
            own = [m for m in members if m.name == f"Info_{view}.cfg" or _part_of(m.name, pid, view)]
            if not own:
                continue
            assigned.update(own)
            broken, bad_files = _broken_parts(own, pid, view, root)
            rejections += bad_files
            rejected_now = {r.path for r in bad_files}
            rel_files = tuple(sorted(str(m.relative_to(root)) for m in own if str(m.relative_to(root)) not in rejected_now))
            parts = {_part_of(m.name, pid, view) for m in own if not m.name.endswith(".cfg")} - broken - {None}
            try:
                if not _usable(parts):
                    missing = sorted({"ED", "ES"} - parts)
                    # When broken files are what leaves the view unusable, the rest share their reason.
                    cause = bad_files[0] if bad_files else None
                    raise Reject(cause.reason if cause else "missing_companion",
                                 f"{pid} {view}: no usable sequence and no {' or '.join(missing)} image"
                                 + (f" ({cause.message})" if cause else ""))
                cfg_path = folder / f"Info_{view}.cfg"
                if not cfg_path.exists():
                    raise Reject("malformed_metadata", f"{pid} {view}: Info_{view}.cfg is missing")
                cfg = read_cfg(cfg_path)
                if need_int(cfg, "ED", f"{pid} {view}") == need_int(cfg, "ES", f"{pid} {view}"):
                    raise Reject("malformed_metadata", f"{pid} {view}: ED and ES are the same frame ({cfg['ED']})")
                if cfg.get("ImageQuality") and cfg["ImageQuality"] not in QUALITIES:
                    raise Reject("malformed_metadata", f"{pid} {view}: ImageQuality {cfg['ImageQuality']!r} not in {list(QUALITIES)}")
                sex = sex_code(cfg["Sex"]) if cfg.get("Sex") else None
                if cfg.get("Sex") and sex is None:
                    raise Reject("malformed_metadata", f"{pid} {view}: Sex {cfg['Sex']!r} is not F or M")
                age = opt_float(cfg, "Age", f"{pid} {view}")
            except Reject as exc:
                rejections += [Rejection(r, "", exc.reason, exc.message) for r in rel_files]
                continue
            patient_id = f"camus:{pid}"
            units.append(Unit(uid=f"{patient_id}:{view}", patient_id=patient_id, study_uid=patient_id, files=rel_files,
                              payload={"folder": str(folder), "view": view, "usable": sorted(parts)}))
            rows.setdefault(patient_id, {"source_id": patient_id, "sex": sex, "age": age})
        bad, extra = leftovers(members, assigned, root, pid)
        rejections += bad
        ancillary += extra
    clinical = pd.DataFrame(list(rows.values()), columns=["source_id", *CANONICAL]).set_index("source_id") if rows else None
    return Discovery(units, rejections, ancillary, clinical)


def _frame2d(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """A CAMUS single frame (stored as 1 x H x W) -> (H, W) and its (x, y) spacing."""
    arr, sp, _, _ = read_volume(path)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise Reject("inconsistent_series", f"{path.name}: expected one frame, got shape {arr.shape}")
    return arr, sp[:2]


def load(unit: Unit, source: dict[str, Any], key: bytes) -> Loaded:
    folder, view = Path(unit.payload["folder"]), unit.payload["view"]
    usable = set(unit.payload["usable"])
    pid = folder.name
    name = f"{pid} {view}"
    cfg = read_cfg(folder / f"Info_{view}.cfg")
    ed, es = need_int(cfg, "ED", name), need_int(cfg, "ES", name)
    seq_part = next((p for p in ("sequence", "half_sequence") if _image(folder, pid, view, p, usable)), None)
    if seq_part:
        seq, sp, _, _ = read_volume(_image(folder, pid, view, seq_part))
        if seq.ndim != 3:
            raise Reject("inconsistent_series", f"{name}: sequence has shape {seq.shape}")
        n = seq.shape[0]
        if "NbFrame" in cfg and need_int(cfg, "NbFrame", name) != n:
            raise Reject("frame_count_mismatch", f"{name}: sequence has {n} frames, NbFrame is {cfg['NbFrame']}")
        if ed > n or es > n:
            raise Reject("malformed_metadata", f"{name}: ED {ed} / ES {es} beyond the {n} frames")
        array, spacing, frames = seq, sp[:2], list(range(n))
    else:
        if cfg.get("NbFrame") and max(ed, es) > need_int(cfg, "NbFrame", name):
            raise Reject("malformed_metadata", f"{name}: ED {ed} / ES {es} beyond NbFrame {cfg['NbFrame']}")
        frames = sorted({ed - 1, es - 1})
        by_frame = {ed - 1: "ED", es - 1: "ES"}
        imgs = []
        for f in frames:
            path = _image(folder, pid, view, by_frame[f], usable)
            if path is None:
                raise Reject("missing_companion", f"{name}: {by_frame[f]} image is missing")
            imgs.append(_frame2d(path))
        if len({i[0].shape for i in imgs}) > 1:
            raise Reject("inconsistent_series", f"{name}: ED and ES images differ in shape {[i[0].shape for i in imgs]}")
        array, spacing = np.stack([i[0] for i in imgs]), imgs[0][1]
    if array.shape[0] == 0:
        raise Reject("no_frames", f"{name}: no frames")
    masks = np.full(array.shape, L.UNLABELLED, np.uint8)
    seq_gt = _image(folder, pid, view, f"{seq_part}_gt", usable) if seq_part else None
    if seq_gt is not None:
        m, *_ = read_volume(seq_gt)
        if m.shape != array.shape:
            raise Reject("inconsistent_series", f"{name}: sequence mask shape {m.shape} differs from {array.shape}")
        masks = remap(check_labels(m, CAMUS_LABELS, seq_gt.name), TO_CANONICAL)
    else:
        for f, part in ((ed - 1, "ED_gt"), (es - 1, "ES_gt")):
            path = _image(folder, pid, view, part, usable)
            if path is not None:
                m, _ = _frame2d(path)
                if m.shape != array.shape[1:]:
                    raise Reject("inconsistent_series", f"{path.name}: mask shape {m.shape} differs from {array.shape[1:]}")
                masks[frames.index(f)] = remap(check_labels(m, CAMUS_LABELS, path.name), TO_CANONICAL)
    rate = opt_float(cfg, "FrameRate", name)
    frame_time = 1000.0 / rate if rate and rate > 0 else None
    ef = opt_float(cfg, "LVef", name)
    ef = ef if ef is not None else opt_float(cfg, "EF", name)
    return Loaded(
        array=array.astype(np.uint8) if array.dtype == np.uint8 else array.astype(np.float32),
        spacing=(*spacing, frame_time or 1.0), modality="US", view=VIEWS[view], frame_time_ms=frame_time,
        ed_frame=frames.index(ed - 1), es_frame=frames.index(es - 1), source_frames=frames,
        masks=masks if (masks != L.UNLABELLED).any() else None,
        quality=cfg.get("ImageQuality") or None, ef_percent=ef,
    )
