"""The indices classifier of one study, per fold of the study's own splits, with per-patient
explanations (results/train/<study>/indices/).

For each fold of ``results/split/<study>/splits.parquet`` a classifier
(:mod:`cardiolens.train.indices_model`) learns from the indices
(``results/measure/<study>/indices.parquet``) of the patients in ``fit_roles`` (default: the
training role, the patients the image model learns from) and predicts the val and test patients.
Labels and classes are the study's samples' (``results/prepare/<study>/samples.parquet``: the
patients and label values the image model is trained on, classes sorted as it sorts them), so
``patient_predictions.parquet`` has the image model's patient-level schema and the stats code
scores and pairs the two models as it pairs any two studies. A patient of the splits without
indices gets no prediction and is listed (log, provenance ``patients_without_indices``).

Each val/test patient's predicted class (and, where the prediction is wrong, its true class) is
explained by feature ablation against the fold's training medians
(:mod:`cardiolens.attribute.feature_ablation`): ``explanations.parquet``, one row per index, and
``diagnoses.parquet``, one line per patient and fold, also written to the log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import provenance
from cardiolens.tables import read_table, write_table
from cardiolens.tables.registry import INDICES, INDICES_DIAGNOSES, INDICES_EXPLANATIONS, SAMPLES, SPLITS, predictions_schema

log = logging.getLogger("cardiolens.train")


def indices_model_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """Configuration the indices classifier of one study depends on: the seed and ``studies.<name>.indices``."""
    return {"study": study, "seed": config["seed"], "indices": config["studies"][study]["indices"]}


def patient_labels(samples: pd.DataFrame) -> pd.Series:
    """patient_key -> the study label of its samples; ValueError when a patient's samples disagree."""
    labels = samples.dropna(subset=["label"]).groupby("patient_key")["label"]
    several = labels.nunique()
    if (several > 1).any():
        bad = several[several > 1].index[:5].tolist()
        raise ValueError(f"patients {bad} have samples of several labels: the indices classifier needs one label per patient")
    return labels.first().sort_index()


