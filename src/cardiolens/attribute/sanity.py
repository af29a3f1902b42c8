"""Model-parameter randomisation test (Adebayo et al., NeurIPS 2018, "Sanity checks for saliency maps").

A method that explains the *model* must give different maps when the trained weights are
replaced by random ones. Every parameterised layer of a copy of the model is re-initialised
(``reset_parameters``, the layers' own initialisers, under a fixed seed: the paper's full
randomisation) and the maps of both models are compared per sample by Spearman rank
correlation (scipy). High correlation means the map reflects the input (edges, intensity), not
what the network learned.

A constant or near-constant map (max - min < ``DEGENERATE_SPAN``; after the per-sample [0, 1]
scaling of :func:`cardiolens.attribute.cam.normalise` that is a map that was constant) has no
ranking and attributes nothing: the pair's correlation is NaN, not 0, and :func:`sanity_verdict`
counts it as a failure. Counting it as 0 (no correlation) passed the check for a method whose
maps are empty for both models.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import stats
from torch import nn

DEGENERATE_SPAN = 1e-6  # a map whose values span less than this is constant (no ranking)


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer that has ``reset_parameters`` re-initialised (BN running
    statistics reset too), deterministic for ``seed``."""
    out = copy.deepcopy(model)
    devices = {p.device for p in out.parameters()}
    with torch.random.fork_rng(devices=[d for d in devices if d.type == "cuda"]):
        torch.manual_seed(seed)
        for m in out.modules():
            if hasattr(m, "reset_parameters") and callable(m.reset_parameters):
                m.reset_parameters()
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()
    return out.eval()


def degenerate(maps: NDArray) -> NDArray[np.bool_]:
    """(N,) True where a map of the (N, ...) stack is constant or near-constant (max - min <
    ``DEGENERATE_SPAN``, fewer than two distinct values, or non-finite)."""
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    span = flat.max(axis=1) - flat.min(axis=1) if flat.shape[1] else np.zeros(len(flat))
    return ~(span >= DEGENERATE_SPAN)  # a NaN span is degenerate too


def rank_correlation(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """Spearman correlation per row of two (N, ...) map stacks, (N,); NaN where either map is
    degenerate (:func:`degenerate`)."""
    out = np.full(len(a), np.nan)
    ok = ~degenerate(a) & ~degenerate(b)
    for i, (x, y) in enumerate(zip(a.reshape(len(a), -1), b.reshape(len(b), -1))):
        if ok[i]:
            out[i] = stats.spearmanr(x, y).statistic
    return out


def sanity_verdict(rho: NDArray, threshold: float) -> tuple[float | None, bool | None]:
    """(median correlation, passed) of one method's per-map correlations (N,) (NaN = degenerate).

    The median is over the non-degenerate maps (None when there are none). The check passes when
    the median over *all* maps, a degenerate one counting as +inf (a failure), is below
    ``threshold``: so it fails when half the maps or more are degenerate, and always when all are.
    None when there are no maps.
    """
    rho = np.asarray(rho, dtype=np.float64)
    if rho.size == 0:
        return None, None
    finite = rho[~np.isnan(rho)]
    median = float(np.median(finite)) if finite.size else None
    return median, bool(np.median(np.where(np.isnan(rho), np.inf, rho)) < threshold)
