"""Fitting one segmentation model: its recordings, its patient split, its folds, its held-out metrics.

A model (``segment.models.<name>``) covers the recordings of one modality and a few views. It is
trained on those that carry masks of every one of its structures (a source whose masks lack one,
e.g. Sunnybrook without the RV, would teach the model that structure is background: it is left
out of training, and said so). Patients are split with the split stage's rules
(:mod:`cardiolens.split.assign`), stratified by source: ``holdout`` trains one model and keeps
``test_fraction`` of the patients for the held-out metrics; ``kfold`` trains ``k`` models, each
patient held out by exactly one (cross-fitting: with ``segment.masks: predicted`` every patient's
masks come from the model that did not see it); ``predefined`` reads the roles from a recordings
column (e.g. a clinical table's column naming each patient train or test).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cardiolens.segment import evaluate as E
from cardiolens.segment import grid as G
from cardiolens.segment import labels as SL
from cardiolens.segment.frames import Volume, phase_of, pick_frames, read_volume, training_frames
from cardiolens.segment.infer import segment_volume
from cardiolens.segment.train import train_model

log = logging.getLogger(__name__)


def family(recordings: pd.DataFrame, model: dict[str, Any]) -> pd.DataFrame:
    """The recordings a model covers: its modality and views."""
    return recordings[(recordings["modality"] == model["modality"]) & recordings["view"].isin(model["views"])]


def training_pool(recordings: pd.DataFrame, model: dict[str, Any]) -> tuple[list[Volume], list[dict[str, str]]]:
    """Volumes with masks usable for training, and the recordings left out with the reason."""
    codes = SL.class_codes(model["classes"])
    pool, left = [], []
    for row in family(recordings, model).sort_values("recording_id").to_dict("records"):
        if not row.get("mask_path"):
            continue
        v = read_volume(row)
        missing = SL.has_every_class(v.mask, codes)
        if missing:
            left.append({"recording_id": row["recording_id"], "reason": f"its masks have no {', '.join(missing)}"})
            continue
        pool.append(v)
    return pool, left


def patient_folds(volumes: list[Volume], split: dict[str, Any], seed: int) -> pd.DataFrame:
    """(patient_key, fold, role) for every fold, by the split stage's rules (see the module docstring)."""
    from cardiolens.prepare.select import with_label
    from cardiolens.split import assign

    rows = pd.DataFrame([v.row for v in volumes])
    patients = rows.groupby("patient_key", as_index=False).first()
    patients = patients.assign(stratum=patients["source"].astype(str))  # stratified by source
    scheme = split["scheme"]
    if scheme == "kfold":
        return assign.kfold(patients, split["k"], split["val_fraction"], seed)[["patient_key", "fold", "role"]]
    if scheme == "holdout":
        return assign.holdout(patients, split["test_fraction"], split["val_fraction"], seed)[["patient_key", "fold", "role"]]
    column = split["column"]
    labelled = with_label(rows, column)
    if column not in labelled:
        raise ValueError(f"segment split: scheme predefined needs the recordings column {column!r}, which no recording has")
    labelled = labelled.groupby("patient_key", as_index=False).first()
    roles = assign.predefined(labelled.assign(predefined=labelled[column]), column)
    train = roles["role"] == "train"
    if not (roles["role"] == "val").any() and split["val_fraction"] > 0 and train.sum() > 1:
        inner = assign.holdout(patients[patients["patient_key"].isin(roles.loc[train, "patient_key"])], 0.0,
                               split["val_fraction"], seed)
        roles = pd.concat([roles[~train], inner], ignore_index=True)
    return roles[["patient_key", "fold", "role"]].sort_values("patient_key", kind="stable").reset_index(drop=True)


def evaluation_rows(net: torch.nn.Module, volumes: list[Volume], model: dict[str, Any], name: str, fold: int,
                    per_recording: int) -> list[dict[str, Any]]:
    """Dice and HD95 per structure on annotated frames of held-out ``volumes`` (source grid)."""
    codes = SL.class_codes(model["classes"])
    rows = []
    for v in volumes:
        t_ok = np.array([SL.annotated_frames(v.mask[t]).all() for t in range(len(v.mask))])
        times = pick_frames(t_ok, per_recording, (v.row.get("ed_frame"), v.row.get("es_frame")))
        if not times:
            continue
        pred, _ = segment_volume([net], v.image[times], v.spacing_yx, codes, tuple(model["size"]), model["spacing_mm"],
                                 area=G.imaging_area(v.image))
        for i, t in enumerate(times):
            for s in range(v.image.shape[1]):
                for r in E.frame_metrics(pred[i, s], v.mask[t, s], codes, v.spacing_yx):
                    rows.append({"model": name, "fold": fold, "patient_key": v.row["patient_key"],
                                 "recording_id": v.row["recording_id"], "source": v.row["source"], "frame": t,
                                 "slice": s, "phase": phase_of(t, v.row), **r})
    return rows


def fit_model(recordings: pd.DataFrame, name: str, model: dict[str, Any], cfg: dict[str, Any], seed: int,
              out_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Train every fold of model ``name``; writes ``fold<k>/model.pt`` under ``out_dir``.

    Returns tables: folds (patient_key, fold, role), metrics (one row per held-out frame and
    structure), history, left_out (recordings not used for training, with the reason)."""
    out = Path(out_dir)
    pool, left = training_pool(recordings, model)
    empty = {"folds": pd.DataFrame(columns=["patient_key", "fold", "role"]), "metrics": pd.DataFrame(),
             "history": pd.DataFrame(), "left_out": pd.DataFrame(left, columns=["recording_id", "reason"])}
    if not pool:
        log.info("segment %s: no recording with masks of %s: nothing to train (its recordings keep no masks)",
                 name, ", ".join(model["classes"]))
        return empty
    folds = patient_folds(pool, cfg["split"], seed)
    codes = SL.class_codes(model["classes"])
    metrics, history = [], []
    for k in sorted(folds["fold"].unique()):
        roles = folds[folds["fold"] == k].set_index("patient_key")["role"]
        train_vols = [v for v in pool if roles.get(v.row["patient_key"]) in ("train", "val")]
        images, labels, meta = training_frames(train_vols, codes, tuple(model["size"]), model["spacing_mm"],
                                               cfg["frames_per_recording"])
        frame_roles = meta["patient_key"].map(roles).to_numpy()
        log.info("segment %s fold %d: %d training frames of %d patients, %d validation frames; %d held-out patients",
                 name, k, int((frame_roles == "train").sum()), int((roles == "train").sum()),
                 int((frame_roles == "val").sum()), int((roles == "test").sum()))
        net, hist = train_model(images, labels, frame_roles, len(codes), cfg["train"], seed + int(k), out / f"fold{k}",
                                groups=meta["source"].astype(str).to_numpy())
        torch.save(net.state_dict(), _tmp := out / f"fold{k}" / "model.pt.tmp")
        _tmp.replace(out / f"fold{k}" / "model.pt")
        history.append(hist.assign(fold=int(k)))
        test = [v for v in pool if roles.get(v.row["patient_key"]) == "test"]
        metrics += evaluation_rows(net, test, model, name, int(k), cfg["frames_per_recording"])
    return {"folds": folds, "metrics": pd.DataFrame(metrics), "history": pd.concat(history, ignore_index=True),
            "left_out": empty["left_out"]}
