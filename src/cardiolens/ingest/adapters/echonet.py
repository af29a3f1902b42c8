"""EchoNet-Dynamic (Ouyang et al., Nature 2020): ``FileList.csv`` + ``Videos/*.avi``.

One recording (and one patient: the dataset has one video per patient) per video. FileList
gives EF, FPS, NumberOfFrames, FrameHeight/Width and Split; the decoded frame count must equal
NumberOfFrames. ``VolumeTracings.csv`` (when present) gives, per video, two traced frames: the
one with the larger LV area is ED, the other ES; its LV tracing becomes the mask of that frame
(1 LV cavity, 255 elsewhere: only the LV was traced). EchoNet has no pixel spacing: unless
``options.pixel_spacing_mm`` is set, spacing columns are null and the image is in pixel units.
FileList rows without a video are counted (``notes``), not rejected: they are not files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens import privacy
from cardiolens.ingest.adapters.avi import read_avi
from cardiolens.ingest.adapters.sunnybrook import rasterise
from cardiolens.ingest.model import Discovery, Loaded, Reject, Rejection, Unit
from cardiolens.ingest.reasons import Reason

REQUIRED = ("FileName", "EF", "FPS", "NumberOfFrames", "FrameHeight", "FrameWidth", "Split")
TRACING_COLUMNS = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")
METADATA = ("FileList.csv", "VolumeTracings.csv")

log = logging.getLogger(__name__)


def _stem(name: str) -> str:
    return name[:-4] if name.lower().endswith(".avi") else name


def discover(source: dict[str, Any], files: list[Path], mapper: Callable) -> Discovery:
    root = Path(source["path"])
    filelist = root / "FileList.csv"
    rejections: list[Rejection] = []
    ancillary = [str(f.relative_to(root)) for f in files if f.parent == root and f.name in METADATA]
    rows: dict[str, dict[str, Any]] = {}
    problem = None
    notes: dict[str, Any] = {}
    if not filelist.exists():
        problem = "FileList.csv is missing"
    else:
        table, problem = _read_table(filelist, REQUIRED)
        if table is not None:
            for rec in table.to_dict("records"):
                rows[_stem(rec["FileName"].strip())] = rec
    tracings = None
    if (root / "VolumeTracings.csv").exists():
        tracings, unusable = _read_table(root / "VolumeTracings.csv", TRACING_COLUMNS)
        if tracings is None:  # the videos are still usable: without tracings, as without the file
            notes["volume_tracings_unusable"] = unusable
            log.warning("%s; the videos are ingested without tracings", unusable)
        else:
            tracings["stem"] = tracings["FileName"].astype(str).map(_stem)
    units = []
    for f in files:
        rel = str(f.relative_to(root))
        if rel in ancillary:
            continue
        if f.suffix.lower() != ".avi":
            rejections.append(Rejection(rel, "", Reason.UNSUPPORTED, "not an .avi video or EchoNet metadata file"))
            continue
        stem = _stem(f.name)
        if problem or stem not in rows:
            rejections.append(Rejection(rel, "", Reason.BAD_METADATA, problem or "video has no FileList.csv row"))
            continue
        uid = f"echonet:{stem}"
        trace = tracings[tracings["stem"] == stem].drop(columns="stem").to_dict("list") if tracings is not None else None
        units.append(Unit(uid=uid, patient_id=uid, study_uid=uid, files=(rel,), payload={"row": rows[stem], "trace": trace}))
    present = {_stem(Path(u.files[0]).name) for u in units}
    notes |= {"filelist_rows": len(rows), "filelist_rows_without_video": len(set(rows) - present)}
    return Discovery(units, rejections, ancillary, None, [str(filelist)] if filelist.exists() else [], notes)


def _read_table(path: Path, required: tuple[str, ...]) -> tuple[pd.DataFrame | None, str | None]:
    """(table of strings, None), or (None, the problem) for a file that is not a readable UTF-8 CSV
    with the ``required`` columns (an empty file, another encoding, a broken quote)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x})"
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        return None, f"{path.name} is not a readable CSV table ({type(exc).__name__})"
    missing = [c for c in required if c not in table.columns]
    if missing:
        return None, f"{path.name} lacks columns {missing}"
    return table, None


