"""Per-patient explanations of a classifier on tabular features: feature ablation against the
training median, and a line a clinician reads.

The contribution of feature f to the probability of class c for patient x is

    p_c(x) - p_c(x with x_f replaced by the training median of f),

Captum's ``FeatureAblation`` (one feature at a time, the medians as its baseline) on the model's
``predict_proba``. It is the "prediction difference" of Robnik-Šikonja & Kononenko (IEEE TKDE
2008) with the training median as the one replacement value instead of their average over the
feature's values, and the tabular form of occlusion (Zeiler & Fergus, ECCV 2014). Positive: the
patient's value of the feature moves the prediction towards c compared with a typical training
patient. What it does not see: a feature whose information another one also carries (LV EDV and
LV ESV with LV EF) loses credit to it, since only one is ablated at a time; the contributions of
one patient need not sum to p_c(x) - p_c(medians). TreeSHAP would share credit exactly, but it
needs the ``shap`` package, which cardiolens does not depend on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray


def ablation(proba: Callable[[NDArray[np.float64]], NDArray[np.float64]], x: NDArray[np.float64],
             reference: NDArray[np.float64], target: NDArray[np.int64]) -> NDArray[np.float64]:
    """(N, F) contributions (module docstring) of each of F features to the probability of class
    ``target[i]`` for row i of ``x`` (N, F); ``proba``: (M, F) -> (M, C); ``reference``: (F,)."""
    import torch
    from captum.attr import FeatureAblation

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or reference.shape != (x.shape[1],) or target.shape != (x.shape[0],):
        raise ValueError(f"x must be (N, F), reference (F,), target (N,); got {x.shape}, {reference.shape}, {target.shape}")
    if not len(x):
        return np.zeros((0, x.shape[1]))

    def forward(t: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(proba(t.detach().numpy()), dtype=np.float64))

    out = FeatureAblation(forward).attribute(torch.from_numpy(x), baselines=torch.from_numpy(reference)[None],
                                             target=torch.from_numpy(np.asarray(target, dtype=np.int64)))
    return out.numpy()


def format_value(value: float, unit: str) -> str:
    """``28.3 %``, ``160 ml/m²``, ``1.85`` (ratios), ``n/a`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def explanation_line(cls: str, probability: float, names: Sequence[str], values: Sequence[float], units: Sequence[str],
                     references: Sequence[float], contributions: Sequence[float], top: int = 3) -> str:
    """``DCM (p 0.91): LV EF 16.0 % (median 55.2, +0.31), LV EDV 153 ml/m² (median 78.4, +0.12)``:
    the ``top`` features that moved the prediction most towards ``cls`` (positive contributions
    only, largest first), or a note that no single feature did."""
    order = [i for i in np.argsort(-np.asarray(contributions, dtype=float), kind="stable") if contributions[i] > 0][:top]
    head = f"{cls} (p {probability:.2f})"
    if not order:
        return f"{head}: no single index moves the prediction towards it"
    parts = [f"{names[i]} {format_value(values[i], units[i])} (median {format_value(references[i], '')}, "
             f"+{contributions[i]:.2f})" for i in order]
    return f"{head}: " + ", ".join(parts)
