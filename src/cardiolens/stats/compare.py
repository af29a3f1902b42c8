"""Paired model comparisons at the patient level: McNemar's test on paired correctness and
DeLong's test for two correlated ROC AUCs.

The unit is the patient (:mod:`.units`): each side's prediction of a patient is the argmax of its
mean probability over the patient's samples (the train stage's patient_predictions table), and
DeLong compares the AUCs of those patient-level probabilities. Samples of one patient are not
independent, so a comparison at sample level is refused (``level: sample`` is rejected at config
validation): counting the M-mode lines of one heart as pairs makes the p-value orders of magnitude
too small (original vs cropped M-mode: 1.6e-5 over lines, 0.375 over recordings).

- McNemar (statsmodels ``contingency_tables.mcnemar``): exact binomial test when fewer than 25
  discordant pairs, else the chi-square statistic with continuity correction.
- DeLong, DeLong & Clarke-Pearson (Biometrics 1988), with the fast structural-component
  computation of Sun & Xu (IEEE Signal Processing Letters 2014). Neither scipy, statsmodels nor
  pingouin provides it, so it is written here (the tests check it against hand-computed
  structural components). Binary problems only: for more than two classes the AUC of each class
  against the rest is compared. The CI of AUC(a) - AUC(b) is the asymptotic normal interval
  of DeLong's variance, clipped to [-1, 1] (the difference's range); with few patients its
  coverage is only approximate. With fewer than two positive or two negative patients the
  structural components have no sample covariance, so there is no test and no CI (null, and
  ``ci_method`` says why).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cardiolens.stats.performance import classes_of
from cardiolens.stats.units import UNIT

LEVELS = ("patient",)
SAMPLE_LEVEL_REFUSED = ("samples of one patient are not independent: compare at level 'patient' (each patient's prediction "
                        "from its mean probability)")
DELONG_CI = "DeLong et al. 1988 variance of AUC(a) - AUC(b), asymptotic normal interval clipped to [-1, 1]"
DELONG_ZERO_VARIANCE = "none: the AUC difference has zero variance (identical rankings)"
DELONG_TOO_FEW = "none: fewer than two positive or two negative patients"


def _midrank(x: NDArray) -> NDArray[np.float64]:
    from scipy.stats import rankdata

    return rankdata(x, method="average")


def delong_components(positive: NDArray[np.bool_], scores: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """AUCs (K,), structural components V10 (K, m) over positives and V01 (K, n) over negatives
    of K score vectors (K, N) sharing the labels ``positive`` (N,) (Sun & Xu 2014, eqs. 7-9)."""
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    pos, neg = scores[:, positive], scores[:, ~positive]
    m, n = pos.shape[1], neg.shape[1]
    tz = np.stack([_midrank(s) for s in scores])
    tx = np.stack([_midrank(s) for s in pos])
    ty = np.stack([_midrank(s) for s in neg])
    aucs = (tz[:, positive].sum(1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, positive] - tx) / n
    v01 = 1.0 - (tz[:, ~positive] - ty) / m
    return aucs, v10, v01


def delong_test(positive: NDArray[np.bool_], score_a: NDArray, score_b: NDArray, confidence: float = 0.95) -> dict[str, Any]:
    """Two-sided DeLong test of AUC(a) = AUC(b) on the same N cases (here patients).

    Args:
        positive: (N,) labels; both classes must occur (ValueError otherwise).
        score_a, score_b: (N,) scores of the two models.
    Returns:
        auc_a, auc_b; statistic (z), p_value, variance of AUC(a) - AUC(b); ci_low, ci_high, the
        asymptotic normal interval diff +- z_(1+confidence)/2 sqrt(variance) clipped to [-1, 1];
        ci_method (:data:`DELONG_CI`, or why there is none). With fewer than two positive or two
        negative cases the covariance of the structural components is undefined: statistic, p,
        variance and CI are NaN (:data:`DELONG_TOO_FEW`). With zero variance (identical
        rankings): z = 0, p = 1, no CI (:data:`DELONG_ZERO_VARIANCE`).
    """
    from scipy.stats import norm

    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        raise ValueError("DeLong's test needs both positive and negative cases")
    aucs, v10, v01 = delong_components(positive, np.vstack([score_a, score_b]))
    m, n = v10.shape[1], v01.shape[1]
    diff = float(aucs[0] - aucs[1])
    out: dict[str, Any] = {"auc_a": float(aucs[0]), "auc_b": float(aucs[1])}
    if m < 2 or n < 2:
        return {**out, "statistic": np.nan, "p_value": np.nan, "variance": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "ci_method": DELONG_TOO_FEW}
    s = np.cov(v10) / m + np.cov(v01) / n
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    if var <= 1e-15:
        return {**out, "statistic": 0.0, "p_value": 1.0, "variance": var, "ci_low": np.nan, "ci_high": np.nan,
                "ci_method": DELONG_ZERO_VARIANCE}
    z = diff / np.sqrt(var)
    half = float(norm.ppf(0.5 + confidence / 2) * np.sqrt(var))
    return {**out, "statistic": float(z), "p_value": float(2 * norm.sf(abs(z))), "variance": var,
            "ci_low": max(diff - half, -1.0), "ci_high": min(diff + half, 1.0), "ci_method": DELONG_CI}


def mcnemar_test(correct_a: NDArray[np.bool_], correct_b: NDArray[np.bool_]) -> dict[str, Any]:
    """McNemar's test on paired correctness (statsmodels); exact when discordant pairs < 25."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    exact = table[0, 1] + table[1, 0] < 25
    res = mcnemar(table, exact=exact, correction=True)
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue), "exact": bool(exact),
            "a_only_correct": int(table[0, 1]), "b_only_correct": int(table[1, 0])}


