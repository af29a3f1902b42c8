"""One synthetic echo recording: sample its parameters, render it, and compute its ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens.synth.cycle import CycleTiming, contraction, flash_profile
from cardiolens.synth.echo_model import (
    SEGMENTS, Anatomy, Motion, forward_point, reference_coords, septal_contour,
)
from cardiolens.synth.echo_render import Scanner, draw_marker, render_frame, sector_mask, speckle_field

MARKER_BOX = (4, 14, 4, 14)  # rows r0:r1, cols c0:c1 — top-left corner, outside the sector


@dataclass(frozen=True)
class EchoCase:
    frames: NDArray[np.uint8]      # (T, H, W)
    masks: NDArray[np.uint8]       # (T, H, W) cardiolens.labels
    evidence: NDArray[np.uint8]    # (T, H, W) 1 where the class difference lives
    truth: dict[str, Any]
    frame_time_ms: float
    heart_rate_bpm: float
    r_wave_frames: list[int]


def sample_anatomy(rng: np.random.Generator, sc: Scanner) -> Anatomy:
    """ED anatomy of one patient, placed in the sector (apex ~28 mm below the transducer)."""
    length = rng.uniform(72, 88)
    tilt = math.radians(rng.uniform(-6, 6))
    depth = sc.rows * sc.spacing_mm
    if depth < 125:
        raise ValueError(f"echo field of view {depth:.0f} mm is too small for the heart; need rows x spacing_mm >= 125")
    apex_y = rng.uniform(24, 32)
    base_x = sc.cols * sc.spacing_mm / 2 + rng.uniform(2, 8)
    return Anatomy(
        base_x=base_x - length * math.sin(tilt),
        base_y=apex_y + length * math.cos(tilt),
        tilt_rad=tilt, length=length,
        w_sep=rng.uniform(19, 23), w_lat=rng.uniform(22, 26),
        h_sep=rng.uniform(9, 11), h_lat=rng.uniform(8, 10), h_apex=rng.uniform(6, 8),
        rv_width=rng.uniform(15, 20), la_length=rng.uniform(38, 46),
    )


def jitter_probe(anat: Anatomy, rng: np.random.Generator) -> Anatomy:
    """The same heart seen from a slightly different probe position (new recording)."""
    d = rng.uniform(-2.5, 2.5)
    t = math.radians(rng.uniform(-2.5, 2.5))
    return Anatomy(**{**anat.__dict__, "base_x": anat.base_x + d, "tilt_rad": anat.tilt_rad + t})


def sample_motion(rng: np.random.Generator, true_class: str, cfg_echo: dict[str, Any], hr: float) -> Motion:
    """Regional motion per class (see the module docstring of echo_model)."""
    normal_radial = (0.25, 0.28, 0.32)
    if true_class in ("flash", "none"):
        # Study 1: both classes share the IVC duration, the longitudinal and the radial motion, so
        # the flash (mid-basal septum, MVC to AVO) is the whole class difference - the region the
        # ground truth names as evidence and the attribution checks score against. (Real LBBB
        # also prolongs IVC and weakens septal thickening; here those cues would sit outside the
        # evidence window.)
        timing = CycleTiming.from_heart_rate(hr, rng.uniform(*cfg_echo["septal_flash"]["ivc_ms"]))
        d = rng.uniform(10, 14)
        return Motion(timing, d, d + rng.uniform(0, 2), (0.36, 0.34, 0.30), normal_radial, normal_radial,
                      flash_mm=rng.uniform(*cfg_echo["septal_flash"]["amplitude_mm"]) if true_class == "flash" else 0.0)
    timing = CycleTiming.from_heart_rate(hr, rng.uniform(40, 60))
    if true_class == "takotsubo":
        d = rng.uniform(*cfg_echo["takotsubo_stemi"]["basal_displacement_mm"]["takotsubo"])
        return Motion(timing, d, d + rng.uniform(-0.5, 0.5), (0.6, 0.35, 0.05), (0.33, 0.12, 0.02), (0.33, 0.12, 0.02))
    if true_class == "stemi":
        d = rng.uniform(*cfg_echo["takotsubo_stemi"]["basal_displacement_mm"]["stemi"])
        return Motion(timing, d, d + rng.uniform(-0.5, 1.0), (0.5, 0.45, 0.05), (0.25, 0.06, 0.02), (0.26, 0.22, 0.03))
    raise ValueError(f"unknown echo class {true_class!r}")


def sample_quality(rng: np.random.Generator) -> dict[int, int]:
    """Quality grade (1 poor, 2 fair, 3 good) per segment index: a recording-level grade +- 1."""
    base = int(rng.choice([1, 2, 3], p=[0.2, 0.4, 0.4]))
    out = {}
    for i, name in enumerate(SEGMENTS):
        g = base + int(rng.choice([-1, 0, 1], p=[0.2, 0.6, 0.2]))
        if name.startswith("apical") and rng.random() < 0.3:
            g -= 1  # near-field clutter makes the apex the usual poor region
        out[i] = int(np.clip(g, 1, 3))
    return out


def _curves(anat: Anatomy, motion: Motion, phis: NDArray[np.float64]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """True longitudinal displacement (mm, towards the apex) of annular/mid points and segment strain."""
    mid_sep = lambda a: -(float(anat.endo(np.array(a), "sep")) + anat.h_sep / 2)  # noqa: E731
    mid_lat = lambda a: float(anat.endo(np.array(a), "lat")) + anat.h_lat / 2  # noqa: E731
    Lg = anat.length
    points = {
        "basal_inferoseptal": (1.0, mid_sep(1.0)),
        "basal_anterolateral": (1.0, mid_lat(1.0)),
        "mid_inferoseptal": (Lg / 2, mid_sep(Lg / 2)),
        "mid_anterolateral": (Lg / 2, mid_lat(Lg / 2)),
        "apical_septal": (0.85 * Lg, mid_sep(0.85 * Lg)),
    }
    disp = {}
    for name, (a0, b0) in points.items():
        a_now, _ = forward_point(anat, motion, phis, a0, b0)
        disp[name] = (a_now - a0).round(4).tolist()
    strain = {}
    for i, name in enumerate(SEGMENTS):
        third = i if i < 3 else 5 - i
        a_pts = np.linspace(third, third + 1, 7) * Lg / 3
        side_mid = mid_sep if i < 3 else mid_lat
        pos = [forward_point(anat, motion, phis, float(a), side_mid(float(a))) for a in a_pts]
        xy = [np.stack(anat.to_image(a, b), axis=-1) for a, b in pos]  # each (T, 2)
        length = sum(np.linalg.norm(xy[k + 1] - xy[k], axis=-1) for k in range(len(xy) - 1))
        strain[name] = (length / length[0] - 1.0).round(5).tolist()
    return disp, strain


def build_echo_case(
    rng: np.random.Generator,
    anat: Anatomy,
    true_class: str,
    study: str,
    cfg_echo: dict[str, Any],
    marker: bool,
) -> EchoCase:
    """Render one recording of ``anat`` with class ``true_class`` and compute its ground truth."""
    sc = Scanner(cfg_echo["rows"], cfg_echo["cols"], cfg_echo["spacing_mm"], cfg_echo["sector_angle_deg"],
                 float(rng.uniform(*cfg_echo["snr_db"])))
    hr = float(rng.uniform(*cfg_echo["heart_rate_bpm"]))
    motion = sample_motion(rng, true_class, cfg_echo, hr)
    t = motion.timing
    ft = 1000.0 / cfg_echo["frame_rate_hz"]
    n_cycles = int(rng.integers(cfg_echo["cycles"][0], cfg_echo["cycles"][1] + 1))
    phi0 = float(rng.uniform(0.6, 0.9))  # start in late diastole
    r_times = [(k - phi0) * t.rr_ms for k in range(1, n_cycles + 2)]
    n_frames = int(math.floor(r_times[-1] / ft)) + 3
    times = np.arange(n_frames) * ft
    phis = np.mod(phi0 + times / t.rr_ms, 1.0)
    r_frames = [int(round(rt / ft)) for rt in r_times]
    quality = sample_quality(rng)
    speckle = speckle_field(rng, (sc.rows, sc.cols))
    sector = sector_mask(sc)
    frames = np.empty((n_frames, sc.rows, sc.cols), np.uint8)
    masks = np.empty_like(frames)
    evidence = np.zeros_like(frames)
    y = np.arange(sc.rows) * sc.spacing_mm
    x = np.arange(sc.cols) * sc.spacing_mm
    yy, xx = np.meshgrid(y, x, indexing="ij")
    a_cur, b_cur = anat.to_lv(xx, yy)
    c_all = contraction(phis, t)
    f_all = flash_profile(phis, t)
    for k, phi in enumerate(phis):
        frames[k], masks[k] = render_frame(anat, motion, sc, float(phi), speckle, rng, quality, sector)
        a_ref, _ = reference_coords(anat, motion, float(phi), a_cur, b_cur)
        s = a_ref / anat.length
        myo = np.isin(masks[k], (L.MYOCARDIUM, L.SEPTUM))
        if study == "septal_flash":
            in_time = (phis[k] >= t.mvc) & (phis[k] <= t.avo)
            evidence[k] = (masks[k] == L.SEPTUM) & (s <= 0.55) & in_time
        elif study == "takotsubo_stemi":
            in_time = (phis[k] >= t.avo) & (phis[k] <= t.es)
            evidence[k] = myo & (s < 1 / 3) & in_time
    if marker:
        draw_marker(frames, MARKER_BOX)

    def cycle_frame(ph: float) -> int:
        return int(round((r_times[0] + ph * t.rr_ms) / ft))

    ca, cb = septal_contour(anat)
    cx, cy = anat.to_image(ca, cb)
    disp, strain = _curves(anat, motion, phis)
    truth = {
        "kind": "echo",
        "study": study,
        "true_class": true_class,
        "frame_time_ms": ft,
        "heart_rate_bpm": hr,
        "rr_ms": t.rr_ms,
        "phase_at_frame0": phi0,
        "r_peak_times_ms": r_times,
        "r_peak_frames": r_frames,
        "ed_frames": r_frames,
        "es_frame": cycle_frame(t.es),
        "mvc_frame": cycle_frame(t.mvc),
        "avo_frame": cycle_frame(t.avo),
        "mvo_frame": cycle_frame(t.mvo),
        "event_times_ms": {k: r_times[0] + getattr(t, k) * t.rr_ms for k in ("mvc", "avo", "es", "mvo")},
        "contraction": c_all.round(5).tolist(),
        "flash_profile": f_all.round(5).tolist(),
        "flash_mm": motion.flash_mm,
        "flash_taper": "1 up to 0.55 L from the annulus, raised-cosine to 0 at 0.80 L",
        "basal_displacement_mm": {"septal": motion.d_sep, "lateral": motion.d_lat},
        "septal_contour_ed": {
            "frame": r_frames[0],
            "frame_note": "x_mm/y_mm are physical coordinates of the canonical image (pixel (i, j) at (j, i) x spacing)",
            "x_mm": cx.round(4).tolist(), "y_mm": cy.round(4).tolist(),
            "col_px": (cx / sc.spacing_mm).round(4).tolist(), "row_px": (cy / sc.spacing_mm).round(4).tolist(),
        },
        "long_axis": {"base_x_mm": anat.base_x, "base_y_mm": anat.base_y, "u": anat.u.round(6).tolist(),
                      "v": anat.v.round(6).tolist(), "length_mm": anat.length},
        "anatomy": {k: float(v) for k, v in anat.__dict__.items()},
        "quality": {SEGMENTS[i]: g for i, g in quality.items()},
        "snr_db": sc.snr_db,
        "displacement_mm": disp,
        "strain": strain,
        "marker": {"present": marker, "box_rows_cols": list(MARKER_BOX) if marker else None},
        "evidence": {
            "septal_flash": "septum (label 3) within 0.55 L of the annulus, frames from MVC to AVO",
            "takotsubo_stemi": "myocardium in the basal third, frames from AVO to ES",
        }[study],
    }
    return EchoCase(frames, masks, evidence, truth, ft, hr, r_frames)
