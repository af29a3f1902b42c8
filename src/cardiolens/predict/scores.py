"""Performance of a bundle on the new recordings that carry a label (external validation).

The predictions of ``predict_study`` (role ``test``) are scored as the stats stage scores a
training run's test role (:func:`cardiolens.stats.performance.performance`): per level (sample,
patient), the same metrics with CIs that count patients (Wilson for a proportion of patients at
any n, else the patient-cluster bootstrap, none below 5 patients or with a class of one;
``ci_method`` says which) and the confusion matrix. Only rows whose label is one of the bundle's
classes are scored (a class the model never learnt has no probability to score); the others, and unlabelled
rows, are counted in the log and the provenance, never silently dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens import provenance
from cardiolens.tables import write_table
from cardiolens.tables.registry import CONFUSION, PERFORMANCE

log = logging.getLogger(__name__)


def scorable(preds: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """(rows with a truth the bundle can be scored on, counts of the rows left out: ``unlabelled``,
    ``other_class``) of one predictions table (classification: ``y_true`` one of the ``p_<class>``
    classes; regression: every ``true_<target>`` known)."""
    from cardiolens.stats.performance import classes_of, targets_of, task_of

    if task_of(preds) == "classification":
        known = preds["y_true"].notna()
        ok = known & preds["y_true"].isin(classes_of(preds))
    else:
        truth = preds[[f"true_{t}" for t in targets_of(preds)]]
        known = ok = truth.notna().all(axis=1)
    return preds[ok].reset_index(drop=True), {"unlabelled": int((~known).sum()), "other_class": int((known & ~ok).sum())}


def score_predictions(tables: dict[str, pd.DataFrame], study: str, n_resamples: int, confidence: float,
                      seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(performance, confusion, what was left out per level) of {level: predictions}; both tables
    empty when no row can be scored."""
    from cardiolens.stats.performance import confusion_table, performance

    kept, left = {}, {}
    for level, preds in tables.items():
        kept[level], left[level] = scorable(preds)
        left[level]["scored"] = len(kept[level])
        left[level]["scored_patients"] = int(kept[level]["patient_key"].nunique())
    if not all(len(t) for t in kept.values()):
        return (pd.DataFrame(columns=PERFORMANCE.names), pd.DataFrame(columns=CONFUSION.names), left)
    perf = performance(kept, study, ["test"], n_resamples, confidence, seed)
    return perf, confusion_table(kept, study, ["test"]), left


def _with_ci(r: pd.Series) -> str:
    if pd.notna(r["ci_low"]) and pd.notna(r["ci_high"]):
        return f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
    return f"{r['value']:.3f} (no CI: {str(r['ci_method']).removeprefix('none: ')})"


def headline(perf: pd.DataFrame, left: dict[str, Any], study: str) -> str:
    """One terminal line: the patient-level accuracy with its CI (regression: the MAE of each
    target), n and what was not scored."""
    pat = left.get("patient", {})
    extra = ", ".join(f"{pat[k]} {k.replace('_', ' ')}" for k in ("unlabelled", "other_class") if pat.get(k))
    if perf.empty:
        return f"{study}: no patient with a label the bundle can be scored on, nothing scored ({extra or 'no label'})"
    p = perf[perf["level"] == "patient"]
    if (p["task"] == "classification").all():
        rows = p[(p["metric"] == "accuracy") & p["class"].isna()]
        text = f"accuracy {_with_ci(rows.iloc[0])}"
    else:  # regression: one MAE per target (the target's name is in ``class``)
        rows = p[p["metric"] == "mae"]
        text = ", ".join(f"mae[{r['class']}] {_with_ci(r)}" for _, r in rows.iterrows())
    return (f"{study}: {text} on {int(rows['n_patients'].max())} patients"
            + (f"; not scored: {extra} patients" if extra else ""))


def read_predict_table(path: str, level: str) -> pd.DataFrame:
    """A predict run's predictions table, validated against the schema ``predict_study`` wrote it
    with: y_true may be null or a class the bundle does not know."""
    import pyarrow.parquet as pq

    from cardiolens.tables import read_table
    from cardiolens.tables.registry import predictions_schema, regression_predictions_schema

    names = pq.read_schema(path).names
    classes = [n[2:] for n in names if n.startswith("p_")]
    if not classes:
        return read_table(path, regression_predictions_schema([n[5:] for n in names if n.startswith("pred_")], level))
    seen = pq.read_table(path, columns=["y_true"]).column("y_true").to_pylist()
    return read_table(path, predictions_schema(classes, level, sorted(set(classes) | {v for v in seen if v is not None})))


def run_scores(predictions: str, patient_predictions: str, cslice: dict[str, Any], out_dir: str,
               rule: str = "predict_scores") -> Path:
    """Write ``performance.parquet`` and ``confusion.parquet`` of a predict run's study."""
    study, boot = cslice["study"], cslice["stats"]["bootstrap"]
    tables = {"sample": read_predict_table(predictions, "sample"), "patient": read_predict_table(patient_predictions, "patient")}
    perf, conf, left = score_predictions(tables, study, boot["resamples"], boot["confidence"], int(cslice["seed"]))
    for level, counts in left.items():
        log.info("predict %s, %s level: %d rows scored; left out: %d without a label, %d of a class the bundle does not "
                 "know", study, level, counts["scored"], counts["unlabelled"], counts["other_class"])
    log.info("%s", headline(perf, left, study))
    prov = provenance.build(rule, provenance.describe_inputs([predictions, patient_predictions]), cslice, {"left_out": left})
    out = Path(out_dir)
    write_table(conf.reindex(columns=CONFUSION.names), out / "confusion.parquet", CONFUSION, prov)
    return write_table(perf.reindex(columns=PERFORMANCE.names), out / "performance.parquet", PERFORMANCE, prov)
