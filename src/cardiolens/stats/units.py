"""The unit of independence: samples of one patient (M-mode lines, slices, frames, recordings) are
not independent, so every p-value and CI in cardiolens counts patients.

Each inferential statistic declares its unit, the patient (:data:`UNIT`; a recording is the unit
only where each patient has one, which is the same count). It either runs on one value per unit
(:func:`to_unit`: the mean of the unit's samples) or models the clustering (the patient-cluster
bootstrap of :mod:`.bootstrap`). A proportion of units gets a Wilson score interval
(:func:`wilson`; Wilson, JASA 1927), which stays honest at small n (8 of 8 patients:
[0.676, 1.0] at 95 %, where a percentile bootstrap collapses to [1, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

UNIT = "patient"
UNIT_COLUMN = "patient_key"
WILSON = "Wilson score interval (Wilson 1927), patients as units"


def to_unit(table: pd.DataFrame, values: Sequence[str], by: Sequence[str] = (), unit_col: str = UNIT_COLUMN,
            how: str = "mean") -> pd.DataFrame:
    """One row per (``by``..., unit): the ``how`` (pandas aggregation name) of each column of
    ``values`` over the unit's rows (non-numeric values and NaN skipped), and ``n_samples`` (rows).

    Args:
        table: (N rows) with ``unit_col``, ``by`` and ``values``.
    Returns:
        (U rows) columns ``by``, ``unit_col``, ``values``, ``n_samples``; sorted by the keys.
    """
    keys = [*by, unit_col]
    missing = [c for c in [*keys, *values] if c not in table.columns]
    if missing:
        raise KeyError(f"to_unit: columns {missing} are not in the table (columns: {list(table.columns)})")
    numeric = table[list(values)].apply(pd.to_numeric, errors="coerce").astype(float)
    frame = pd.concat([table[keys].reset_index(drop=True), numeric.reset_index(drop=True)], axis=1)
    grouped = frame.groupby(keys, sort=True, dropna=False)
    out = grouped[list(values)].agg(how)
    out["n_samples"] = grouped.size()
    return out.reset_index()


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` units (statsmodels ``proportion_confint``);
    ValueError for n < 1."""
    from statsmodels.stats.proportion import proportion_confint

    if n < 1:
        raise ValueError(f"a Wilson interval needs at least one unit; got n = {n}")
    lo, hi = proportion_confint(int(k), int(n), alpha=1 - confidence, method="wilson")
    return float(lo), float(hi)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson ("exact", beta quantile) interval of ``k`` successes in ``n`` units
    (Clopper & Pearson, Biometrika 1934; statsmodels ``proportion_confint(method="beta")``);
    ValueError for n < 1. At k = 0 the upper bound is 1 - (alpha / 2)^(1/n)."""
    from statsmodels.stats.proportion import proportion_confint

    if n < 1:
        raise ValueError(f"a Clopper-Pearson interval needs at least one unit; got n = {n}")
    lo, hi = proportion_confint(int(k), int(n), alpha=1 - confidence, method="beta")
    return float(lo), float(hi)
