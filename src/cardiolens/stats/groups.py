"""Group comparisons of any measurement table: per measurement, mean ± SD per group, a
two-sample test between each pair of groups, an effect size, and a multiple-comparison
correction across all rows of the table.

Tests and effect sizes come from pingouin (Vallat, JOSS 2018): ``ttest`` (Student, or Welch with
``correction=True``; effect size Hedges' g from ``compute_effsize``, signed: positive when the
first group's mean is larger) and ``mwu`` (Mann-Whitney U; effect size the
rank-biserial correlation). Corrections from statsmodels ``multipletests``: ``holm`` (Holm 1979)
or ``fdr_bh`` (Benjamini & Hochberg 1995).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

TESTS = ("student", "welch", "mannwhitney")
CORRECTIONS = ("holm", "fdr_bh", "none")


def two_sample(x: np.ndarray, y: np.ndarray, test: str) -> dict[str, Any]:
    """Statistic, p-value and effect size of one two-sample test (pingouin), and ``note``: why
    there is none (a group with fewer than two values), else None."""
    import pingouin as pg

    if len(x) < 2 or len(y) < 2:
        return {"statistic": None, "p_value": None, "effect_size": None, "effect_size_name": None,
                "note": f"not tested: {len(x)} and {len(y)} values; a two-sample test needs two or more in each group"}
    if test == "mannwhitney":
        r = pg.mwu(x, y, alternative="two-sided").iloc[0]
        return {"statistic": float(r["U_val"]), "p_value": float(r["p_val"]), "effect_size": float(r["RBC"]),
                "effect_size_name": "rank-biserial r", "note": None}
    if test in ("student", "welch"):
        r = pg.ttest(x, y, correction=test == "welch").iloc[0]
        g = pg.compute_effsize(x, y, paired=False, eftype="hedges")  # signed: positive when a > b
        return {"statistic": float(r["T"]), "p_value": float(r["p_val"]), "effect_size": float(g), "effect_size_name": "Hedges' g",
                "note": None}
    raise ValueError(f"unknown test {test!r}; one of {TESTS}")


def compare_groups(table: pd.DataFrame, measures: list[str], group: str, test: str = "welch", correction: str = "holm",
                   groups: list[Any] | None = None, by: list[str] | None = None) -> pd.DataFrame:
    """One row per (by-values, measure, pair of groups); see the module docstring.

    Args:
        table: one row per unit (sample, patient, recording) with the measures and ``group``.
        by: columns that split the table first (e.g. method), each part tested on its own; the
            correction still runs across every row of the result.
    """
    from statsmodels.stats.multitest import multipletests

    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; one of {CORRECTIONS}")
    rows = []
    parts = table.groupby(by, sort=True, dropna=False) if by else [((), table)]
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        order = groups or sorted(part[group].dropna().unique(), key=str)
        for m in measures:
            for a, b in combinations(order, 2):
                x = pd.to_numeric(part.loc[part[group] == a, m], errors="coerce").dropna().to_numpy(float)
                y = pd.to_numeric(part.loc[part[group] == b, m], errors="coerce").dropna().to_numpy(float)
                rows.append({**dict(zip(by or [], key)), "measure": m, "group_col": group, "group_a": str(a), "group_b": str(b),
                             "n_a": len(x), "n_b": len(y),
                             "mean_a": float(np.mean(x)) if len(x) else None, "sd_a": float(np.std(x, ddof=1)) if len(x) > 1 else None,
                             "mean_b": float(np.mean(y)) if len(y) else None, "sd_b": float(np.std(y, ddof=1)) if len(y) > 1 else None,
                             "median_a": float(np.median(x)) if len(x) else None, "median_b": float(np.median(y)) if len(y) else None,
                             "test": test, **two_sample(x, y, test)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["correction"] = correction
    p = out["p_value"].astype(float)
    ok = p.notna().to_numpy()
    adj = np.full(len(out), np.nan)
    if ok.any():
        adj[ok] = p[ok] if correction == "none" else multipletests(p[ok].to_numpy(), method=correction)[1]
    out["p_adjusted"] = adj
    return out

