"""Applying the fitted models: predicted masks, ED/ES and QC for the recordings that need them.

Which recordings get predicted masks (``segment.masks``):

- ``expert`` (default): those a model covers that came without masks. Expert masks are never
  overwritten. The masks come from all of the model's folds, averaged (an ensemble).
- ``predicted``: every recording a model covers, also those with expert masks (to validate a
  study on predicted anatomy: the expert masks then serve only to train and evaluate). A patient
  held out by fold k gets fold k's model, which never saw it (cross-fitting; needs ``kfold``).

From each predicted mask sequence: the LV area (volume) curve, ED and ES where the source gave
none (largest and smallest LV area per cycle, :mod:`cardiolens.segment.cycle`), the cycle
boundaries where there is no ECG, and quality control (:mod:`cardiolens.segment.qc`). The
septal contour, quality regions, motion points and heart ROI are derived from the masks by the
later stages, as for expert masks.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cardiolens.segment import labels as SL
from cardiolens.segment.cycle import Phases, cardiac_phases, lv_area_curve
from cardiolens.segment.frames import read_volume
from cardiolens.segment.infer import segment_volume
from cardiolens.segment.qc import QCResult, mask_qc

log = logging.getLogger(__name__)


def load_models(model_dir: Path, model: dict[str, Any]) -> dict[int, torch.nn.Module]:
    """Fold -> network, from ``fold<k>/model.pt`` under ``model_dir`` (empty when none was trained)."""
    from cardiolens.segment.module import make_unet

    nets = {}
    for path in sorted(model_dir.glob("fold*/model.pt")):
        net = make_unet(len(model["classes"]), model["train"]["channels"], model["train"]["num_res_units"])
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        nets[int(path.parent.name[4:])] = net.eval().to(inference_device(model["train"]))
    return nets


def inference_device(train: dict[str, Any]) -> str:
    """'cuda' when the model's training would use a GPU (accelerator gpu, or auto with one present)."""
    accelerator = train.get("accelerator") or "auto"
    return "cuda" if accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available()) else "cpu"


def nets_for(row: dict[str, Any], nets: dict[int, torch.nn.Module], folds: pd.DataFrame,
             mode: str) -> tuple[list[torch.nn.Module], str]:
    """The networks that segment ``row`` and how they were chosen (see the module docstring)."""
    held = folds[(folds["patient_key"] == row["patient_key"]) & (folds["role"] == "test")]["fold"].tolist()
    if mode == "predicted" and held and int(held[0]) in nets:
        return [nets[int(held[0])]], f"fold{int(held[0])}"
    if mode == "predicted" and row["patient_key"] in set(folds["patient_key"]):
        raise ValueError("masks: predicted needs every training patient held out once (segment.split.scheme kfold)")
    return [nets[k] for k in sorted(nets)], "ensemble" if len(nets) > 1 else f"fold{next(iter(nets))}"


def adjacent_frames(source_frames: Any, n_frames: int) -> np.ndarray | None:
    """(n_frames - 1,) whether consecutive canonical frames are consecutive frames of the source,
    from the row's ``source_frames`` (the source frame each canonical frame came from; ACDC keeps
    ED and ES only); None (all adjacent) when the row does not say, or gives a number of frames
    other than the canonical image's (ingest writes one per stored frame)."""
    if source_frames is None or len(source_frames) != n_frames:
        return None
    return np.diff(np.asarray(source_frames, dtype=np.int64)) == 1


def needs_prediction(row: dict[str, Any], mode: str) -> bool:
    return mode == "predicted" or not row.get("mask_path")


def _spacing(row: dict[str, Any], n_slices: int) -> tuple[float, ...]:
    """ITK-order spacing for the area curve (1 where the source has none: areas in pixels)."""
    def f(v):
        return 1.0 if v is None or pd.isna(v) else float(v)
    sp = (f(row["spacing_x_mm"]), f(row["spacing_y_mm"]))
    return sp + (f(row["spacing_z_mm"]),) if n_slices > 1 else sp


def segment_recording(row: dict[str, Any], nets: list[torch.nn.Module], model: dict[str, Any],
                      qc: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any], np.ndarray, tuple[Phases, QCResult]]:
    """Predicted canonical masks (T, S, H, W), the recordings-row updates, the LV curve, and its
    phases and quality control (``qc``: thresholds of :func:`cardiolens.segment.qc.mask_qc`, judged
    on the raw arg-max, before the largest components are kept)."""
    v = read_volume(row, with_mask=False)
    codes = SL.class_codes(model["classes"])
    masks, raw = segment_volume(nets, v.image, v.spacing_yx, codes, tuple(model["size"]), model["spacing_mm"],
                                model["keep_largest"])
    n_s = masks.shape[1]
    lv_masks = masks[:, 0] if n_s == 1 else masks
    spacing = _spacing(row, n_s)
    area = lv_area_curve(lv_masks, spacing)
    frame_ms = None if row["frame_time_ms"] is None or pd.isna(row["frame_time_ms"]) else float(row["frame_time_ms"])
    peaks = [int(p) for p in row["r_peak_frames"]]
    phases = cardiac_phases(area, frame_ms, peaks)
    lv_raw = SL.to_codes(raw, codes)
    result = mask_qc(lv_raw[:, 0] if n_s == 1 else lv_raw, spacing, frame_ms, **qc,
                     adjacent=adjacent_frames(row.get("source_frames"), len(masks)))
    update: dict[str, Any] = {"mask_source": "predicted", "qc_pass": result.passed,
                              "qc_reasons": json.dumps(list(result.codes)) if result.failures else None}
    has_ed = row["ed_frame"] is not None and not pd.isna(row["ed_frame"])
    if not has_ed and phases.ed:
        update.update(ed_frame=int(phases.ed[0]), es_frame=int(phases.es[0]) if phases.es else None,
                      ed_es_source="lv_area_curve")
    if len(peaks) < 2 and len(phases.ed) >= 2:
        update["cycle_frames"] = [int(e) for e in phases.ed]
    return masks, update, area, (phases, result)