def _number(row: dict[str, Any], key: str, positive: bool = True) -> float:
    try:
        value = float(row[key])
    except (TypeError, ValueError):
        raise Reject("malformed_metadata", f"FileList {key} = {row.get(key)!r} is not a number") from None
    if not np.isfinite(value) or (positive and not value > 0):
        raise Reject("malformed_metadata", f"FileList {key} = {value} is not {'a positive' if positive else 'a finite'} number")
    return value


def tracing_masks(rows: pd.DataFrame, n: int, h: int, w: int) -> tuple[NDArray[np.uint8], dict[int, int]] | None:
    """Masks (n, h, w) of a video's VolumeTracings rows (text columns of ``TRACING_COLUMNS``):
    per traced frame, the first line is the long axis and the others' end points, (X1, Y1)
    down one side and (X2, Y2) back up the other, outline the LV cavity (1; 255 elsewhere).
    Also {frame: LV area in pixels}. None when a value is not a number or a frame's outline
    has fewer than three points."""
    try:
        rows = rows.astype({c: float for c in TRACING_COLUMNS[1:]})
    except ValueError:
        return None
    masks = np.full((n, h, w), L.UNLABELLED, np.uint8)
    areas: dict[int, int] = {}
    for frame, g in rows.groupby("Frame"):
        g = g.iloc[1:]
        poly = np.concatenate([g[["X1", "Y1"]].to_numpy(float), g[["X2", "Y2"]].to_numpy(float)[::-1]])
        if len(poly) < 3 or not np.isfinite(poly).all() or not float(frame).is_integer():
            return None
        if 0 <= int(frame) < n:
            inside = rasterise(poly, h, w)
            masks[int(frame)][inside] = L.LV_CAVITY
            areas[int(frame)] = int(inside.sum())
    return masks, areas


def load(unit: Unit, source: dict[str, Any], key: bytes) -> Loaded:
    row = unit.payload["row"]
    fps, n = _number(row, "FPS"), int(_number(row, "NumberOfFrames"))
    h, w = int(_number(row, "FrameHeight")), int(_number(row, "FrameWidth"))
    ef = _number(row, "EF", positive=False)
    video = read_avi(Path(source["path"]) / unit.files[0])
    frames = video.frames
    if frames.shape[0] != n:
        raise Reject("frame_count_mismatch", f"video has {frames.shape[0]} frames, FileList NumberOfFrames is {n}")
    if frames.shape[1:] != (h, w):
        raise Reject("inconsistent_series", f"frames are {frames.shape[1:]}, FileList says {(h, w)}")
    sp = (source.get("options") or {}).get("pixel_spacing_mm")
    ft = 1000.0 / fps
    ed = es = None
    masks = None
    trace = unit.payload["trace"]
    if trace and len(trace.get("Frame", [])):
        traced = tracing_masks(pd.DataFrame(trace), n, h, w)
        if traced is None:  # a damaged tracing costs the video its masks, not the video
            log.warning("the VolumeTracings.csv rows of video %s are not polygons of numbers: it keeps no mask",
                        privacy.path_key(key, unit.files[0]))
        else:
            masks, areas = traced
            if len(areas) == 2:
                ed, es = sorted(areas, key=lambda f: -areas[f])
    return Loaded(
        array=frames, spacing=(float(sp) if sp else 1.0, float(sp) if sp else 1.0, ft), modality="US", view="A4C",
        spacing_known=bool(sp), frame_time_ms=ft, ed_frame=ed, es_frame=es, masks=masks,
        ef_percent=ef, split=str(row["Split"]).strip().upper() or None,
    )
