"""Quantitative checks of one attribution map against anatomy and against the model.

Maps are non-negative arrays of any shape (a sample's map layout, see
:mod:`cardiolens.attribute.methods`); ROIs are boolean arrays of the same shape. Pure
functions over arrays; the faithfulness curves need the model and live in
:func:`deletion_insertion`.

- ROI mass: the share of the total attribution inside the ROI (NaN when the ROI is empty),
  and its chance level: the mass of a map spread evenly over the locations where the input is not
  black (:func:`uniform_mass`). A path method with the black baseline (integrated gradients,
  Sundararajan et al. 2017) gives background zeroed by the preparation (``background_mm``) and
  pixels clipped to 0 exactly nothing, by construction (where the image is black still outlines
  the heart), so its map only beats the chance level by preferring the heart among the pixels
  that are not black. Methods that can attribute black pixels (upsampled CAMs) have the heart's
  share of the whole input as their null.
- Pointing game (Zhang et al., IJCV 2018, "Top-down neural attention by excitation backprop"):
  a hit when a maximum of the map lies within ``tolerance`` pixels of the ROI (they use 15 px at
  224 px). Every pixel that reaches the maximum counts (bilinear upsampling makes plateaus); an
  all-zero map is a miss.
- Dispersion: normalised Shannon entropy of the map as a distribution (1 = uniform) and the Gini
  coefficient of its values (0 = uniform, 1 = one pixel), as in Chalasani et al. 2020.
- Deletion / insertion AUC (Petsiuk, Das & Saenko, BMVC 2018, "RISE"): the target's score while
  the most attributed locations are removed from the input (deletion; low is faithful) or
  inserted into the baseline (insertion; high is faithful), area under the curve over the
  removed fraction 0..1 (trapezoid rule).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage

from cardiolens.prepare.samples import ROI_BITS


def roi(bits: NDArray[np.uint8], names: list[str] | tuple[str, ...]) -> NDArray[np.bool_]:
    """Intersection of the named ROI bits of a bitmask array (see ROI_BITS)."""
    out = np.ones(bits.shape, bool)
    for n in names:
        out &= ((bits >> ROI_BITS[n]) & 1).astype(bool)
    return out


def match_roi(bits: NDArray[np.uint8], map_shape: tuple[int, ...]) -> NDArray[np.uint8]:
    """The sample's ROI bitmask in the map's layout: equal shapes stay; several channels are OR-ed
    into one when the map has one (a single-input model of ED+ES frames)."""
    if bits.shape == tuple(map_shape):
        return bits
    if map_shape[0] == 1 and bits.shape[1:] == tuple(map_shape[1:]):
        return np.bitwise_or.reduce(bits, axis=0, keepdims=True)
    raise ValueError(f"ROI shape {bits.shape} does not fit map shape {tuple(map_shape)}")


def match_visible(visible: NDArray[np.bool_] | None, map_shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """A sample's non-black locations (its shape; None: all) in the map's layout (:func:`match_roi`)."""
    if visible is None:
        return np.ones(map_shape, bool)
    return match_roi(np.asarray(visible).astype(np.uint8), map_shape).astype(bool)


def mass(m: NDArray, region: NDArray[np.bool_]) -> float:
    """Share of the attribution inside ``region``; NaN for an empty region or an all-zero map."""
    total = float(m.sum())
    if not region.any() or total <= 0:
        return float("nan")
    return min(1.0, max(0.0, float(m[region].sum()) / total))  # float32 sums can overshoot by an ulp


def uniform_mass(region: NDArray[np.bool_], visible: NDArray[np.bool_]) -> float:
    """Share of the ``visible`` locations (input not black) that lie in ``region``: the ROI mass of a
    map uniform over them. Same shapes; NaN when the region is empty or nothing is visible."""
    n = int(visible.sum())
    if not region.any() or n == 0:
        return float("nan")
    return float((region & visible).sum()) / n


def pointing_hit(m: NDArray, region: NDArray[np.bool_], tolerance: float) -> bool | None:
    """True when a maximum of ``m`` lies within ``tolerance`` pixels of ``region`` (None: empty region).

    Distances are taken over the last two (spatial) axes of every leading index that holds a
    maximum, i.e. per frame of a clip and per input of an ED/ES pair.
    """
    if not region.any():
        return None
    if m.max() <= 0:  # an empty map points nowhere
        return False
    peak = m >= m.max() - 1e-6 * max(float(m.max()), 1e-12)
    if tolerance > 0:
        near = np.stack([ndimage.distance_transform_edt(~r) <= tolerance if r.any() else np.zeros_like(r)
                         for r in region.reshape(-1, *region.shape[-2:])]).reshape(region.shape)
    else:
        near = region
    return bool((peak & near).any())


def entropy(m: NDArray) -> float:
    """Shannon entropy of m / sum(m), divided by log(m.size): 1 for a uniform map."""
    p = m.ravel().astype(np.float64)
    s = p.sum()
    if s <= 0 or p.size < 2:
        return float("nan")
    p = p[p > 0] / s
    return float(-(p * np.log(p)).sum() / np.log(m.size))


def gini(m: NDArray) -> float:
    """Gini coefficient of the map's values (0 uniform, -> 1 concentrated)."""
    v = np.sort(m.ravel().astype(np.float64))
    n, s = v.size, v.sum()
    if s <= 0:
        return float("nan")
    k = np.arange(1, n + 1)
    return float(((2 * k - n - 1) * v).sum() / (n * s))


