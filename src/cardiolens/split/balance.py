"""Balance report: per fold and role, label and sex counts, age mean +- SD, and standardised
mean differences (SMD) of every role against the training role.

SMD (Austin, Stat Med 2009): continuous (m1 - m2) / sqrt((s1^2 + s2^2) / 2); binary/category
share (p1 - p2) / sqrt((p1 (1 - p1) + p2 (1 - p2)) / 2). |SMD| > 0.1 is the usual threshold
for a meaningful imbalance. When both groups are constant the pooled SD is 0: the SMD is 0 if
their values are equal and infinite (signed) if they differ, never a silent 0. The stage logs one
line per fold naming the largest |SMD| (`largest_imbalance`); the results summary flags it.
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
    return _smd(float(a.mean()), float(b.mean()), np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))


def _smd_share(p1: float, p2: float) -> float | None:
    return _smd(p1, p2, np.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2))


def _smd(m1: float, m2: float, pooled: float) -> float:
    if pooled > 0:
        return float((m1 - m2) / pooled)
    return 0.0 if m1 == m2 else float(np.copysign(np.inf, m1 - m2))


def largest_imbalance(table: pd.DataFrame) -> pd.DataFrame:
    """Per (study, fold): the row with the largest |SMD| of any role against training.

    (rows of ``balance_table``) -> one row per fold with ``variable``, ``level``, ``role`` and
    ``smd_vs_train``; folds without any SMD are left out.
    """
    smd = pd.to_numeric(table["smd_vs_train"], errors="coerce")
    t = table.assign(abs_smd=smd.abs())[smd.notna()]
    if t.empty:
        return t
    idx = t.groupby(["study", "fold"], sort=True)["abs_smd"].idxmax()
    return t.loc[idx].drop(columns="abs_smd").reset_index(drop=True)


def describe_imbalance(row: pd.Series | object) -> str:
    """``septal_flash fold 0: largest |SMD| 0.530 > 0.1 (sex F, val vs train)`` (``<= 0.1`` when not above)."""
    smd = float(getattr(row, "smd_vs_train"))
    flag = f" > {SMD_WARNING}" if abs(smd) > SMD_WARNING else f" <= {SMD_WARNING}"
    return (f"{getattr(row, 'study')} fold {int(getattr(row, 'fold'))}: largest |SMD| {abs(smd):.3f}{flag} "
            f"({getattr(row, 'variable')} {getattr(row, 'level')}, {getattr(row, 'role')} vs train)")


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
    for r in largest_imbalance(table).itertuples():
        log.info("balance %s", describe_imbalance(r))
    return table
