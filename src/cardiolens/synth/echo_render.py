"""B-mode rendering of the kinematic A4C model: speckle, attenuation, sector, quality, marker.

Image formation is the usual simulation shortcut (e.g. Alessandrini et al., IEEE TMI 2015,
for their synthetic echo sequences): tissue echogenicity times a fully developed speckle
field (magnitude of a low-pass complex Gaussian field: Rayleigh amplitude, anisotropic
resolution cell), depth attenuation, additive electronic noise, log compression to 8 bits and
a sector mask. Tissue speckle is attached to the reference (end-diastolic) positions so it
moves with the myocardium; blood speckle decorrelates every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cardiolens import labels as L
from cardiolens.synth.cycle import flash_profile
from cardiolens.synth.echo_model import Anatomy, Motion, atria, label_map, reference_coords, segment_index

#: Myocardial gain and cavity clutter per quality grade (1 poor, 2 fair, 3 good).
QUALITY_GAIN = {1: 0.35, 2: 0.65, 3: 1.0}
QUALITY_CLUTTER = {1: 0.20, 2: 0.09, 3: 0.0}
DYNAMIC_RANGE_DB = 40.0


@dataclass(frozen=True)
class Scanner:
    rows: int
    cols: int
    spacing_mm: float
    sector_deg: float
    snr_db: float
    attenuation_db_per_mm: float = 0.05


def speckle_field(rng: np.random.Generator, shape: tuple[int, int], axial_px: float = 0.7, lateral_px: float = 1.6) -> NDArray[np.float64]:
    """Rayleigh speckle with unit mean power; resolution cell axial x lateral (pixels, sigma)."""
    re = ndimage.gaussian_filter(rng.standard_normal(shape), (axial_px, lateral_px))
    im = ndimage.gaussian_filter(rng.standard_normal(shape), (axial_px, lateral_px))
    amp = np.hypot(re, im)
    return amp / np.sqrt(np.mean(amp**2))


def sector_mask(sc: Scanner) -> NDArray[np.bool_]:
    """Pixels inside the imaging sector (apex at the top centre)."""
    y = np.arange(sc.rows) * sc.spacing_mm
    x = np.arange(sc.cols) * sc.spacing_mm - sc.cols * sc.spacing_mm / 2
    yy, xx = np.meshgrid(y, x, indexing="ij")
    r = np.hypot(xx, yy)
    ang = np.degrees(np.arctan2(np.abs(xx), yy))
    return (ang <= sc.sector_deg / 2) & (r <= sc.rows * sc.spacing_mm) & (r >= 2.0)


def echogenicity(anat: Anatomy, a: NDArray[np.float64], b: NDArray[np.float64], lab: NDArray[np.uint8], quality: dict[int, int],
                 haze_at: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None) -> NDArray[np.float64]:
    """Mean backscatter amplitude at reference positions (blood ~0.01, myocardium ~0.55).

    ``haze_at``: the reference positions at which the cavity haze of poor segments is placed
    (default ``(a, b)``: it moves with the wall). `render_frame` passes the positions of a motion
    without the septal flash, so that the haze, an image-quality artefact, carries no flash.
    """
    e = np.full(a.shape, 0.2)  # extracardiac tissue
    p_sep = anat.epi(a, "sep")
    p_lat = anat.epi(a, "lat")
    outer = np.where(b < 0, p_sep + anat.rv(a), p_lat)
    pericardium = (a > -2) & (a < anat.length + anat.h_apex + 3) & (np.abs(b) >= np.maximum(outer, 1e-3)) & (np.abs(b) < outer + 3.0)
    e = np.where(pericardium, 0.85, e)
    rv_free = (a >= 0) & (b < -(p_sep + anat.rv(a))) & (b > -(p_sep + anat.rv(a) + 3.5)) & (anat.rv(a) > 0)
    e = np.where(rv_free, 0.6, e)
    la, ra = atria(anat, a, b)
    atrial_region = (a < 0) & (a > -anat.la_length - 3)
    e = np.where(atrial_region & ~la & ~ra, 0.45, e)
    annulus = (np.abs(a) < 2.5) & (
        (np.abs(b + anat.w_sep + anat.h_sep / 2) < 3.0) | (np.abs(b - anat.w_lat - anat.h_lat / 2) < 3.0)
    )
    e = np.where(annulus, 1.0, e)
    blood = np.isin(lab, (L.LV_CAVITY, L.RV_CAVITY, L.LEFT_ATRIUM, L.RIGHT_ATRIUM))
    e = np.where(blood, 0.012, e)
    myo = np.isin(lab, (L.MYOCARDIUM, L.SEPTUM))
    seg = segment_index(anat, a, b)
    gain = np.ones(a.shape)
    for idx, grade in quality.items():
        gain = np.where(seg == idx, QUALITY_GAIN[grade], gain)
    e = np.where(myo, 0.55 * gain, e)
    # Clutter (haze) in the LV cavity next to a poor segment: within 10 mm of its endocardium.
    ha, hb = haze_at if haze_at is not None else (a, b)
    cav = lab == L.LV_CAVITY
    endo = np.where(hb < 0, anat.endo(ha, "sep"), anat.endo(ha, "lat"))
    near = cav & (endo - np.abs(hb) < 10.0)
    if haze_at is not None:
        seg = segment_index(anat, ha, hb)
    for idx, grade in quality.items():
        e = np.where(near & (seg == idx), e + QUALITY_CLUTTER[grade], e)
    return e


def render_frame(
    anat: Anatomy,
    motion: Motion,
    sc: Scanner,
    phi: float,
    tissue_speckle: NDArray[np.float64],
    rng: np.random.Generator,
    quality: dict[int, int],
    sector: NDArray[np.bool_],
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """One B-mode frame (rows, cols) uint8 and its label map at cardiac phase ``phi``."""
    # Pixel (i, j) is centred at (j * spacing, i * spacing): ITK's convention with origin 0, so
    # model coordinates are the canonical image's physical coordinates.
    y = np.arange(sc.rows) * sc.spacing_mm
    x = np.arange(sc.cols) * sc.spacing_mm
    yy, xx = np.meshgrid(y, x, indexing="ij")
    a, b = anat.to_lv(xx, yy)
    a_ref, b_ref = reference_coords(anat, motion, phi, a, b)
    lab = label_map(anat, a_ref, b_ref)
    # The cavity haze follows the wall's contraction but not the septal flash: the flash is the
    # septal-flash study's whole class difference and its ground truth puts it in the septum, so
    # it must not also show as haze moving inside the LV cavity (where it did: Grad-CAM++ of
    # flash M-modes pointed at the haze's edge, 5-10 mm into the cavity). Outside the flash the
    # two maps are the same.
    flashing = motion.flash_mm and float(flash_profile(np.array([phi]), motion.timing)[0]) > 0
    haze_at = reference_coords(anat, replace(motion, flash_mm=0.0), phi, a, b) if flashing else None
    e = echogenicity(anat, a_ref, b_ref, lab, quality, haze_at)
    xr, yr = anat.to_image(a_ref, b_ref)
    coords = np.stack([yr / sc.spacing_mm, xr / sc.spacing_mm])
    sp_tissue = ndimage.map_coordinates(tissue_speckle, coords, order=1, mode="reflect")
    blood = np.isin(lab, (L.LV_CAVITY, L.RV_CAVITY, L.LEFT_ATRIUM, L.RIGHT_ATRIUM))
    sp = np.where(blood, speckle_field(rng, lab.shape), sp_tissue)
    depth = np.hypot(xx - sc.cols * sc.spacing_mm / 2, yy)
    # Attenuation partly compensated by time-gain compensation (half of it remains).
    amp = e * sp * 10 ** (-0.5 * sc.attenuation_db_per_mm * depth / 20)
    noise_sd = 0.55 * 10 ** (-sc.snr_db / 20)
    amp = np.hypot(amp + noise_sd * rng.standard_normal(amp.shape), noise_sd * rng.standard_normal(amp.shape))
    db = 20 * np.log10(np.maximum(amp, 1e-6) / 1.0)
    img = np.clip((db + DYNAMIC_RANGE_DB) / DYNAMIC_RANGE_DB, 0.0, 1.0) * 255.0
    img = np.where(sector, img, 0.0)
    return np.round(img).astype(np.uint8), lab


def draw_marker(frames: NDArray[np.uint8], box: tuple[int, int, int, int]) -> None:
    """Burn an 'L'-shaped bright annotation glyph into every frame (in place), rows r0:r1, cols c0:c1."""
    r0, r1, c0, c1 = box
    w = max(2, (c1 - c0) // 4)
    frames[:, r0:r1, c0 : c0 + w] = 255
    frames[:, r1 - w : r1, c0:c1] = 255
