"""The train stage with files at the edges: one fold per job, then a merge per study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import provenance
from cardiolens.tables import read_table, write_table
from cardiolens.tables.registry import HISTORY, SAMPLES, SPLITS, predictions_schema, regression_predictions_schema


def train_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    study_cfg = config["studies"][study]
    out = {"study": study, "seed": config["seed"], "train": study_cfg["train"]}
    if study_cfg.get("targets"):
        out["targets"] = study_cfg["targets"]
    return out


def gpus_requested(train_cfg: dict[str, Any]) -> int:
    """GPUs a train job asks the scheduler for: ``devices`` when the accelerator is gpu, else 0.

    With accelerator auto the job asks for none and uses a GPU only if its node has one; set
    accelerator gpu on a cluster so the scheduler places the job on a GPU node.
    """
    if train_cfg.get("accelerator") != "gpu":
        return 0
    devices = train_cfg.get("devices", 1)
    return devices if isinstance(devices, int) and devices > 0 else 1


def folds_of(config: dict[str, Any], study: str) -> list[int]:
    split = config["studies"][study]["split"]
    return list(range(split["k"])) if split["scheme"] == "kfold" else [0]


def weights_sha256(ckpt: Path) -> str:
    """sha256 of a checkpoint's weights (names, shapes, bytes in order). The file's own hash is not
    used: Lightning stores absolute paths and callback state in it, so equal weights from two
    run folders would hash differently."""
    import hashlib

    import torch

    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def run_fold(samples_path: str, splits_path: str, normalisation_path: str, cslice: dict[str, Any], fold: int,
             out_dir: str, rule: str = "train_fold", code: str = "") -> None:
    """Train one fold from the stage's files and write its history and predictions tables.
    ``code``: the train stage's code hash; with the inputs' sha256 it decides, besides the
    configuration, whether an existing ``last.ckpt`` is this job's to resume."""
    from cardiolens.train.run import target_names, train_fold

    samples = read_table(samples_path, SAMPLES)
    splits = read_table(splits_path, SPLITS)
    with np.load(normalisation_path) as z:
        norm = {k: z[k] for k in z.files}
    cfg = {**cslice["train"], "targets": cslice.get("targets")}
    samples = samples[samples["variant"].isin(cfg["variants"])]
    out = Path(out_dir)
    inputs = provenance.describe_inputs([samples_path, splits_path, normalisation_path])
    context = {"inputs": [i["sha256"] for i in inputs], "code": code, "study": cslice["study"]}
    history, preds = train_fold(samples, splits, norm, fold, cfg, out, cslice["seed"], resume_context=context)
    if preds is None:
        return  # a non-zero DDP rank: rank 0 writes the tables
    names = target_names(samples, cfg)
    ckpt = out / "checkpoints" / "best.ckpt"
    preds = preds.assign(study=cslice["study"], checkpoint_sha256=weights_sha256(ckpt) if ckpt.exists() else "")
    history = history[history["stage"].isin(["train", "val"])].assign(study=cslice["study"], fold=fold)
    write_table(history.reindex(columns=HISTORY.names), out / "history.parquet", HISTORY, provenance.build(rule, inputs, cslice))
    schema = prediction_schema(cfg.get("task", "classification"), names)
    # The checkpoint is identified by its weights hash (rows and provenance extra), not its file
    # hash: Lightning writes absolute paths into the file, so equal weights differ as files.
    extra = {"checkpoint": str(ckpt), "checkpoint_weights_sha256": preds["checkpoint_sha256"].iloc[0] if len(preds) else ""}
    write_table(preds.reindex(columns=schema.names).sort_values(["role", "sample_id"]), out / "predictions.parquet", schema,
                provenance.build(rule, inputs, cslice, extra))


def prediction_schema(task: str, names: list[str], level: str = "sample"):
    """The predictions table schema of a classification (class names) or regression (target names) study."""
    return predictions_schema(names, level) if task == "classification" else regression_predictions_schema(names, level)


def patient_level(preds: pd.DataFrame, names: list[str], task: str = "classification") -> pd.DataFrame:
    """Mean over each patient's samples, per fold and role: of the class probabilities (argmax as
    y_pred) or of the regression outputs (the true values are the patient's mean too)."""
    cols = [f"p_{c}" for c in names] if task == "classification" else [f"{w}_{n}" for w in ("true", "pred") for n in names]
    g = preds.groupby(["study", "patient_key", "fold", "role"], sort=True)
    out = g[cols].mean().reset_index()
    if task == "classification":
        out["y_true"] = g["y_true"].first().values
        out["y_pred"] = [names[i] for i in np.argmax(out[cols].to_numpy(), axis=1)]
    out["checkpoint_sha256"] = g["checkpoint_sha256"].first().values
    return out


def merge(fold_dirs: list[str], out_dir: str, cslice: dict[str, Any], rule: str = "train_merge") -> None:
    import pyarrow.parquet as pq

    preds = pd.concat([pq.read_table(Path(d) / "predictions.parquet").to_pandas() for d in fold_dirs], ignore_index=True)
    history = pd.concat([read_table(Path(d) / "history.parquet", HISTORY) for d in fold_dirs], ignore_index=True)
    task = "regression" if any(c.startswith("pred_") for c in preds.columns) else "classification"
    if task == "classification":
        names = sorted(c[2:] for c in preds.columns if c.startswith("p_"))
    else:
        names = [c[5:] for c in preds.columns if c.startswith("pred_")]
    inputs = provenance.describe_inputs([str(Path(d) / f) for d in fold_dirs for f in ("predictions.parquet", "history.parquet")])
    out = Path(out_dir)
    sample_schema, patient_schema = prediction_schema(task, names), prediction_schema(task, names, "patient")
    write_table(preds.reindex(columns=sample_schema.names), out / "predictions.parquet", sample_schema, provenance.build(rule, inputs, cslice))
    write_table(patient_level(preds, names, task).reindex(columns=patient_schema.names), out / "patient_predictions.parquet",
                patient_schema, provenance.build(rule, inputs, cslice))
    write_table(history.reindex(columns=HISTORY.names), out / "history.parquet", HISTORY, provenance.build(rule, inputs, cslice))
