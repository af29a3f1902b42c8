"""Performance by subgroup: sex and age tertile, pooled over folds, with patient-bootstrap CIs.

Age tertiles are cut on the ages of the study's patients (pandas ``qcut``, 3 quantile bins), so
each tertile holds about a third of the cohort; the bin edges are written into the subgroup
name (``T1 (41.0, 55.2]``). Classification reports accuracy and balanced accuracy, regression
the MAE over all targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolens.stats.bootstrap import patient_bootstrap
from cardiolens.stats.performance import scorer, targets_of, task_of


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
        return [m for m, _ in names[:2]], lambda i: stat(i)[:2], strata
    targets = targets_of(preds)
    err = np.abs(preds[[f"pred_{t}" for t in targets]].to_numpy(float) - preds[[f"true_{t}" for t in targets]].to_numpy(float))
    return ["mae"], lambda i: np.array([err[i].mean()]), None


def subgroups(tables: dict[str, pd.DataFrame], patients: pd.DataFrame, study: str, roles: list[str], n_resamples: int,
              confidence: float, seed: int) -> pd.DataFrame:
    """Rows (study, level, role, subgroup, value, metric, estimate, ci_low, ci_high, n_samples, n_patients)."""
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
                    low, high = patient_bootstrap(part["patient_key"].to_numpy(), stat, strata, n_resamples, confidence, seed)
                    for j, m in enumerate(metrics):
                        rows.append({"study": study, "level": level, "role": role, "subgroup": name, "value": str(v), "metric": m,
                                     "estimate": float(est[j]), "ci_low": float(low[j]), "ci_high": float(high[j]),
                                     "n_samples": len(part), "n_patients": int(part["patient_key"].nunique())})
    return pd.DataFrame(rows, columns=["study", "level", "role", "subgroup", "value", "metric", "estimate", "ci_low", "ci_high",
                                       "n_samples", "n_patients"])