def outside_heart(m: NDArray, heart: NDArray[np.bool_], threshold: float, margin_px: int,
                  top_fraction: float = 0.1) -> tuple[float, float, bool | None]:
    """Attention outside the heart: (mass share outside the heart dilated by ``margin_px``
    in-plane, share of the map's ``top_fraction`` most attributed locations lying outside it,
    flag = that share > ``threshold``).

    The flag looks at where the map is *hot*, not at its total mass: a coarse CAM (4x4 cells
    upsampled) spreads mass over the background around a heart it points at, so the mass share
    outside is high even for a model that looks at the heart; its hottest decile is not. Ties at
    the cut-off value are all included, but a location with no attribution is never hot: a sparse
    map (integrated gradients from the black baseline give the zeroed background exactly 0) may
    have fewer positive locations than the top fraction, and its zeros would otherwise all tie at
    a cut-off of 0 and flag the map by the background's size. None flag when the sample has no
    heart ROI.
    """
    if not heart.any():
        return float("nan"), float("nan"), None
    grown = heart
    if margin_px > 0:
        planes = heart.reshape(-1, *heart.shape[-2:])
        grown = np.stack([ndimage.binary_dilation(p, iterations=margin_px) if p.any() else p for p in planes]).reshape(heart.shape)
    out = min(1.0, max(0.0, 1.0 - mass(m, grown))) if m.sum() > 0 else float("nan")
    flat = m.ravel()
    if flat.max() <= 0:
        return out, float("nan"), None
    k = max(1, int(np.ceil(top_fraction * flat.size)))
    hot = (flat >= np.partition(flat, -k)[-k]) & (flat > 0)
    top = float((~grown.ravel()[hot]).mean())
    return out, top, bool(top > threshold)


def temporal_profile(m: NDArray) -> list[float]:
    """Share of a clip map's attribution in each frame: (T, H, W) -> T values summing to 1."""
    per = m.reshape(m.shape[0], -1).sum(axis=1).astype(np.float64)
    return (per / per.sum()).tolist() if per.sum() > 0 else [float("nan")] * len(per)


def input_shares(m: NDArray) -> list[float]:
    """Share of the attribution in each input of a (inputs, ...) map, e.g. [ED, ES]."""
    per = m.reshape(m.shape[0], -1).sum(axis=1).astype(np.float64)
    return (per / per.sum()).tolist() if per.sum() > 0 else [float("nan")] * len(per)


def curve_auc(scores: NDArray) -> NDArray:
    """Trapezoid area under (K+1) scores per row over fractions 0, 1/K, ..., 1."""
    return np.trapezoid(scores, dx=1.0 / (scores.shape[-1] - 1), axis=-1)


@torch.no_grad()
def deletion_insertion(score_fn, x: torch.Tensor, maps: torch.Tensor, target: torch.Tensor, steps: int,
                       baseline: torch.Tensor | None = None, chunk: int = 64) -> tuple[NDArray, NDArray]:
    """Deletion and insertion AUCs (B,) each, RISE protocol.

    ``score_fn(x) -> (B, outputs)`` scores (class probabilities, or regression outputs);
    ``maps`` (B, *map layout) order the locations (ties broken by position, stable); at step k of
    ``steps`` the first ceil(k N / steps) locations come from the baseline (deletion) or from the
    input (insertion, starting from the baseline). ``baseline`` defaults to zeros: the training
    mean image after normalisation.
    """
    from cardiolens.attribute.methods import to_input

    b = len(x)
    base = torch.zeros_like(x) if baseline is None else baseline.expand_as(x)
    flat = maps.reshape(b, -1)
    n = flat.shape[1]
    order = torch.argsort(-flat, dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n, device=order.device).expand(b, n))
    counts = [int(np.ceil(k * n / steps)) for k in range(steps + 1)]
    dele, ins = [], []
    for c in counts:
        keep = (rank < c).reshape(maps.shape).to(x.dtype)  # 1 = among the c most attributed
        k = to_input(keep, x)
        dele.append(x * (1 - k) + base * k)
        ins.append(base * (1 - k) + x * k)
    batch = torch.cat(dele + ins)  # ((2 (steps+1)) B, ...)
    out = torch.cat([score_fn(batch[i:i + chunk]) for i in range(0, len(batch), chunk)])
    idx = target.repeat(2 * (steps + 1))
    s = out[torch.arange(len(out), device=out.device), idx.to(out.device)].reshape(2, steps + 1, b).permute(0, 2, 1).cpu().numpy().astype(np.float64)
    return curve_auc(s[0]), curve_auc(s[1])
