"""Performance by subgroup: sex and age tertile, pooled over folds, with CIs that count patients
(:func:`cardiolens.stats.performance.intervals`: Wilson for a proportion of patients, else the
patient-cluster bootstrap; ``ci_method`` says which, or why there is none).

Age tertiles are cut on the ages of the study's patients (pandas ``qcut``, 3 quantile bins), so
each tertile holds about a third of the cohort; the bin edges are written into the subgroup
name (``T1 (41.0, 55.2]``). Classification reports accuracy and balanced accuracy, regression
the MAE over all targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolens.stats.performance import intervals, scorer, targets_of, task_of
from cardiolens.stats.units import UNIT


def age_tertiles(patients: pd.DataFrame) -> pd.Series:
    """Tertile name per patient_key (NaN for unknown age)."""
    ages = pd.to_numeric(patients.set_index("patient_key")["age"], errors="coerce")
    known = ages.dropna()
    if known.nunique() < 3:
        return pd.Series(np.nan, index=ages.index, dtype=object)
    bins = pd.qcut(known, 3, duplicates="drop")
    names = {iv: f"T{k + 1} ({iv.left:.1f}, {iv.right:.1f}]" for k, iv in enumerate(bins.cat.categories)}
    return bins.map(names).astype(object).reindex(ages.index)


def _stat(preds: pd.DataFrame):
    if task_of(preds) == "classification":  # the first two of performance's metrics: accuracy, balanced accuracy
        names, stat, strata = scorer(preds)
        return names[:2], lambda i: stat(i)[:2], strata
    targets = targets_of(preds)
    err = np.abs(preds[[f"pred_{t}" for t in targets]].to_numpy(float) - preds[[f"true_{t}" for t in targets]].to_numpy(float))
    return [("mae", None)], lambda i: np.array([err[i].mean()]), None


def subgroups(tables: dict[str, pd.DataFrame], patients: pd.DataFrame, study: str, roles: list[str], n_resamples: int,
              confidence: float, seed: int) -> pd.DataFrame:
    """Rows (study, level, role, subgroup, value, metric, estimate, ci_low, ci_high, ci_method, unit, n_units,
    n_samples, n_patients)."""
    info = patients.set_index("patient_key")
    tert = age_tertiles(patients)
    rows = []
    for level, preds in tables.items():
        for role in roles:
            r = preds[preds["role"] == role].reset_index(drop=True)
            if r.empty:
                continue
            attrs = {"sex": r["patient_key"].map(info["sex"]), "age_tertile": r["patient_key"].map(tert)}
            for name, values in attrs.items():
                for v in sorted(values.dropna().unique(), key=str):
                    part = r[(values == v).to_numpy()].reset_index(drop=True)
                    metrics, stat, strata = _stat(part)
                    est = stat(np.arange(len(part)))
                    ci = intervals(part, metrics, stat, strata, level, n_resamples, confidence, seed)
                    n_patients = int(part["patient_key"].nunique())
                    for j, (m, _) in enumerate(metrics):
                        rows.append({"study": study, "level": level, "role": role, "subgroup": name, "value": str(v), "metric": m,
                                     "estimate": float(est[j]), "ci_low": float(ci.low[j]), "ci_high": float(ci.high[j]),
                                     "ci_method": ci.method[j], "unit": UNIT, "n_units": n_patients, "n_samples": len(part),
                                     "n_patients": n_patients})
    return pd.DataFrame(rows, columns=["study", "level", "role", "subgroup", "value", "metric", "estimate", "ci_low", "ci_high",
                                       "ci_method", "unit", "n_units", "n_samples", "n_patients"])
