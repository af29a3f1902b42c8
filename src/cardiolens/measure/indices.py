"""Cardiac indices of a short-axis cine-MR stack from its end-diastolic and end-systolic label maps.

Volumes by Simpson's slice summation: voxel count x dx * dy * dz (mm^3 / 1000 = ml), the disc
method of the CMR reference ranges (Kawel-Boehm et al., JCMR 2020); ejection fraction
100 * (EDV - ESV) / EDV; LV mass = ED myocardium volume x 1.05 g/ml (myocardial density; the
septum counts as myocardium). Wall thickness: :func:`cardiolens.measure.thickness.ray_thickness`
on every ED (and ES) slice; its variation around each slice (the standard deviation of the
slice's rays, averaged over the slices with at least half of their rays measured) is the
per-slice thickness spread that Isensee et al. (STACOM 2017, LNCS 10663) and Khened et al.
(MedIA 2019) fed their diagnosis classifiers: an infarct thins and stops thickening a sector of
the wall, a dilated or hypertrophied ventricle changes it all around. Indexing by body-surface
area: Mosteller, NEJM 1987.

Slices holding an ``UNLABELLED`` pixel at ED or at ES are left out of both frames, so that EDV and
ESV sum the same slices; the count left is :func:`labelled_slices`. Papillary muscles and
trabeculae count as cavity when the masks include them in it (ACDC's ground truth does).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens.measure.thickness import MYO_CODES, ray_thickness

#: Myocardial density, g/ml.
MYOCARDIAL_DENSITY = 1.05
#: Codes a short-axis mask may hold (atria may appear at the base; they count for nothing here).
ALLOWED_CODES = frozenset({L.BACKGROUND, L.LV_CAVITY, L.MYOCARDIUM, L.SEPTUM, L.RV_CAVITY, L.LEFT_ATRIUM,
                           L.RIGHT_ATRIUM, L.UNLABELLED})
#: Keys of :func:`stack_indices`, in table order. The two ratios: RV/LV EDV separates RV dilation
#: from biventricular dilation (ACDC's RV vs DCM classes); mass/EDV (g/ml) separates concentric
#: hypertrophy (high) from eccentric dilation (low) when both mass and volume are abnormal.
#: No RV/LV EF ratio: it is redundant with the two EFs and unstable where LV EF is low.
#: The two thickness spreads (``_sd_``) separate a regional wall (MINF) from a global one (DCM).
INDEX_NAMES = (
    "lv_edv_ml", "lv_esv_ml", "lv_sv_ml", "lv_ef_percent", "rv_edv_ml", "rv_esv_ml", "rv_ef_percent", "lv_mass_g",
    "myo_thickness_max_mm", "myo_thickness_mean_mm", "myo_thickness_max_es_mm", "myo_thickness_sd_mm",
    "myo_thickness_sd_es_mm", "rv_lv_edv_ratio", "lv_mass_edv_ratio",
)
#: Indices divided by BSA in :func:`indexed` (suffix ``_per_m2``).
PER_M2 = ("lv_edv_ml", "lv_esv_ml", "rv_edv_ml", "rv_esv_ml", "lv_mass_g")


def labelled_slices(ed_mask: NDArray[np.integer], es_mask: NDArray[np.integer]) -> NDArray[np.bool_]:
    """(S,) True for the slices without an ``UNLABELLED`` pixel in either (S, H, W) mask."""
    if ed_mask.ndim != 3 or ed_mask.shape != es_mask.shape:
        raise ValueError(f"ED and ES masks must be (S, H, W) of one shape, got {ed_mask.shape} and {es_mask.shape}")
    return ~((ed_mask == L.UNLABELLED) | (es_mask == L.UNLABELLED)).any(axis=(1, 2))


def _ef(edv: float, esv: float) -> float:
    # Negative when the ES mask is the larger (a segmentation failure): reported, not hidden.
    return 100.0 * (edv - esv) / edv if edv > 0 else math.nan


def _slice_rays(mask: NDArray[np.integer], spacing_xy: tuple[float, float], n_rays: int) -> list[NDArray[np.float64]]:
    """The measured (finite) ray thicknesses of each slice of an (S, H, W) mask."""
    return [r[np.isfinite(r)] for r in (ray_thickness(s, spacing_xy, n_rays) for s in mask)]


def _thickness(rays: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    return np.concatenate(rays) if rays else np.empty(0)


def thickness_spread(rays: list[NDArray[np.float64]], n_rays: int) -> float:
    """Mean over slices of the standard deviation (ddof 0) of a slice's ray thicknesses, mm.

    Only slices with at least half of their ``n_rays`` measured count: a basal slice cut open by
    the outflow tract would otherwise give the spread of a few rays. NaN when no slice qualifies.
    """
    sds = [float(r.std()) for r in rays if r.size >= n_rays / 2]
    return float(np.mean(sds)) if sds else math.nan


def stack_indices(ed_mask: NDArray[np.integer], es_mask: NDArray[np.integer],
                  spacing_mm: tuple[float, float, float], n_rays: int = 90) -> dict[str, float]:
    """Volumes, function, mass, wall thickness and two ratios of one short-axis stack.

    Args:
        ed_mask, es_mask: (S, H, W) label maps (:mod:`cardiolens.labels` codes) at ED and ES.
        spacing_mm: (dx, dy, dz) in mm, ITK order: x = column, y = row, z = slice.
        n_rays: rays per slice of the thickness measurement.

    Returns:
        :data:`INDEX_NAMES` -> value: volumes in ml, EF in %, mass in g, thickness in mm (max: the
        largest ray of any slice, i.e. the maximum over slices of the per-slice maximum; mean: over
        every measured ray; sd: :func:`thickness_spread`), ``lv_mass_edv_ratio`` in g/ml. NaN where
        undefined: RV EF and the RV/LV ratio without RV at ED, thickness without a measurable ray.

    Raises:
        ValueError: masks of different shapes or not 3-D, unknown label codes, non-positive
            spacing, no labelled slice, no LV cavity at ED.
    """
    keep = labelled_slices(ed_mask, es_mask)
    if len(spacing_mm) != 3 or not all(float(s) > 0 for s in spacing_mm):
        raise ValueError(f"spacing_mm must be three positive numbers (dx, dy, dz), got {spacing_mm}")
    for name, mask in (("ED", ed_mask), ("ES", es_mask)):
        bad = sorted(set(np.unique(mask).tolist()) - ALLOWED_CODES)
        if bad:
            raise ValueError(f"{name} mask holds label codes {bad[:5]} outside {sorted(ALLOWED_CODES)}")
    if not keep.any():
        raise ValueError(f"no slice of the {ed_mask.shape[0]} is labelled at both ED and ES")
    ed, es = ed_mask[keep], es_mask[keep]
    dx, dy, dz = (float(s) for s in spacing_mm)
    ml = dx * dy * dz / 1000.0

    def volume(mask: NDArray[np.integer], codes: tuple[int, ...]) -> float:
        return float(np.isin(mask, codes).sum()) * ml

    lv_edv, lv_esv = volume(ed, (L.LV_CAVITY,)), volume(es, (L.LV_CAVITY,))
    if lv_edv == 0:
        raise ValueError("the ED mask has no LV cavity in its labelled slices")
    rv_edv, rv_esv = volume(ed, (L.RV_CAVITY,)), volume(es, (L.RV_CAVITY,))
    mass = volume(ed, MYO_CODES) * MYOCARDIAL_DENSITY
    rays_ed, rays_es = _slice_rays(ed, (dx, dy), n_rays), _slice_rays(es, (dx, dy), n_rays)
    th_ed, th_es = _thickness(rays_ed), _thickness(rays_es)
    out = {
        "lv_edv_ml": lv_edv, "lv_esv_ml": lv_esv, "lv_sv_ml": lv_edv - lv_esv, "lv_ef_percent": _ef(lv_edv, lv_esv),
        "rv_edv_ml": rv_edv, "rv_esv_ml": rv_esv, "rv_ef_percent": _ef(rv_edv, rv_esv), "lv_mass_g": mass,
        "myo_thickness_max_mm": float(th_ed.max()) if th_ed.size else math.nan,
        "myo_thickness_mean_mm": float(th_ed.mean()) if th_ed.size else math.nan,
        "myo_thickness_max_es_mm": float(th_es.max()) if th_es.size else math.nan,
        "myo_thickness_sd_mm": thickness_spread(rays_ed, n_rays),
        "myo_thickness_sd_es_mm": thickness_spread(rays_es, n_rays),
        "rv_lv_edv_ratio": rv_edv / lv_edv if rv_edv > 0 else math.nan,
        "lv_mass_edv_ratio": mass / lv_edv,
    }
    return {k: out[k] for k in INDEX_NAMES}


def bsa_mosteller(height_cm: float, weight_kg: float) -> float:
    """Body-surface area in m^2, sqrt(height_cm * weight_kg / 3600) (Mosteller, NEJM 1987)."""
    for name, v in (("height_cm", height_cm), ("weight_kg", weight_kg)):
        if isinstance(v, bool) or not (isinstance(v, numbers.Real) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    return math.sqrt(height_cm * weight_kg / 3600.0)


def indexed(indices: Mapping[str, float], bsa_m2: float | None) -> dict[str, float | None]:
    """``indices`` plus ``<name>_per_m2`` for each of :data:`PER_M2` (None when ``bsa_m2`` is None or NaN)."""
    missing = [k for k in PER_M2 if k not in indices]
    if missing:
        raise ValueError(f"indices lack {missing}")
    if bsa_m2 is not None and not (math.isnan(bsa_m2) or bsa_m2 > 0):
        raise ValueError(f"bsa_m2 must be positive, got {bsa_m2!r}")
    known = bsa_m2 is not None and not math.isnan(bsa_m2)
    out: dict[str, float | None] = dict(indices)
    out.update({f"{k}_per_m2": indices[k] / bsa_m2 if known else None for k in PER_M2})
    return out
