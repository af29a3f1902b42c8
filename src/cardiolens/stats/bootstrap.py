"""Confidence intervals that resample patients, not samples (samples of one patient are not
independent: M-mode lines, slices and recordings of the same heart).

:func:`patient_bootstrap` is scipy.stats.bootstrap (percentile method) over patient indices: a
patient-cluster bootstrap (Field & Welsh, JRSS B 2007: resampling whole clusters is consistent
when observations are correlated within clusters). It is stratified by the patient's class when
given: each class's patients are resampled with replacement on their own (scipy's independent
resampling of several samples), so every replicate keeps the class balance and the AUC stays
defined, as in pROC's stratified bootstrap (Robin et al., BMC Bioinformatics 2011). The statistic
of a replicate is computed on all rows of the drawn patients (a patient drawn twice counts twice),
so copying every row of a patient leaves the replicates, and the interval, unchanged.

:func:`cluster_interval` is the same bootstrap for tables: where the interval collapses (every
replicate gives the same value, or the bounds coincide, as for accuracy 1.0 on 8 patients) it
reports no interval and says why, instead of presenting [1, 1] as a confidence interval.

Neither gives an interval (NaN; ``cluster_interval`` says why) on fewer than :data:`MIN_PATIENTS`
patients, where three patients have ten distinct resamples and a percentile interval is no
estimate (a floor, not a guarantee: percentile intervals are known to undercover below some tens
of clusters), nor, when stratified, where a class has a single patient: resampled on its own it is
the same patient in every replicate, so a per-class value (its recall in the balanced accuracy,
the AUC) would not vary and the interval would look narrower than it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

PERCENTILE = "patient-cluster bootstrap, percentile (Field & Welsh 2007)"
#: Fewest patients a bootstrap interval is computed on (module docstring).
MIN_PATIENTS = 5


class Interval(NamedTuple):
    """(K,) bounds, NaN where there is no interval, and for each output how it was obtained or
    (``none: ...``) why there is none."""

    low: NDArray[np.float64]
    high: NDArray[np.float64]
    method: list[str]


def _replicates(patients: Sequence[str], statistic: Callable[[NDArray[np.int64]], NDArray[np.float64]],
                strata: Sequence[str] | None, n_resamples: int, confidence: float,
                seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None, str]:
    """(low, high, replicates (K, R), ``""``) or (NaN, NaN, None, why there is no interval)."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    patients = np.asarray(patients)
    keys, inverse = np.unique(patients, return_inverse=True)
    rows_of = [np.nonzero(inverse == k)[0] for k in range(len(keys))]
    k = len(statistic(np.arange(len(patients))))
    none = np.full(k, np.nan), np.full(k, np.nan), None
    if len(keys) < MIN_PATIENTS:
        return *none, f"none: {len(keys)} patient(s), fewer than the {MIN_PATIENTS} a bootstrap interval needs"
    if strata is None:
        groups = [np.arange(len(keys))]
    else:
        s = np.asarray(strata)
        first = np.array([s[r[0]] for r in rows_of])
        groups = [np.nonzero(first == v)[0] for v in np.unique(first)]
        single = [str(first[g[0]]) for g in groups if len(g) < 2]
        if single:
            return *none, (f"none: class {', '.join(map(repr, single))} has one patient; a class-stratified bootstrap "
                           "needs two or more in every class")

    def stat(*samples: NDArray[np.int64]) -> NDArray[np.float64]:
        idx = np.concatenate([rows_of[int(p)] for sample in samples for p in sample])
        return np.asarray(statistic(idx), dtype=np.float64)

    # scipy warns (DegenerateDataWarning) when the replicate distribution is constant; that case is
    # handled, not hidden: cluster_interval reports no interval and says why in its method.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = bootstrap(tuple(groups), stat, n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                        vectorized=False, paired=False, rng=np.random.default_rng(seed))
    low, high = np.atleast_1d(res.confidence_interval.low).astype(float), np.atleast_1d(res.confidence_interval.high).astype(float)
    dist = np.asarray(res.bootstrap_distribution, dtype=float).reshape(k, -1)
    missing = ~np.isfinite(low) | ~np.isfinite(high)
    if missing.any():  # replicates where the value is undefined (e.g. a class absent) are left out
        alpha = (1 - confidence) / 2
        for j in np.nonzero(missing)[0]:
            d = dist[j][np.isfinite(dist[j])]
            low[j], high[j] = (np.quantile(d, alpha), np.quantile(d, 1 - alpha)) if len(d) else (np.nan, np.nan)
    return low, high, dist, ""


def patient_bootstrap(patients: Sequence[str], statistic: Callable[[NDArray[np.int64]], NDArray[np.float64]],
                      strata: Sequence[str] | None = None, n_resamples: int = 1000, confidence: float = 0.95,
                      seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(low, high) of ``statistic`` for each of its outputs, collapsed intervals included (for
    bands, e.g. a ROC curve's TPR that is 1 at FPR 1 in every replicate).

    Args:
        patients: (N,) patient key of each row.
        statistic: row indices (M,) -> (K,) values (NaN where undefined).
        strata: (N,) stratum of each row (constant within a patient), or None.
        n_resamples, confidence, seed: as scipy.stats.bootstrap.
    Returns:
        Two (K,) arrays; NaN where there are fewer than :data:`MIN_PATIENTS` patients, a stratum
        of one patient, or every replicate is undefined.
    """
    low, high, _, _ = _replicates(patients, statistic, strata, n_resamples, confidence, seed)
    return low, high


def cluster_interval(patients: Sequence[str], statistic: Callable[[NDArray[np.int64]], NDArray[np.float64]],
                     strata: Sequence[str] | None = None, n_resamples: int = 1000, confidence: float = 0.95,
                     seed: int = 0) -> Interval:
    """:func:`patient_bootstrap` for a table: no interval (NaN, with the reason in ``method``)
    where there are fewer than :data:`MIN_PATIENTS` patients or a stratum of one, every replicate
    is undefined, or the interval collapses (all finite replicates equal, or low == high)."""
    low, high, dist, why = _replicates(patients, statistic, strata, n_resamples, confidence, seed)
    how = PERCENTILE + (", stratified by class" if strata is not None else "")
    method = []
    for j in range(len(low)):
        if dist is None:
            method.append(why)
            continue
        d = dist[j][np.isfinite(dist[j])]
        if not len(d):
            method.append("none: undefined in every bootstrap replicate")
        elif np.ptp(d) == 0 or low[j] == high[j]:
            method.append(f"none: degenerate bootstrap, the interval collapses to {low[j]:.3g} (too few patients, "
                          f"or a perfect or constant value)")
        else:
            method.append(how)
            continue
        low[j] = high[j] = np.nan
    return Interval(low, high, method)
