"""The prepare stage for one study: recordings in, model inputs + ROIs in shards, samples table out.

Arrays of one study share one shape and are written in shards of ``shard_size`` samples
(``arrays-NNN.npy`` float16 of shape (N, *sample_shape), ``rois-NNN.npy`` uint8 bitmasks of the
same spatial shape), so training memory-maps a few large files instead of opening one file per
sample. ROI bits (:data:`ROI_BITS`) let one uint8 hold every region the attribution stage uses.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cardiolens import labels as L

log = logging.getLogger(__name__)

ROI_BITS = {
    "heart": 0, "lv": 1, "myocardium": 2, "septum": 3, "event_window": 4, "base": 5, "apex": 6, "annotated": 7,
}


def roi_bitmask(masks: NDArray | None, shape: tuple[int, ...], window: NDArray[np.bool_] | None = None,
                regions: NDArray | None = None) -> NDArray[np.uint8]:
    """Bitmask ROIs (see ROI_BITS) from canonical label masks resampled to the sample grid."""
    out = np.zeros(shape, np.uint8)
    if masks is not None:
        annotated = masks != L.UNLABELLED
        out |= np.where(annotated, 1 << ROI_BITS["annotated"], 0).astype(np.uint8)
        out |= np.where(np.isin(masks, (L.LV_CAVITY, L.MYOCARDIUM, L.SEPTUM, L.RV_CAVITY)), 1 << ROI_BITS["heart"], 0).astype(np.uint8)
        out |= np.where(masks == L.LV_CAVITY, 1 << ROI_BITS["lv"], 0).astype(np.uint8)
        out |= np.where(np.isin(masks, (L.MYOCARDIUM, L.SEPTUM)), 1 << ROI_BITS["myocardium"], 0).astype(np.uint8)
        out |= np.where(masks == L.SEPTUM, 1 << ROI_BITS["septum"], 0).astype(np.uint8)
    if window is not None:
        out |= np.where(np.broadcast_to(window, shape), 1 << ROI_BITS["event_window"], 0).astype(np.uint8)
    if regions is not None:
        out |= np.where(regions == 1, 1 << ROI_BITS["base"], 0).astype(np.uint8)
        out |= np.where(regions == 3, 1 << ROI_BITS["apex"], 0).astype(np.uint8)
    return out


def _read(path: str | None):
    import itk

    if not path:
        return None, None
    img = itk.imread(path)
    return img, itk.array_from_image(img)


def _mmode_samples(row: dict[str, Any], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    from cardiolens.prepare.landmarks import septal_contour_from_mask
    from cardiolens.prepare.mmode import as_float, mmode, resize, septal_line

    image, vol = _read(row["image_path"])
    image = as_float(image)
    mask_img, masks = _read(row["mask_path"])
    if vol.ndim != 3:
        raise ValueError("M-mode needs a 2D+t recording")
    sp = tuple(float(s) for s in image.GetSpacing())  # x, y, t
    peaks = list(row["r_peak_frames"])
    cycles = list(row.get("cycle_frames") if row.get("cycle_frames") is not None else [])
    if len(peaks) >= 2:
        f0, f1, cycle = peaks[0], peaks[1], "r_peak_to_r_peak"
    elif len(cycles) >= 2:  # no ECG: ED to ED of the segmented LV area curve (segment stage)
        f0, f1, cycle = cycles[0], cycles[1], "lv_curve_ed_to_ed"
    else:
        f0, f1, cycle = 0, vol.shape[0], "whole_recording"
    ed = f0 if row["ed_frame"] is None or pd.isna(row["ed_frame"]) else int(row["ed_frame"])
    truth = json.loads(Path(row["truth_path"]).read_text()) if row["truth_path"] else {}
    # Predicted masks stand for anatomy nobody annotated: the contour then comes from them, even
    # where a synthetic truth has one (segment.masks: predicted validates exactly that).
    if "septal_contour_ed" in truth and row.get("mask_source") != "predicted":
        contour = np.column_stack([truth["septal_contour_ed"]["x_mm"], truth["septal_contour_ed"]["y_mm"]])
        contour_source = "annotation"
    elif masks is not None:
        contour = septal_contour_from_mask(masks[ed], (sp[0], sp[1]), side=cfg["septum_side"])
        contour_source = "mask_heuristic"
    else:
        raise ValueError("no septal contour and no mask to derive one")
    if masks is not None and (masks[ed] == L.LV_CAVITY).any():
        r, c = np.nonzero(masks[ed] == L.LV_CAVITY)
        lv = (float(c.mean() * sp[0]), float(r.mean() * sp[1]))
    else:
        raise ValueError("no LV cavity mask at ED to orient the line")
    t0, t1 = f0 * sp[2], f1 * sp[2]
    n_line, n_time = cfg["samples"]
    events = truth.get("event_times_ms", {})
    out = []
    k = cfg["augment_offsets"]
    for offset in range(-k, k + 1):
        line = septal_line(contour, lv, cfg["line_length_mm"], tuple(cfg["tangent_points"]), offset)
        mm, (ds, dt) = mmode(image, line, t0, t1, n_line, n_time)
        mm_mask = mmode(mask_img, line, t0, t1, n_line, n_time, label=True)[0] if mask_img is not None else None
        times = t0 + np.arange(n_time) * dt
        window = None
        if "mvc" in events and "avo" in events:
            window = ((times >= events["mvc"] - sp[2] / 2) & (times <= events["avo"] + sp[2] / 2))[None, :]
        for variant in cfg["variants"]:
            arr, m, win, spacing = mm, mm_mask, window, (ds, dt)
            if variant == "cropped":  # septal half of the line (RV end to the contour), first half of the cycle
                arr = arr[: n_line // 2, : n_time // 2]
                m = m[: n_line // 2, : n_time // 2] if m is not None else None
                win = win[:, : n_time // 2] if win is not None else None
            size = tuple(cfg["size"])
            small, new_sp = resize(arr, spacing, size)
            small_m = resize(m, spacing, size, label=True)[0] if m is not None else None
            small_w = None
            if win is not None:
                small_w = resize(np.repeat(win.astype(np.uint8), arr.shape[0], axis=0), spacing, size, label=True)[0].astype(bool)
            lo, hi = np.percentile(small, (1, 99)) if small.size else (0.0, 1.0)
            norm = np.clip((small - lo) / max(hi - lo, 1e-6), 0, 1)
            out.append({
                "array": norm[None].astype(np.float32), "roi": roi_bitmask(small_m, small.shape, small_w)[None],
                "variant": variant, "offset": offset, "slice_index": None,
                "spacing": [float(new_sp[0]), float(new_sp[1])], "axes": "channel,line_mm,time_ms",
                "params": {"line_start_mm": line.start, "line_direction": line.direction, "line_length_mm": line.length_mm,
                           "time_window_ms": [t0, t1], "cycle": cycle, "contour_source": contour_source,
                           "tangent_points": cfg["tangent_points"], "itk_samples": [n_line, n_time],
                           "intensity_percentiles": [1, 99], "crop": variant == "cropped"},
            })
    return out


def recording_scale(masks: np.ndarray | None, ed: int, es: int, spacing: tuple[float, float],
                    cfg: dict[str, Any]) -> tuple[float, float | None, bool]:
    """(pixel_mm, heart extent in mm or None, clamped) of a (T, S, H, W) recording's frame crops.

    ``crop: lv``, or no heart in the masks: ``pixel_mm`` as configured. ``crop: heart``: the
    largest side of the heart's box over the slices (ED and ES together) spans ``heart_fill`` of
    ``crop_px``, the pixel size clamped to ``pixel_mm``/4 .. 4 x ``pixel_mm``.
    """
    from cardiolens.prepare.frames import heart_extent_mm

    if cfg["crop"] != "heart" or masks is None:
        return cfg["pixel_mm"], None, False
    extent = heart_extent_mm([masks[[ed, es], s] for s in range(masks.shape[1])], spacing)
    if extent is None:
        return cfg["pixel_mm"], None, False
    scale = extent / (cfg["heart_fill"] * cfg["crop_px"])
    bounded = min(max(scale, cfg["pixel_mm"] / 4), cfg["pixel_mm"] * 4)
    return bounded, extent, bounded != scale


def _frame_samples(row: dict[str, Any], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    from cardiolens.prepare.frames import ed_es_pair, select_ed_es

    image, vol = _read(row["image_path"])
    _, masks = _read(row["mask_path"])
    sp = tuple(float(s) for s in image.GetSpacing())
    ed_m = None if row["ed_frame"] is None or pd.isna(row["ed_frame"]) else int(row["ed_frame"])
    es_m = None if row["es_frame"] is None or pd.isna(row["es_frame"]) else int(row["es_frame"])
    ed, es, method = select_ed_es(ed_m, es_m, masks, vol)
    if vol.ndim == 3:  # 2D+t -> one "slice"
        vol, masks = vol[:, None], (masks[:, None] if masks is not None else None)
    pixel_mm, extent, clamped = recording_scale(masks, ed, es, (sp[1], sp[0]), cfg)
    out = []
    for s in range(vol.shape[1]):
        ed_mask = masks[ed, s] if masks is not None and (masks[ed, s] != L.UNLABELLED).any() else None
        es_mask = masks[es, s] if masks is not None and (masks[es, s] != L.UNLABELLED).any() else None
        if masks is not None and (ed_mask is None or not (ed_mask == L.LV_CAVITY).any()):
            continue  # slices outside the LV (above the base, below the apex) carry no LV to crop on
        pair, pair_masks, info = ed_es_pair(vol[ed, s], vol[es, s], ed_mask, es_mask, (sp[1], sp[0]), pixel_mm,
                                            cfg["crop_px"], tuple(cfg["window_percentiles"]), cfg["crop"], cfg["background_mm"])
        out.append({
            "array": pair, "roi": roi_bitmask(pair_masks, pair.shape) if pair_masks is not None else np.zeros(pair.shape, np.uint8),
            "variant": "ed_es", "offset": 0, "slice_index": s,
            "spacing": [1.0, pixel_mm, pixel_mm], "axes": "phase(ED,ES),y_mm,x_mm",
            "params": {"ed_frame": ed, "es_frame": es, "ed_es_method": method, "pixel_mm": pixel_mm,
                       "crop_px": cfg["crop_px"], "window_percentiles": cfg["window_percentiles"], "crop": cfg["crop"],
                       "heart_extent_mm": extent, "scale_clamped": clamped, "background_mm": cfg["background_mm"], **info},
        })
    return out


def _clip_samples(row: dict[str, Any], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    from cardiolens.prepare.clips import clip, cycle_window

    image, vol = _read(row["image_path"])
    _, masks = _read(row["mask_path"])
    if vol.ndim != 3:
        raise ValueError("a clip needs a 2D+t recording")
    sp = tuple(float(s) for s in image.GetSpacing())
    ed = None if row["ed_frame"] is None or pd.isna(row["ed_frame"]) else int(row["ed_frame"])
    window = cycle_window(list(row["r_peak_frames"]), ed, vol.shape[0])
    shape = (cfg["frames"], *cfg["size"])
    arr, m, regions, new_sp = clip(vol, masks, (sp[2], sp[1], sp[0]), window[:2], shape)
    return [{
        "array": arr, "roi": roi_bitmask(m, arr.shape, regions=regions), "variant": "cycle", "offset": 0,
        "slice_index": None, "spacing": [float(s) for s in new_sp], "axes": "t_ms,y_mm,x_mm",
        "params": {"frames": window[:2], "cycle": window[2], "size": shape},
    }]


BUILDERS = {"mmode": _mmode_samples, "frames": _frame_samples, "clip": _clip_samples}


def regional_targets(row: dict[str, Any], names: list[str]) -> list[float]:
    """Per-region quality grades (1 poor .. 3 good) of ``names`` from the recording's ground truth.

    Raises ValueError (the recording is then skipped with this reason) when the recording has no
    ground truth or its truth lacks a region's grade.
    """
    if not row.get("truth_path"):
        raise ValueError("no ground truth with regional quality grades (targets need them)")
    quality = json.loads(Path(row["truth_path"]).read_text()).get("quality") or {}
    missing = [n for n in names if n not in quality]
    if missing:
        raise ValueError(f"ground truth has no quality grade for region(s) {missing}")
    return [float(quality[n]) for n in names]


def _job(args: tuple[dict[str, Any], str, dict[str, Any]]) -> tuple[str, list[dict[str, Any]] | str]:
    row, representation, cfg = args
    try:
        return row["recording_id"], BUILDERS[representation](row, cfg)
    except (ValueError, RuntimeError) as exc:
        return row["recording_id"], f"{type(exc).__name__}: {exc}"


#: A classification label without ``classes`` that has at least this many values, more than one
#: per two patients, is taken for a measurement or identifier (:func:`study_problem`).
MANY_CLASSES = 10


def case_variants(values: pd.Series, classes: list[str] | None) -> list[list[str]]:
    """Groups of label values (and ``classes``) that are one value written differently (``Yes``,
    ``yes``, ``YES ``): each group sorted, only groups of two or more spellings with at least one
    value actually found; groups sorted."""
    spellings = set(values) | set(classes or [])
    groups: dict[str, set[str]] = {}
    for v in spellings:
        groups.setdefault(" ".join(str(v).split()).casefold(), set()).add(str(v))
    found = set(values)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1 and g & found)


def prepare_study(recordings: pd.DataFrame, study: str, cfg: dict[str, Any], out_dir: str | os.PathLike[str],
                  shard_size: int = 256, workers: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build every sample of ``study`` (validated ``studies.<name>`` config); returns (samples, skipped).

    The study's selection (``sources``, ``views``, ``where``; :mod:`cardiolens.prepare.select`)
    is applied first and logged filter by filter; then the label, ``classes`` and ``modality``.
    """
    from cardiolens.prepare.select import select_recordings, with_label

    label = cfg["label"]
    rep = cfg["representation"]
    params = cfg[rep]
    recordings, kept = select_recordings(with_label(recordings, label), cfg)
    for description, before, after in kept:
        log.info("prepare %s: %s kept %d of %d recordings", study, description, after, before)
    if label not in recordings:
        recordings = recordings.assign(**{label: None})
    labelled = recordings[label].notna()
    # A `cardiolens predict` run (inference) scores recordings without a label too: new recordings
    # usually have none. Training needs the label.
    eligible = recordings if cfg.get("inference") else recordings[labelled]
    of_modality = recordings["modality"] == cfg["modality"] if cfg.get("modality") else pd.Series(True, index=recordings.index)
    if cfg.get("inference") and (~of_modality).any():
        log.info("prepare %s: %d recordings of another modality than %s left out", study, int((~of_modality).sum()),
                 cfg["modality"])
    if cfg.get("inference") and (~labelled & of_modality).any():
        log.info("prepare %s: %d recordings have no %s label: scored, not judged", study, int((~labelled & of_modality).sum()),
                 label)
    unlabelled = recordings[~labelled]
    if not cfg.get("inference") and cfg.get("modality"):
        unlabelled = unlabelled[unlabelled["modality"] == cfg["modality"]]
    if not cfg.get("inference") and len(unlabelled):  # said, never silently lost
        log.info("prepare %s: %d %srecordings of %d patients have no %s value, left out", study, len(unlabelled),
                 f"{cfg['modality']} " if cfg.get("modality") else "", unlabelled["patient_key"].nunique(), label)
    judged = eligible[eligible["modality"] == cfg["modality"]] if cfg.get("modality") else eligible
    for values in case_variants(judged[label].dropna().astype(str), cfg.get("classes")):
        log.warning("prepare %s: values %s of %s differ only in case or spaces%s; the table's values are used as written, "
                    "so write them alike", study, values, label,
                    f" from classes {list(cfg['classes'])}" if cfg.get("classes") else ", and count as different classes")
    if cfg.get("classes"):
        other = eligible[eligible[label].notna() & ~eligible[label].isin(cfg["classes"])]
        if len(other):  # values the study does not list: said, never silently lost
            log.info("prepare %s: %d recordings of %d patients have a value of %s outside classes %s, left out: %s", study,
                     len(other), other["patient_key"].nunique(), label, list(cfg["classes"]), label_values(other, label))
        eligible = eligible[eligible[label].isin(cfg["classes"]) | (eligible[label].isna() & bool(cfg.get("inference")))]
    if cfg.get("modality"):
        eligible = eligible[eligible["modality"] == cfg["modality"]]
    if "qc_pass" in eligible and not cfg.get("keep_failed_qc"):
        failed = eligible["qc_pass"].eq(False)
        if failed.any():  # predicted masks that failed the segment stage's QC: never used silently
            log.info("prepare %s: %d recordings left out: their predicted masks failed quality control "
                     "(results/segment/qc.parquet; segment.qc.exclude: false keeps them)", study, int(failed.sum()))
            eligible = eligible[~failed]
    rows = eligible.sort_values("recording_id").to_dict("records")
    log.info("prepare %s: %d recordings %s, representation %s", study, len(rows),
             f"to score (label {label} or none)" if cfg.get("inference") else f"with a value of {label}", rep)
    jobs = [(r, rep, params) for r in rows]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_job, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        results = [_job(j) for j in jobs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = {r["recording_id"]: r for r in rows}
    samples, skipped, buffer_a, buffer_r = [], [], [], []
    shard = 0

    def flush() -> None:
        nonlocal shard, buffer_a, buffer_r
        if not buffer_a:
            return
        for name, buf, dtype in (("arrays", buffer_a, np.float16), ("rois", buffer_r, np.uint8)):
            path = out_dir / f"{name}-{shard:03d}.npy"
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, np.stack(buf).astype(dtype))
            os.replace(tmp, path)
        shard += 1
        buffer_a, buffer_r = [], []

    for rid, res in results:
        rec = by_id[rid]
        targets = None
        if not isinstance(res, str) and cfg.get("targets"):
            try:
                targets = regional_targets(rec, list(cfg["targets"]))
            except ValueError as exc:
                res = f"ValueError: {exc}"
        if isinstance(res, str):
            skipped.append({"recording_id": rid, "reason": res})
            continue
        for s in res:
            if buffer_a and buffer_a[0].shape != s["array"].shape:
                raise RuntimeError(f"study {study}: sample shapes differ {buffer_a[0].shape} vs {s['array'].shape}")
            sid = f"{rid}-{rep}-{s['variant']}-{'' if s['slice_index'] is None else s['slice_index']}-{s['offset']:+d}"
            samples.append({
                "sample_id": sid, "study": study, "recording_id": rid, "patient_key": rec["patient_key"],
                "source": rec["source"], "label": None if pd.isna(rec[label]) else rec[label], "representation": rep, "variant": s["variant"],
                "offset": int(s["offset"]), "slice_index": s["slice_index"],
                "array_path": str(out_dir / f"arrays-{shard:03d}.npy"), "array_index": len(buffer_a),
                "roi_path": str(out_dir / f"rois-{shard:03d}.npy"), "shape": list(s["array"].shape),
                "axes": s["axes"], "spacing": s["spacing"], "params": json.dumps(s["params"], sort_keys=True, default=float),
                "targets": targets,
            })
            buffer_a.append(s["array"])
            buffer_r.append(s["roi"])
            if len(buffer_a) >= shard_size:
                flush()
    flush()
    log.info("prepare %s: %d samples in %d shard(s), %d recordings skipped", study, len(samples), shard, len(skipped))
    return pd.DataFrame(samples), pd.DataFrame(skipped, columns=["recording_id", "reason"])