def pair(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows of two prediction tables matched on ``keys`` (suffixes _a, _b); ValueError when a
    side has duplicate keys or nothing matches."""
    for name, t in (("a", a), ("b", b)):
        dup = t.duplicated(keys)
        if dup.any():
            raise ValueError(f"comparison side {name}: {int(dup.sum())} rows share the keys {keys}")
    m = a.merge(b, on=keys, suffixes=("_a", "_b"))
    if m.empty:
        raise ValueError(f"the two prediction tables share no rows on {keys}")
    return m


def compare(name: str, a: pd.DataFrame, b: pd.DataFrame, keys: list[str], level: str, role: str,
            confidence: float = 0.95) -> pd.DataFrame:
    """McNemar and DeLong rows of one declared comparison (two patient-level classification
    prediction tables with the same classes, paired on ``keys``); ValueError for another level."""
    if level not in LEVELS:
        raise ValueError(f"comparison {name}: level {level!r} is refused; {SAMPLE_LEVEL_REFUSED}")
    ca, cb = classes_of(a), classes_of(b)
    if ca != cb:
        raise ValueError(f"comparison {name}: classes differ ({ca} vs {cb})")
    m = pair(a[a["role"] == role], b[b["role"] == role], keys)
    if (m["y_true_a"] != m["y_true_b"]).any():
        raise ValueError(f"comparison {name}: paired rows disagree on the true class")
    patient = "patient_key" if "patient_key" in m.columns else "patient_key_a"
    base = {"comparison": name, "level": level, "role": role, "n_pairs": len(m), "unit": UNIT, "n_units": int(m[patient].nunique())}
    rows = [{**base, "test": "mcnemar", "class": None, **_pick(mcnemar_test(m["y_true_a"] == m["y_pred_a"], m["y_true_b"] == m["y_pred_b"]))}]
    targets = [ca[0]] if len(ca) == 2 else ca
    for c in targets:
        pos = (m["y_true_a"] == c).to_numpy()
        if pos.all() or not pos.any():
            continue
        d = delong_test(pos, m[f"p_{c}_a"].to_numpy(), m[f"p_{c}_b"].to_numpy(), confidence)
        rows.append({**base, "test": "delong", "class": c, "estimate_a": d["auc_a"], "estimate_b": d["auc_b"],
                     **{k: _none_if_nan(d[k]) for k in ("statistic", "p_value", "ci_low", "ci_high")}, "ci_method": d["ci_method"]})
    return pd.DataFrame(rows)


def _pick(r: dict[str, Any]) -> dict[str, Any]:
    return {"statistic": r["statistic"], "p_value": r["p_value"], "estimate_a": None, "estimate_b": None,
            "a_only_correct": r["a_only_correct"], "b_only_correct": r["b_only_correct"], "ci_low": None, "ci_high": None,
            "ci_method": "none: McNemar's test has no interval"}


def _none_if_nan(v: float) -> float | None:
    return None if np.isnan(v) else float(v)
