"""Balance report: per fold and role, label and sex counts, age mean +- SD, and standardised
mean differences (SMD) of every role against the training role.

SMD (Austin, Stat Med 2009): continuous (m1 - m2) / sqrt((s1^2 + s2^2) / 2); binary/category
share (p1 - p2) / sqrt((p1 (1 - p1) + p2 (1 - p2)) / 2). |SMD| > 0.1 is the usual threshold
for a meaningful imbalance; the stage logs a warning for each.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
SMD_WARNING = 0.1


def _smd_mean(a: pd.Series, b: pd.Series) -> float | None:
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    if len(a) < 2 or len(b) < 2:
        return None
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0


def _smd_share(p1: float, p2: float) -> float | None:
    pooled = np.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    return float((p1 - p2) / pooled) if pooled > 0 else 0.0


def balance_table(study: str, patients: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Rows (study, fold, role, variable, level, n, value, smd_vs_train) at patient level."""
    rows = []
    merged = splits.merge(patients, on="patient_key")
    for fold, g in merged.groupby("fold", sort=True):
        train = g[g["role"] == "train"]
        for role, r in g.groupby("role", sort=True):
            for variable in ("label", "sex"):
                values = r[variable].astype(object).where(r[variable].notna(), "NA")
                train_values = train[variable].astype(object).where(train[variable].notna(), "NA")
                for level in sorted(set(values) | set(train_values)):
                    p = float((values == level).mean()) if len(values) else 0.0
                    pt = float((train_values == level).mean()) if len(train_values) else 0.0
                    smd = None if role == "train" else _smd_share(p, pt)
                    rows.append({"study": study, "fold": int(fold), "role": role, "variable": variable, "level": str(level),
                                 "n": int((values == level).sum()), "value": p, "sd": None, "smd_vs_train": smd})
            age = r["age"].astype(float)
            rows.append({"study": study, "fold": int(fold), "role": role, "variable": "age", "level": "mean",
                         "n": int(age.notna().sum()), "value": float(age.mean()) if age.notna().any() else None,
                         "sd": float(age.std(ddof=1)) if age.notna().sum() > 1 else None,
                         "smd_vs_train": None if role == "train" else _smd_mean(age, train["age"])})
    table = pd.DataFrame(rows)
    big = table[pd.to_numeric(table["smd_vs_train"], errors="coerce").abs() > SMD_WARNING]
    for r in big.itertuples():
        log.warning("split %s fold %d: %s %s of role %s differs from train (SMD %.2f > %.1f)",
                    study, r.fold, r.variable, r.level, r.role, r.smd_vs_train, SMD_WARNING)
    return table