def label_values(recordings: pd.DataFrame, label: str) -> str:
    """How many recordings carry each value of ``label`` (for messages), e.g. ``'flash' 12, 'none' 30,
    missing 14`` or ``no recording has a 'x' column``."""
    from cardiolens.prepare.select import with_label

    recordings = with_label(recordings, label)
    if label not in recordings.columns:
        return f"no recording has a {label!r} column"
    counts = recordings[label].astype(object).where(recordings[label].notna(), None).value_counts(dropna=False)
    parts = [f"{'missing' if v is None else repr(v)} {n}" for v, n in sorted(counts.items(), key=lambda kv: (kv[0] is None, str(kv[0])))]
    return ", ".join(parts) if parts else "no recording at all"


def study_problem(recordings: pd.DataFrame, samples: pd.DataFrame, skipped: pd.DataFrame, study: str,
                  cfg: dict[str, Any]) -> str | None:
    """Why ``study`` cannot be trained from what ``prepare_study`` built, or None.

    A study needs samples; a classification study (no ``targets``) being trained (no
    ``inference``: `cardiolens predict` scores any subset of a trained model's classes) needs a sample of every
    configured class (``classes``), or at least two classes when none are configured. The
    message names the study, its label and the label values found among the recordings.
    """
    from cardiolens.prepare.select import describe_selection

    label = cfg["label"]
    found = label_values(recordings, label)
    where = f"label {label!r}" + (f", modality {cfg['modality']}" if cfg.get("modality") else "") \
        + (f", classes {list(cfg['classes'])}" if cfg.get("classes") else "") + describe_selection(cfg)
    if not len(samples):
        reasons = ""
        if len(skipped):
            # the reason's text, not the exception's class: "no septal contour and no mask to derive one: 14"
            top = skipped["reason"].astype(str).str.split(": ", n=1).str[-1].value_counts().head(3)
            reasons = f"; {len(skipped)} eligible recordings were skipped ({'; '.join(f'{k}: {v}' for k, v in top.items())})"
        return f"study {study!r} receives no sample ({where}); values of {label!r} in the recordings: {found}{reasons}"
    if cfg.get("targets") or cfg.get("inference"):
        return None
    have = set(samples["label"].astype(str))
    if cfg.get("classes"):
        missing = [c for c in cfg["classes"] if str(c) not in have]
        if missing:
            return (f"study {study!r} has no sample of class(es) {missing} ({where}); "
                    f"values of {label!r} in the recordings: {found}")
    elif len(have) < 2:
        return (f"study {study!r} has samples of one class only, {sorted(have)} ({where}): a classifier needs two; "
                f"values of {label!r} in the recordings: {found}")
    elif len(have) >= MANY_CLASSES and len(have) > samples["patient_key"].nunique() / 2:
        return (f"study {study!r}: its label {label!r} has {len(have)} different values among "
                f"{samples['patient_key'].nunique()} patients ({where}), more than one per two patients: a measurement or an "
                f"identifier, not classes. A study classifies; list the classes it compares in "
                f"'studies.{study}.classes', or write the groups into a column of the clinical table (e.g. LV mass "
                f"above or below a threshold)")
    return None
