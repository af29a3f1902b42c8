"""Attribution summaries for papers, at the patient as the unit of independence (:mod:`.units`):
a patient's maps (M-mode lines, slices, frames of one heart) are not independent.

- :func:`by_class_and_correctness`: per class and correctness, the mean and SD of each
  localisation and faithfulness measure over maps (descriptive), the pointing-game rate, and the
  outside-the-heart rate over maps with a patient-cluster bootstrap CI (Field & Welsh 2007,
  :func:`cardiolens.stats.bootstrap.cluster_interval`): patients are resampled with all their
  maps, so the interval counts patients, not maps. A rate of 0 or 1 (no map flagged, or every
  map) collapses every replicate to the rate, so there it is the Clopper-Pearson interval of 0 or
  n of n patients (:func:`cardiolens.stats.units.clopper_pearson`), conservative as a patient
  contributes several maps; where the bootstrap collapses otherwise the CI is null and
  ``ci_method`` says so.
- :func:`heart_mass_interval`: the heart mass as the mean of per-patient means with a patient
  bootstrap CI, its chance level (a map uniform over the input that is not black) and the
  paired excess over it with its CI.
- :func:`correctness_tests`: each measure between correct and incorrect predictions
  (:func:`cardiolens.stats.groups.compare_groups`, the configured two-sample test) on one value
  per patient and group, the mean of its maps (see the function for patients in both groups).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolens.stats.bootstrap import cluster_interval
from cardiolens.stats.groups import compare_groups
from cardiolens.stats.units import UNIT, UNIT_COLUMN, clopper_pearson, to_unit

MEASURES = ("mass_heart", "mass_outside_heart", "mass_septum_window", "mass_base", "mass_apex", "entropy", "gini",
            "deletion_auc", "insertion_auc")
BY = ["study", "method", "target_kind"]
OUTSIDE_HEART_EXACT = ("Clopper-Pearson interval (statsmodels, method 'beta') of a rate of 0 or 1 with n = patients: the "
                       "patient-cluster bootstrap collapses there; conservative, as each patient has one or more maps")


def outside_heart_interval(maps: pd.DataFrame, n_resamples: int = 1000, confidence: float = 0.95,
                           seed: int = 0) -> dict[str, object]:
    """Rate of maps flagged ``outside_heart`` with its patient-cluster bootstrap CI, or at a rate
    of 0 or 1 (where every bootstrap replicate equals the rate) the Clopper-Pearson interval of
    0 or n_units flagged out of n_units patients (:data:`OUTSIDE_HEART_EXACT`).

    Args:
        maps: rows with ``patient_key`` and ``outside_heart`` (null: no heart ROI, left out).
    Returns:
        outside_heart_rate, outside_heart_ci_low, outside_heart_ci_high, ci_method, unit,
        n_units (patients with a flagged-or-not map), n_samples (such maps).
    """
    s = maps[maps["outside_heart"].notna()]
    flags = s["outside_heart"].astype(bool).to_numpy()
    n_units = int(s[UNIT_COLUMN].nunique())
    out: dict[str, object] = {"unit": UNIT, "n_units": n_units, "n_samples": len(s)}
    if not len(s):
        why = "none: no map in this group" if not len(maps) else "none: no map with a heart ROI"
        return {**out, "outside_heart_rate": None, "outside_heart_ci_low": None, "outside_heart_ci_high": None,
                "ci_method": why}
    rate = float(flags.mean())
    if rate in (0.0, 1.0):
        lo, hi = clopper_pearson(round(rate * n_units), n_units, confidence)
        return {**out, "outside_heart_rate": rate, "outside_heart_ci_low": lo, "outside_heart_ci_high": hi,
                "ci_method": OUTSIDE_HEART_EXACT}
    # one row per patient (flagged maps k, maps n): the rate of a replicate is sum k / sum n over
    # the drawn patients, the same as over their maps, without carrying every map
    per = pd.DataFrame({"patient": s[UNIT_COLUMN].to_numpy(), "k": flags.astype(float)}).groupby("patient")["k"].agg(["sum", "size"])
    k, n = per["sum"].to_numpy(), per["size"].to_numpy(float)
    ci = cluster_interval(per.index.to_numpy(), lambda i: np.array([k[i].sum() / n[i].sum()]), None, n_resamples, confidence,
                          seed)
    lo, hi = float(ci.low[0]), float(ci.high[0])
    return {**out, "outside_heart_rate": rate, "outside_heart_ci_low": None if np.isnan(lo) else lo,
            "outside_heart_ci_high": None if np.isnan(hi) else hi, "ci_method": ci.method[0]}


def heart_mass_interval(maps: pd.DataFrame, n_resamples: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> dict[str, object]:
    """Heart mass at the patient level: the mean over patients of each patient's mean
    ``mass_heart`` (so a patient with many slices weighs as much as one with few) and of its
    chance level ``mass_heart_uniform`` (what a map spread evenly over the input that is not black
    scores, :func:`cardiolens.attribute.metrics.uniform_mass`), and the mean excess of the one
    over the other, each mean with its patient bootstrap CI
    (:func:`cardiolens.stats.bootstrap.cluster_interval` over the per-patient means; the excess
    is paired within patients). The chance level and the excess are null unless every map has a
    chance level, so that all three cover the same maps and patients.

    Args:
        maps: rows with ``patient_key``, ``mass_heart`` and optionally ``mass_heart_uniform``
            (NaN: no heart ROI, left out).
    Returns:
        mass_heart_patient_mean, mass_heart_ci_low, mass_heart_ci_high, mass_heart_uniform_patient_mean,
        mass_heart_excess_patient_mean, mass_heart_excess_ci_low, mass_heart_excess_ci_high,
        mass_heart_ci_method (how both CIs were computed, or why there is none), mass_heart_n_units
        (patients with a heart mass).
    """
    keys = ("mass_heart_patient_mean", "mass_heart_ci_low", "mass_heart_ci_high", "mass_heart_uniform_patient_mean",
            "mass_heart_excess_patient_mean", "mass_heart_excess_ci_low", "mass_heart_excess_ci_high", "mass_heart_ci_method")
    s = maps[maps["mass_heart"].notna()] if len(maps) else maps
    if "mass_heart_uniform" not in s.columns:
        s = s.assign(mass_heart_uniform=np.nan)
    per = to_unit(s, ["mass_heart", "mass_heart_uniform"]) if len(s) else pd.DataFrame()
    out: dict[str, object] = {**dict.fromkeys(keys), "mass_heart_n_units": len(per)}
    if not len(per):
        return {**out, "mass_heart_ci_method": "none: no map with a heart mass"}
    v = per["mass_heart"].to_numpy(float)
    has_u = bool(s["mass_heart_uniform"].notna().all())
    u = per["mass_heart_uniform"].to_numpy(float) if has_u else np.full(len(v), np.nan)
    d = v - u  # each patient's mean excess over its maps (the same maps in both means)

    def stat(i: np.ndarray) -> np.ndarray:
        return np.array([v[i].mean(), d[i].mean()])

    ci = cluster_interval(per[UNIT_COLUMN].to_numpy(), stat, None, n_resamples, confidence, seed)
    bound = [None if np.isnan(b) else float(b) for b in (*ci.low, *ci.high)]
    return {**out, "mass_heart_patient_mean": float(v.mean()), "mass_heart_ci_low": bound[0], "mass_heart_ci_high": bound[2],
            "mass_heart_uniform_patient_mean": float(u.mean()) if has_u else None,
            "mass_heart_excess_patient_mean": float(d.mean()) if has_u else None,
            "mass_heart_excess_ci_low": bound[1] if has_u else None, "mass_heart_excess_ci_high": bound[3] if has_u else None,
            "mass_heart_ci_method": ci.method[0] if not has_u or ci.method[1] == ci.method[0]
            else f"heart mass: {ci.method[0]}; excess: {ci.method[1]}"}


def by_class_and_correctness(attribution: pd.DataFrame, confidence: float = 0.95, n_resamples: int = 1000,
                             seed: int = 0) -> pd.DataFrame:
    """One row per (study, method, target_kind, class, correct) incl. class 'all': maps n, mean
    and SD of each measure over maps, pointing-game rate, the outside-the-heart rate with its
    patient-cluster CI (:func:`outside_heart_interval`), and the heart mass at the patient level
    with its CI and chance level (:func:`heart_mass_interval`)."""
    rows = []
    a = attribution[attribution["correct"].notna()]
    for (study, method, kind), g in a.groupby(BY, sort=True):
        for cls in ["all"] + sorted(g["label"].unique()):
            c = g if cls == "all" else g[g["label"] == cls]
            for correct in (True, False):
                s = c[c["correct"] == correct]
                row = {"study": study, "method": method, "target_kind": kind, "class": cls, "correct": correct, "n": len(s),
                       **outside_heart_interval(s, n_resamples, confidence, seed),
                       **heart_mass_interval(s, n_resamples, confidence, seed),
                       "pointing_hit_rate": float(s["pointing_hit"].dropna().astype(float).mean()) if s["pointing_hit"].notna().any() else None}
                for m in MEASURES:
                    v = pd.to_numeric(s[m], errors="coerce").dropna()
                    row[f"{m}_mean"] = float(v.mean()) if len(v) else None
                    row[f"{m}_sd"] = float(v.std()) if len(v) > 1 else None
                rows.append(row)
    return pd.DataFrame(rows)


def correctness_tests(attribution: pd.DataFrame, test: str, correction: str) -> pd.DataFrame:
    """Each measure, correct vs incorrect predictions, per study, method and target kind, with
    the patient as the unit.

    Each patient contributes, per group, the mean of its maps in that group (:func:`to_unit`);
    the configured unpaired test (``compare_groups``) then compares the patients' means, so
    copying a patient's maps changes nothing. A patient with both correct and incorrect maps
    contributes to both groups (``n_units_both`` counts them): its two means are not independent.
    Dropping such patients would discard the hard cases and a paired test would discard every
    other patient, so they are kept and the dependence is stated; it is positive (the same heart
    and image), which inflates the variance an unpaired test assumes for the difference, so the
    test errs on the conservative side. A GEE with patient clusters (statsmodels) was not used:
    its sandwich variance is anti-conservative with the few patients of a test set.

    Returns:
        :func:`compare_groups` rows (n_a, n_b: patients) with ``unit``, ``n_units`` (patients
        with a value), ``n_units_both`` and ``n_samples`` (maps with a value).
    """
    a = attribution[attribution["correct"].notna()].copy()
    a["prediction"] = np.where(a["correct"].astype(bool), "correct", "incorrect")
    measures = [m for m in MEASURES if pd.to_numeric(a[m], errors="coerce").notna().any()]
    if not measures or a.empty:
        return pd.DataFrame()
    per = to_unit(a, measures, by=[*BY, "prediction"])
    out = compare_groups(per, measures, "prediction", test, correction, groups=["correct", "incorrect"], by=BY)
    if out.empty:
        return out
    counts = []
    for m in measures:
        have = a[pd.to_numeric(a[m], errors="coerce").notna()]
        for key, g in have.groupby(BY, sort=True):
            groups_of = g.groupby(UNIT_COLUMN)["prediction"].nunique()
            counts.append({**dict(zip(BY, key)), "measure": m, "n_units": int(g[UNIT_COLUMN].nunique()),
                           "n_units_both": int((groups_of == 2).sum()), "n_samples": len(g)})
    out = out.merge(pd.DataFrame(counts), on=[*BY, "measure"], how="left")
    for col in ("n_units", "n_units_both", "n_samples"):
        out[col] = out[col].fillna(0).astype("int64")
    return out.assign(unit=UNIT)
