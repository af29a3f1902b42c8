"""Attribution summaries for papers: localisation and faithfulness metrics by class and by
correctness, the rate of outside-the-heart attention among correct and incorrect predictions
with Wilson 95 % CIs (statsmodels ``proportion_confint``), and the group comparison of each
metric between correct and incorrect predictions (:func:`cardiolens.stats.groups.compare_groups`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolens.stats.groups import compare_groups

MEASURES = ("mass_heart", "mass_outside_heart", "mass_septum_window", "mass_base", "mass_apex", "entropy", "gini",
            "deletion_auc", "insertion_auc")


def by_class_and_correctness(attribution: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (study, method, target_kind, class, correct) incl. class 'all': n, mean and SD of
    each measure, pointing-game rate, outside-the-heart rate and its Wilson CI."""
    from statsmodels.stats.proportion import proportion_confint

    rows = []
    a = attribution[attribution["correct"].notna()]
    for (study, method, kind), g in a.groupby(["study", "method", "target_kind"], sort=True):
        for cls in ["all"] + sorted(g["label"].unique()):
            c = g if cls == "all" else g[g["label"] == cls]
            for correct in (True, False):
                s = c[c["correct"] == correct]
                flags = s["outside_heart"].dropna().astype(bool)
                k, n = int(flags.sum()), len(flags)
                lo, hi = proportion_confint(k, n, alpha=1 - confidence, method="wilson") if n else (np.nan, np.nan)
                row = {"study": study, "method": method, "target_kind": kind, "class": cls, "correct": correct, "n": len(s),
                       "outside_heart_rate": k / n if n else None, "outside_heart_ci_low": float(lo) if n else None,
                       "outside_heart_ci_high": float(hi) if n else None,
                       "pointing_hit_rate": float(s["pointing_hit"].dropna().astype(float).mean()) if s["pointing_hit"].notna().any() else None}
                for m in MEASURES:
                    v = pd.to_numeric(s[m], errors="coerce").dropna()
                    row[f"{m}_mean"] = float(v.mean()) if len(v) else None
                    row[f"{m}_sd"] = float(v.std()) if len(v) > 1 else None
                rows.append(row)
    return pd.DataFrame(rows)


def correctness_tests(attribution: pd.DataFrame, test: str, correction: str) -> pd.DataFrame:
    """Each measure, correct vs incorrect predictions, per method and target kind."""
    a = attribution[attribution["correct"].notna()].copy()
    a["prediction"] = np.where(a["correct"].astype(bool), "correct", "incorrect")
    measures = [m for m in MEASURES if pd.to_numeric(a[m], errors="coerce").notna().any()]
    return compare_groups(a, measures, "prediction", test, correction, groups=["correct", "incorrect"], by=["study", "method", "target_kind"])
