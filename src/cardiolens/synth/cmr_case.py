"""One synthetic short-axis cine-MR series: parameters per class, images, masks and truth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from cardiolens import labels as L
from cardiolens.synth.cmr_model import CmrHeart, labels_and_signal
from cardiolens.synth.cycle import CycleTiming, contraction

SLICE_THICKNESS_MM = 8.0
FULL_SCALE = 2000.0  # uint16 value of unit signal (12-bit data)


@dataclass(frozen=True)
class CmrCase:
    images: NDArray[np.uint16]     # (P, S, H, W): phase, slice (base -> apex), row, col
    masks: NDArray[np.uint8]       # (P, S, H, W)
    evidence: NDArray[np.uint8]    # (P, S, H, W)
    positions: NDArray[np.float64]  # (S, 3) ImagePositionPatient per slice
    row_dir: NDArray[np.float64]
    col_dir: NDArray[np.float64]
    trigger_ms: NDArray[np.float64]  # (P,)
    heart_rate_bpm: float
    truth: dict[str, Any]


def sample_heart(rng: np.random.Generator, true_class: str, cfg: dict[str, Any]) -> CmrHeart:
    """Class-specific geometry: HCM ED septum 17-23 mm with EF 60-75 %; DCM dilated, EF 20-35 %."""
    w = cfg["cols"] * cfg["spacing_mm"]
    h = cfg["rows"] * cfg["spacing_mm"]
    lv_len = (cfg["slices"] - 1) * cfg["slice_spacing_mm"] + rng.uniform(8, 14)
    common = dict(cx=w * rng.uniform(0.5, 0.56), cy=h * rng.uniform(0.45, 0.52), lv_length=lv_len,
                  septal_angle=math.pi + rng.uniform(-0.35, 0.15))
    if true_class == "HCM":
        return CmrHeart(r_endo_base=rng.uniform(18, 22), h_sep=rng.uniform(17, 23), h_lat=rng.uniform(10, 13),
                        ef=rng.uniform(0.60, 0.75), rv_width=rng.uniform(14, 18), **common)
    if true_class == "DCM":
        return CmrHeart(r_endo_base=rng.uniform(31, 36), h_sep=rng.uniform(6, 8), h_lat=rng.uniform(6, 8),
                        ef=rng.uniform(0.20, 0.35), rv_width=rng.uniform(16, 22), **common)
    return CmrHeart(r_endo_base=rng.uniform(23, 27), h_sep=rng.uniform(8, 10), h_lat=rng.uniform(7, 9),
                    ef=rng.uniform(0.56, 0.70), rv_width=rng.uniform(15, 20), **common)


def build_cmr_case(rng: np.random.Generator, true_class: str, cfg: dict[str, Any]) -> CmrCase:
    heart = sample_heart(rng, true_class, cfg)
    hr = float(rng.uniform(55, 85))
    timing = CycleTiming.from_heart_rate(hr)
    n_p, n_s = cfg["phases"], cfg["slices"]
    rows, cols, sp = cfg["rows"], cfg["cols"], cfg["spacing_mm"]
    phis = np.arange(n_p) / n_p
    trigger = phis * timing.rr_ms
    snr = float(rng.uniform(*cfg["snr"]))
    yy, xx = np.mgrid[0:rows, 0:cols] / np.array([rows, cols])[:, None, None]
    bias = 1.0 + 0.12 * np.cos(2 * np.pi * (xx * rng.uniform(0.3, 0.8) + yy * rng.uniform(0.2, 0.6)))
    images = np.empty((n_p, n_s, rows, cols), np.uint16)
    masks = np.empty((n_p, n_s, rows, cols), np.uint8)
    for p, phi in enumerate(phis):
        for s in range(n_s):
            z = 2.0 + s * cfg["slice_spacing_mm"]
            lab, sig = labels_and_signal(heart, z, float(phi), timing, rows, cols, sp)
            sig = sig * bias
            sigma = 1.0 / snr
            noisy = np.hypot(sig + sigma * rng.standard_normal(sig.shape), sigma * rng.standard_normal(sig.shape))
            images[p, s] = np.clip(np.round(noisy * FULL_SCALE), 0, 4095).astype(np.uint16)
            masks[p, s] = lab
    evidence = np.isin(masks, (L.LV_CAVITY, L.MYOCARDIUM, L.SEPTUM)).astype(np.uint8)
    rot = Rotation.from_euler("xyz", rng.uniform([-40, -40, -30], [40, 40, 30]), degrees=True).as_matrix()
    row_dir, col_dir = rot[:, 0], rot[:, 1]
    normal = np.cross(row_dir, col_dir)
    origin = np.array([-120.0, -110.0, 40.0]) + rng.uniform(-20, 20, 3)
    positions = np.stack([origin + (s * cfg["slice_spacing_mm"]) * normal for s in range(n_s)])
    c = contraction(phis, timing)
    es = int(np.argmax(c))
    voxel_ml = sp * sp * cfg["slice_spacing_mm"] / 1000.0
    edv = float((masks[0] == L.LV_CAVITY).sum() * voxel_ml)
    esv = float((masks[es] == L.LV_CAVITY).sum() * voxel_ml)
    truth = {
        "kind": "cmr",
        "study": "cardiomyopathy",
        "true_class": true_class,
        "heart_rate_bpm": hr,
        "rr_ms": timing.rr_ms,
        "trigger_times_ms": trigger.round(3).tolist(),
        "ed_frame": 0,
        "es_frame": es,
        "r_peak_frames": [0],
        "contraction": c.round(5).tolist(),
        "ef_model": heart.ef,
        "ef_from_masks": (edv - esv) / edv,
        "edv_ml_from_masks": edv,
        "esv_ml_from_masks": esv,
        "ed_wall_thickness_mm": {"septal": heart.h_sep, "lateral": heart.h_lat},
        "ed_endo_radius_base_mm": heart.r_endo_base,
        "snr": snr,
        "slice_order": "index 0 = basal slice; positions advance along the slice normal",
        "evidence": "LV cavity and myocardium (labels 1-3), all phases",
        "marker": {"present": False, "box_rows_cols": None},
    }
    return CmrCase(images, masks, evidence, positions, row_dir, col_dir, trigger, hr, truth)
