"""Confidence intervals that resample patients, not samples (samples of one patient are not
independent: M-mode lines, slices and recordings of the same heart).

:func:`patient_bootstrap` is scipy.stats.bootstrap (percentile method) over patient indices,
stratified by the patient's class when given: each class's patients are resampled with
replacement on their own (scipy's independent resampling of several samples), so every
replicate keeps the class balance and the AUC stays defined, as in pROC's stratified bootstrap
(Robin et al., BMC Bioinformatics 2011). The statistic of a replicate is computed on all rows of
the drawn patients (a patient drawn twice counts twice).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray


def patient_bootstrap(patients: Sequence[str], statistic: Callable[[NDArray[np.int64]], NDArray[np.float64]],
                      strata: Sequence[str] | None = None, n_resamples: int = 1000, confidence: float = 0.95,
                      seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(low, high) of ``statistic`` for each of its outputs.

    Args:
        patients: (N,) patient key of each row.
        statistic: row indices (M,) -> (K,) values (NaN where undefined).
        strata: (N,) stratum of each row (constant within a patient), or None.
        n_resamples, confidence, seed: as scipy.stats.bootstrap.
    Returns:
        Two (K,) arrays; NaN where fewer than two patients or every replicate is undefined.
    """
    from scipy.stats import DegenerateDataWarning, bootstrap

    patients = np.asarray(patients)
    keys, inverse = np.unique(patients, return_inverse=True)
    rows_of = [np.nonzero(inverse == k)[0] for k in range(len(keys))]
    if strata is None:
        groups = [np.arange(len(keys))]
    else:
        s = np.asarray(strata)
        first = np.array([s[r[0]] for r in rows_of])
        groups = [np.nonzero(first == v)[0] for v in np.unique(first)]
        if min(len(g) for g in groups) < 2:  # a class with one patient cannot be resampled on its own
            groups = [np.arange(len(keys))]
    k = len(statistic(np.arange(len(patients))))
    nan = np.full(k, np.nan)
    if len(keys) < 2:
        return nan, nan.copy()

    def stat(*samples: NDArray[np.int64]) -> NDArray[np.float64]:
        idx = np.concatenate([rows_of[int(p)] for sample in samples for p in sample])
        return np.asarray(statistic(idx), dtype=np.float64)

    with warnings.catch_warnings():  # a constant replicate distribution (e.g. accuracy 1.0) is a valid answer here
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = bootstrap(tuple(groups), stat, n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                        vectorized=False, paired=False, rng=np.random.default_rng(seed))
    low, high = np.atleast_1d(res.confidence_interval.low).astype(float), np.atleast_1d(res.confidence_interval.high).astype(float)
    dist = np.asarray(res.bootstrap_distribution).reshape(k, -1)
    missing = ~np.isfinite(low) | ~np.isfinite(high)
    if missing.any():  # replicates where the value is undefined (e.g. a class absent) are left out
        alpha = (1 - confidence) / 2
        for j in np.nonzero(missing)[0]:
            d = dist[j][np.isfinite(dist[j])]
            low[j], high[j] = (np.quantile(d, alpha), np.quantile(d, 1 - alpha)) if len(d) else (np.nan, np.nan)
    return low, high
