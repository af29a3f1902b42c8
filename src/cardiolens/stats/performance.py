"""Performance tables of one study from its prediction tables (sample and patient level).

Rows of ``performance.parquet`` (long format, one value per row):
- ``scope = fold``: each fold and role, with a CI;
- ``scope = pooled``: all folds' predictions of a role together (k-fold CV: every patient's test
  predictions once), with a CI;
- ``scope = across_folds``: mean and SD of the per-fold values (``value``, ``sd``), as papers
  report k-fold results (mean ± SD); no CI, the unit is the fold.

Every CI counts patients (:mod:`.units`), and ``ci_method`` says how it was obtained:
- a proportion of patients (patient level, one row per patient: accuracy, sensitivity,
  specificity) gets a Wilson score interval (Wilson 1927), which stays honest at small n;
- everything else (sample-level values, balanced accuracy, AUC, regression metrics) gets the
  patient-cluster bootstrap (:func:`.bootstrap.cluster_interval`, Field & Welsh 2007); where
  that collapses (every replicate equal, e.g. AUC 1.0 on 8 patients) the CI is null and
  ``ci_method`` says so.
``confusion.parquet`` holds the confusion matrices per fold and summed across folds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cardiolens.stats import metrics as M
from cardiolens.stats.bootstrap import Interval, cluster_interval
from cardiolens.stats.units import UNIT, WILSON, wilson

LEVELS = ("sample", "patient")


def classes_of(preds: pd.DataFrame) -> list[str]:
    """Class names from the ``p_<class>`` columns, in table order."""
    return [c[2:] for c in preds.columns if c.startswith("p_")]


def targets_of(preds: pd.DataFrame) -> list[str]:
    return [c[5:] for c in preds.columns if c.startswith("pred_")]


def task_of(preds: pd.DataFrame) -> str:
    return "classification" if "y_true" in preds.columns else "regression"


def scorer(preds: pd.DataFrame) -> tuple[list[tuple[str, str | None]], Any, np.ndarray | None]:
    """(names, statistic(row indices) -> values, strata) for a prediction table."""
    if task_of(preds) == "classification":
        classes = classes_of(preds)
        yt, yp = M.encode(preds["y_true"].to_numpy(), classes), M.encode(preds["y_pred"].to_numpy(), classes)
        proba = preds[[f"p_{c}" for c in classes]].to_numpy(float)
        return M.classification_names(classes), lambda i: M.classification(yt[i], yp[i], proba[i], len(classes)), preds["y_true"].to_numpy()
    targets = targets_of(preds)
    true = preds[[f"true_{t}" for t in targets]].to_numpy(float)
    pred = preds[[f"pred_{t}" for t in targets]].to_numpy(float)
    return M.regression_names(targets), lambda i: M.regression(true[i], pred[i]), None


def proportion_counts(preds: pd.DataFrame) -> dict[tuple[str, str | None], tuple[int, int]]:
    """(successes, rows) of the metrics that are proportions of rows: accuracy, and each class's
    sensitivity (correct among its rows) and specificity (not predicted as it among the others)."""
    yt, yp = preds["y_true"].to_numpy(), preds["y_pred"].to_numpy()
    out: dict[tuple[str, str | None], tuple[int, int]] = {("accuracy", None): (int(np.sum(yt == yp)), len(yt))}
    for c in classes_of(preds):
        pos = yt == c
        out[("sensitivity", c)] = (int(np.sum(pos & (yp == c))), int(pos.sum()))
        out[("specificity", c)] = (int(np.sum(~pos & (yp != c))), int((~pos).sum()))
    return out


def intervals(preds: pd.DataFrame, names: list[tuple[str, str | None]], stat: Any, strata: np.ndarray | None, level: str,
              n_resamples: int, confidence: float, seed: int) -> Interval:
    """CI of each of ``names`` (module docstring): Wilson for a proportion of patients (patient
    level, classification, one row per patient), else the patient-cluster bootstrap."""
    ci = cluster_interval(preds["patient_key"].to_numpy(), stat, strata, n_resamples, confidence, seed)
    if level != "patient" or task_of(preds) != "classification" or preds["patient_key"].duplicated().any():
        return ci  # a patient scored twice (e.g. val in several folds) is a cluster: bootstrap it
    counts = proportion_counts(preds)
    for j, name in enumerate(names):
        if name in counts:
            k, n = counts[name]
            ci.low[j], ci.high[j] = wilson(k, n, confidence) if n else (np.nan, np.nan)
            ci.method[j] = WILSON if n else "none: no patient in the denominator"
    return ci


def score(preds: pd.DataFrame, n_resamples: int, confidence: float, seed: int, level: str = "sample") -> pd.DataFrame:
    """(metric, class, value, ci_low, ci_high, ci_method, unit, n_units, n_samples, n_patients) of
    one set of predictions at ``level``."""
    names, stat, strata = scorer(preds)
    value = stat(np.arange(len(preds)))
    ci = intervals(preds, names, stat, strata, level, n_resamples, confidence, seed)
    n_patients = preds["patient_key"].nunique()
    return pd.DataFrame({"metric": [m for m, _ in names], "class": [c for _, c in names], "value": value,
                         "ci_low": ci.low, "ci_high": ci.high, "ci_method": ci.method, "unit": UNIT, "n_units": n_patients,
                         "n_samples": len(preds), "n_patients": n_patients})


def performance(tables: dict[str, pd.DataFrame], study: str, roles: list[str], n_resamples: int, confidence: float,
                seed: int) -> pd.DataFrame:
    """The performance table (module docstring) from {level: predictions} (train stage tables)."""
    parts = []
    for level, preds in tables.items():
        for role in roles:
            r = preds[preds["role"] == role]
            if r.empty:
                continue
            folds = sorted(r["fold"].unique())
            these = [score(r[r["fold"] == fold].reset_index(drop=True), n_resamples, confidence, seed + k, level)
                     .assign(scope="fold", fold=int(fold)) for k, fold in enumerate(folds)]
            if len(folds) > 1:
                stacked = pd.concat(these)
                agg = stacked.groupby(["metric", "class"], dropna=False, sort=False)["value"].agg(["mean", "std"]).reset_index()
                these.append(score(r.reset_index(drop=True), n_resamples, confidence, seed, level).assign(scope="pooled", fold=None))
                these.append(pd.DataFrame({"metric": agg["metric"], "class": agg["class"], "value": agg["mean"], "sd": agg["std"],
                                           "ci_method": "none: mean and SD across folds", "unit": "fold", "n_units": len(folds),
                                           "n_samples": len(r), "n_patients": r["patient_key"].nunique(),
                                           "scope": "across_folds", "fold": None}))
            parts += [t.assign(level=level, role=role) for t in these]
    out = pd.concat(parts, ignore_index=True)
    out["study"] = study
    out["task"] = task_of(next(iter(tables.values())))
    out["ci_level"] = float(confidence)
    cols = ["study", "task", "level", "role", "scope", "fold", "metric", "class", "value", "sd", "ci_low", "ci_high",
            "ci_method", "ci_level", "unit", "n_units", "n_samples", "n_patients"]
    out = out.reindex(columns=cols)
    out["fold"] = out["fold"].astype("Int64")
    out["class"] = out["class"].astype(object).where(out["class"].notna(), None)
    return out


def confusion_table(tables: dict[str, pd.DataFrame], study: str, roles: list[str]) -> pd.DataFrame:
    """Counts per (level, role, fold, true, pred); fold null = summed across folds."""
    rows = []
    for level, preds in tables.items():
        if task_of(preds) != "classification":
            continue
        classes = classes_of(preds)
        for role in roles:
            r = preds[preds["role"] == role]
            if r.empty:
                continue
            total = np.zeros((len(classes), len(classes)), np.int64)
            for fold, g in r.groupby("fold", sort=True):
                cm = M.confusion(g["y_true"].to_numpy(), g["y_pred"].to_numpy(), classes)
                total += cm
                rows += _cells(study, level, role, int(fold), classes, cm)
            rows += _cells(study, level, role, None, classes, total)
    out = pd.DataFrame(rows, columns=["study", "level", "role", "fold", "true", "pred", "count"])
    out["fold"] = out["fold"].astype("Int64")
    return out


def _cells(study: str, level: str, role: str, fold: int | None, classes: list[str], cm: np.ndarray) -> list[dict[str, Any]]:
    return [{"study": study, "level": level, "role": role, "fold": fold, "true": t, "pred": p, "count": int(cm[i, j])}
            for i, t in enumerate(classes) for j, p in enumerate(classes)]


def errors(confusion: pd.DataFrame) -> tuple[int, int]:
    """(misclassified, total) of a confusion table's cells."""
    wrong = int(confusion.loc[confusion["true"] != confusion["pred"], "count"].sum())
    return wrong, int(confusion["count"].sum())