def _median(x: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN; NaN for a column without any value (no warning)."""
    out = np.full(x.shape[1], np.nan)
    for j in range(x.shape[1]):
        v = x[:, j][~np.isnan(x[:, j])]
        if len(v):
            out[j] = float(np.median(v))
    return out


def unindexed_fallback(indices: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    """(features, the indexed ones replaced): an index per m² that no patient of the study has
    (no height and weight, so no BSA) is replaced by its unindexed twin (``lv_edv_ml_per_m2`` ->
    ``lv_edv_ml``) where that has a value, in place, so the classifier keeps the volumes and mass
    instead of a constant column. Nothing changes when any patient has the index."""
    out, replaced = [], []
    for f in features:
        twin = f.removesuffix("_per_m2")
        if (f != twin and f in indices.columns and twin in indices.columns and indices[f].isna().all()
                and indices[twin].notna().any() and twin not in features):
            out.append(twin)
            replaced.append(f)
        else:
            out.append(f)
    return out, replaced


def fold_results(indices: pd.DataFrame, splits: pd.DataFrame, labels: pd.Series, study: str, cfg: dict[str, Any],
                 seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(patient predictions, explanations, diagnoses, notes) of every fold (module docstring).

    Args:
        indices: the study's ``indices`` table.
        splits: its ``splits`` table; labels: :func:`patient_labels` of its samples.
        cfg: ``studies.<name>.indices``: classifier, n_estimators, features, fit_roles, explain_top.
    """
    from cardiolens.attribute.feature_ablation import ablation, explanation_line
    from cardiolens.train.indices_model import FEATURES, fit, model_sha256, predict_proba

    features = list(cfg["features"])
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"features {unknown} are not indices; known: {sorted(FEATURES)}")
    features, unindexed = unindexed_fallback(indices, features)
    if unindexed:
        log.warning("indices classifier %s: no patient has a height and weight (BSA), so %s are used unindexed; give "
                    "height_cm and weight_kg (clinical table, or DICOM PatientSize and PatientWeight) to index them",
                    study, [f.removesuffix("_per_m2") for f in unindexed])
    classes = sorted(labels.unique())
    x_all = indices.set_index("patient_key")[features].astype("float64")
    in_splits = sorted(set(splits["patient_key"]))
    notes: dict[str, Any] = {
        "classes": classes, "features": features, "unindexed": unindexed,
        "patients_without_indices": [k for k in in_splits if k not in x_all.index],
        "indices_not_in_splits": sorted(set(x_all.index) - set(in_splits)), "degenerate_folds": [], "empty_features": {},
    }
    for k in notes["patients_without_indices"]:
        log.warning("indices classifier %s: patient %s is in the splits but has no indices: no prediction", study, k)
    preds, expl, diag = [], [], []
    for fold in sorted(int(f) for f in splits["fold"].unique()):
        s = splits[splits["fold"] == fold]
        fit_keys = sorted(set(s.loc[s["role"].isin(cfg["fit_roles"]), "patient_key"]) & set(x_all.index) & set(labels.index))
        x_fit = x_all.loc[fit_keys].to_numpy()
        model, degenerate = fit(x_fit, labels.loc[fit_keys].to_numpy(), cfg["classifier"], cfg["n_estimators"], seed + int(fold))
        if degenerate:
            notes["degenerate_folds"].append(int(fold))
            log.warning("indices classifier %s fold %d: the %d training patients are all %s: the fold predicts the class prior",
                        study, fold, len(fit_keys), labels.loc[fit_keys].iloc[0])
        reference = _median(x_fit)
        empty = [f for f, r in zip(features, reference) if np.isnan(r)]
        if empty:
            notes["empty_features"][str(fold)] = empty
            log.warning("indices classifier %s fold %d: no training patient has %s: constant features", study, fold, empty)
        sha = model_sha256(model)
        scored = s[s["role"].isin(["val", "test"]) & s["patient_key"].isin(x_all.index)].sort_values(["role", "patient_key"])
        if scored.empty:
            continue
        x = x_all.loc[scored["patient_key"]].to_numpy()
        p = predict_proba(model, x, classes)
        y_true = labels.loc[scored["patient_key"]].to_numpy()
        y_pred = np.array(classes, dtype=object)[np.argmax(p, axis=1)]
        base = scored[["patient_key", "role"]].reset_index(drop=True).assign(study=study, fold=int(fold))
        preds.append(base.assign(y_true=y_true, **{f"p_{c}": p[:, j] for j, c in enumerate(classes)}, y_pred=y_pred,
                                 checkpoint_sha256=sha))
        index = {c: j for j, c in enumerate(classes)}
        targets = {"predicted": np.array([index[c] for c in y_pred])}
        wrong = y_true != y_pred
        proba = lambda a, m=model: predict_proba(m, a, classes)  # noqa: E731
        lines = None
        for kind, rows in (("predicted", np.arange(len(x))), ("true", np.nonzero(wrong)[0])):
            if not len(rows):
                continue
            target = targets["predicted"][rows] if kind == "predicted" else np.array([index[c] for c in y_true[rows]])
            contrib = ablation(proba, x[rows], reference, target)
            for i, r in enumerate(rows):
                rank = np.empty(len(features), dtype=np.int64)
                rank[np.argsort(-contrib[i], kind="stable")] = np.arange(1, len(features) + 1)
                expl.append(pd.DataFrame({
                    **{k: base.loc[r, k] for k in ("study", "patient_key", "fold", "role")},
                    "y_true": y_true[r], "y_pred": y_pred[r], "target_kind": kind, "target": classes[target[i]],
                    "score": p[r, target[i]], "feature": features, "name": [FEATURES[f][0] for f in features],
                    "value": x[r], "unit": [FEATURES[f][1] for f in features], "reference": reference,
                    "contribution": contrib[i], "rank": rank}))
            if kind == "predicted":
                lines = [explanation_line(y_pred[r], float(p[r, target[i]]), [FEATURES[f][0] for f in features], x[r],
                                          [FEATURES[f][1] for f in features], reference, contrib[i], cfg["explain_top"])
                         for i, r in enumerate(rows)]
        diag.append(base.assign(y_true=y_true, y_pred=y_pred, probability=p[np.arange(len(p)), targets["predicted"]],
                                correct=~wrong, explanation=lines, model_sha256=sha))
        test = ~wrong[scored["role"].to_numpy() == "test"]
        log.info("indices classifier %s fold %d: %d patients fitted (%s), test accuracy %s", study, fold, len(fit_keys),
                 "+".join(cfg["fit_roles"]), f"{test.mean():.3f} ({int(test.sum())}/{len(test)})" if len(test) else "n/a")
    cols = predictions_schema(classes, "patient").names
    preds_df = pd.concat(preds, ignore_index=True).reindex(columns=cols) if preds else pd.DataFrame(columns=cols)
    expl_df = (pd.concat(expl, ignore_index=True) if expl else pd.DataFrame()).reindex(columns=INDICES_EXPLANATIONS.names)
    diag_df = (pd.concat(diag, ignore_index=True) if diag else pd.DataFrame()).reindex(columns=INDICES_DIAGNOSES.names)
    for r in diag_df.itertuples():
        log.info("indices %s fold %d %s %s, true %s: %s", study, r.fold, r.role, r.patient_key, r.y_true, r.explanation)
    return preds_df, expl_df, diag_df, notes


def run_study(indices_path: str, splits_path: str, samples_path: str, cslice: dict[str, Any], out_dir: str,
              rule: str = "train_indices") -> None:
    """Write ``patient_predictions``, ``explanations`` and ``diagnoses`` of one study's indices classifier."""
    indices = read_table(indices_path, INDICES)
    splits = read_table(splits_path, SPLITS)
    labels = patient_labels(read_table(samples_path, SAMPLES))
    preds, expl, diag, notes = fold_results(indices, splits, labels, cslice["study"], cslice["indices"], int(cslice["seed"]))
    test = preds[preds["role"] == "test"]
    if len(test):
        log.info("indices classifier %s: pooled test accuracy %.3f (%d/%d patients)", cslice["study"],
                 float((test["y_true"] == test["y_pred"]).mean()), int((test["y_true"] == test["y_pred"]).sum()), len(test))
    out = Path(out_dir)
    prov = provenance.build(rule, provenance.describe_inputs([indices_path, splits_path, samples_path]), cslice, notes)
    write_table(preds, out / "patient_predictions.parquet", predictions_schema(notes["classes"], "patient"), prov)
    write_table(expl, out / "explanations.parquet", INDICES_EXPLANATIONS, prov)
    write_table(diag, out / "diagnoses.parquet", INDICES_DIAGNOSES, prov)
