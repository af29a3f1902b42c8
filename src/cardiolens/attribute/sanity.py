"""Model-parameter randomisation test (Adebayo et al., NeurIPS 2018, "Sanity checks for saliency maps").

A method that explains the *model* must give different maps when the trained weights are
replaced by random ones. Every parameterised layer of a copy of the model is re-initialised
(``reset_parameters``, the layers' own initialisers, under a fixed seed: the paper's full
randomisation) and the maps of both models are compared per sample by Spearman rank
correlation (scipy) over the locations where the input is not black (the paper ranks the whole
map; the two agree on an input without black; see :func:`rank_correlation` for why). High
correlation means the map reflects the input (edges, intensity), not what the network learned.

A constant or near-constant *trained* map has no ranking and attributes nothing: the pair's
correlation is NaN, not 0, and :func:`sanity_verdict` counts it as a failure (counting it as 0,
"no correlation", passed the check for a method whose maps are empty for both models). A trained
map that varies against a constant *randomised* map (a random network's Grad-CAM is often all
zero after the ReLU) counts as 0: the map did change when the weights were randomised, which is
what the check asks. Degeneracy is
judged on the *raw* map, before the per-sample [0, 1] scaling of
:func:`cardiolens.attribute.cam.normalise`: that scaling stretches any variation, even 1e-9, to
span 1, so a normalised map only shows whether the raw one was exactly constant. A raw map is
degenerate (:func:`degenerate_extent`) when its span max - min is 0, or below
``DEGENERATE_RELATIVE_SPAN`` times its largest absolute value (variation at the level of float32
round-off, about 1.2e-7 relative, or below), or its largest absolute value is 0 (a Grad-CAM map
that is all zero after the ReLU), or it is non-finite. :func:`map_extent` gives the span and
the largest absolute value of each raw map (:func:`cardiolens.attribute.methods.attribute_with_extent`
returns them with the maps).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import stats

if TYPE_CHECKING:  # torch is imported where a model is randomised: the merge job needs only NumPy
    from torch import nn

DEGENERATE_RELATIVE_SPAN = 1e-6  # a raw map whose span is below this times its max |value| is near-constant


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer that has ``reset_parameters`` re-initialised (BN running
    statistics reset too), deterministic for ``seed``."""
    import torch

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


def map_extent(maps: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(span, max_abs), each (N,), of an (N, ...) stack of raw (not normalised) maps: max - min and
    max |value| of each map, in float64; NaN for a map with a non-finite value or no values."""
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    if not flat.shape[1]:
        return np.full(len(flat), np.nan), np.full(len(flat), np.nan)
    with np.errstate(invalid="ignore"):
        span = flat.max(axis=1) - flat.min(axis=1)
        max_abs = np.abs(flat).max(axis=1)
    bad = ~np.isfinite(flat).all(axis=1)
    span[bad], max_abs[bad] = np.nan, np.nan
    return span, max_abs


def degenerate_extent(span: NDArray, max_abs: NDArray) -> NDArray[np.bool_]:
    """(N,) True where a raw map with these (N,) ``span`` and ``max_abs`` (:func:`map_extent`) is
    constant or near-constant: span == 0, span < ``DEGENERATE_RELATIVE_SPAN`` * max_abs,
    max_abs == 0, or either is NaN (module docstring)."""
    span, max_abs = np.asarray(span, dtype=np.float64), np.asarray(max_abs, dtype=np.float64)
    ok = (span > 0) & (max_abs > 0) & (span >= DEGENERATE_RELATIVE_SPAN * max_abs)  # False for NaN
    return ~ok


def degenerate(maps: NDArray) -> NDArray[np.bool_]:
    """(N,) True where a map of the (N, ...) stack of *raw* maps is constant or near-constant
    (:func:`degenerate_extent` of :func:`map_extent`). On normalised maps it only catches
    exactly constant ones; pass the raw maps, or their extent."""
    return degenerate_extent(*map_extent(maps))


def rank_correlation(a: NDArray, b: NDArray, degenerate_a: NDArray[np.bool_] | None = None,
                     degenerate_b: NDArray[np.bool_] | None = None,
                     where: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
    """Spearman correlation per row of two (N, ...) map stacks, ``a`` the trained model's and ``b``
    the randomised model's, (N,): NaN where the trained map is degenerate, 0 where only the
    randomised one is (module docstring). ``degenerate_a`` / ``degenerate_b`` (N,) are the flags
    of the raw maps (:func:`degenerate_extent`) and must be given when ``a`` / ``b`` are normalised
    maps; without them the flags are computed from ``a`` and ``b`` themselves (:func:`degenerate`).

    ``where`` (N, ...) like the maps, or None for every location: the locations ranked, those where
    the input is not black. A method that gives black input nothing (integrated gradients from the
    black image) is 0 there in both maps, and those ties would raise the correlation whatever the
    weights (on ACDC's mask-guided crops, black on 64 % of the input, to a median of 0.39 for a
    map against itself shuffled). Within them a map that is constant counts as degenerate as
    above (the trained one: NaN; the randomised one alone: 0)."""
    da = degenerate(a) if degenerate_a is None else np.asarray(degenerate_a, bool)
    db = degenerate(b) if degenerate_b is None else np.asarray(degenerate_b, bool)
    if da.shape != (len(a),) or db.shape != (len(b),):
        raise ValueError(f"rank_correlation: degenerate flags {da.shape}, {db.shape} do not match {len(a)}, {len(b)} maps")
    keep = np.ones(a.shape, bool) if where is None else np.asarray(where, bool)
    if keep.shape != a.shape or a.shape != b.shape:
        raise ValueError(f"rank_correlation: maps {a.shape} and {b.shape}, locations {keep.shape} differ in shape")
    out = np.where(~da & db, 0.0, np.nan)
    ok = ~da & ~db
    for i, (x, y, k) in enumerate(zip(a.reshape(len(a), -1), b.reshape(len(b), -1), keep.reshape(len(keep), -1))):
        if not ok[i]:
            continue
        x, y = x[k], y[k]
        if x.size < 2 or np.ptp(x) == 0:  # the trained map ranks nothing the network sees
            continue
        out[i] = 0.0 if np.ptp(y) == 0 else stats.spearmanr(x, y).statistic
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
