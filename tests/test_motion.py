"""Regional motion: curve measures, wall points, ITK demons tracking and the synthetic truth."""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from cardiolens.config import validate_config
from cardiolens.measure import curves as C
from cardiolens.measure.motion import motion_window, recording_motion
from cardiolens.measure.track import TrackingParams, track_points
from cardiolens.measure.wall import SEGMENTS, wall_geometry
from cardiolens.synth import echo_model
from cardiolens.synth.echo_case import build_echo_case, sample_anatomy
from cardiolens.synth.echo_model import Anatomy, label_map
from cardiolens.synth.echo_render import Scanner
from conftest import REPO

DEFAULTS = validate_config({})
ECHO = DEFAULTS["cohort"]["synthetic"]["echo"]
MOTION = {**DEFAULTS["studies"]["takotsubo_stemi"]["motion"]}
PARAMS = TrackingParams.from_config(MOTION)
POINTS_WITH_TRUTH = ("basal_inferoseptal", "basal_anterolateral", "mid_inferoseptal", "mid_anterolateral")


def test_segments_are_the_generators():
    assert SEGMENTS == echo_model.SEGMENTS


def test_peaks_of_a_raised_cosine_ramp_by_hand():
    # 0 for 5 frames, raised-cosine rise to 10 mm over 20 frames, plateau, return to 2 mm.
    rise = 0.5 * (1 - np.cos(np.pi * np.arange(21) / 20))
    curve = np.concatenate([np.zeros(5), 10 * rise[1:], np.full(5, 10.0), np.linspace(10, 2, 9)[1:]])
    p = C.peaks(curve)
    assert p["peak"] == pytest.approx(10.0)
    # 95 % of the peak: 0.5 (1 - cos(pi x)) = 0.95 -> x = acos(-0.9) / pi = 0.85643 of the 20-frame rise,
    # i.e. frame 4 + 17.13 = 21.13; linear interpolation between frames 21 and 22 gives 21.128.
    x = math.acos(-0.9) / math.pi * 20
    k = int(math.floor(x))
    lin = k + (9.5 - 10 * rise[k]) / (10 * (rise[k + 1] - rise[k]))
    assert p["frame"] == pytest.approx(4 + lin, abs=1e-9)
    assert 4 + x == pytest.approx(p["frame"], abs=0.05)
    assert p["diastolic"] == pytest.approx(8.0) and p["end"] == pytest.approx(2.0)
    two = C.peaks(np.array([0.0, -1.5]))  # ED -> ES pair: the ES displacement, whatever its sign
    assert two == {"peak": -1.5, "frame": None, "diastolic": None, "end": None}


def test_strain_and_pixel_displacement_by_hand():
    line = np.stack([np.zeros(5), np.linspace(0, 20, 5)], axis=1)  # 20 mm segment along y
    tracked = np.stack([line, line * 0.9, line * 0.8])               # uniform shortening to 90 %, 80 %
    assert C.polyline_strain(tracked) == pytest.approx([0.0, -0.1, -0.2])
    assert C.strain_peak(C.polyline_strain(tracked))["peak"] == pytest.approx(-0.2)
    pos = np.array([[[10.0, 10.0]], [[10.0, 11.0]]])                # 1 mm along y
    u = np.array([0.0, 1.0])
    assert C.longitudinal(pos, u)[1, 0] == pytest.approx(1.0)
    assert C.longitudinal_px(pos, u, (0.5, 0.25))[1, 0] == pytest.approx(4.0)  # 1 mm / 0.25 mm rows


def test_savitzky_golay_keeps_a_quadratic_trajectory():
    t = np.arange(30, dtype=float)
    pos = np.stack([0.01 * t**2, 3 - 0.2 * t], axis=1)[:, None, :] + 5.0
    assert C.smooth_positions(pos, 7) == pytest.approx(pos, abs=1e-9)
    assert C.window_frames(120, 1000 / 60) == 7 and C.window_frames(120, None) == 0 and C.window_frames(20, 16.7) == 0


def test_motion_windows():
    assert motion_window(100, [12, 57, 102], 12, 30) == (list(range(12, 58)), "r_peak_to_r_peak")
    assert motion_window(2, [], 0, 1) == ([0, 1], "ed_es")
    assert motion_window(20, [], 3, 9) == (list(range(3, 20)), "ed_to_end")


def _anatomy() -> Anatomy:
    tilt = math.radians(3.0)
    return Anatomy(base_x=80.0 - 80 * math.sin(tilt), base_y=28 + 80 * math.cos(tilt), tilt_rad=tilt, length=80.0,
                   w_sep=21.0, w_lat=24.0, h_sep=10.0, h_lat=9.0, h_apex=7.0, rv_width=17.0, la_length=42.0)


def test_wall_points_lie_mid_wall_where_the_generator_puts_its_truth():
    anat, sp = _anatomy(), 0.5
    y, x = np.mgrid[0:320, 0:320] * sp
    a, b = anat.to_lv(x, y)
    mask = label_map(anat, a, b)
    g = wall_geometry(mask, (sp, sp))
    for name, a_true, side in (("mid_inferoseptal", 40.0, "sep"), ("mid_anterolateral", 40.0, "lat")):
        a_m, b_m = anat.to_lv(*g.anchors[name])
        # Mid-wall at the mid level: |b| = endo(a) + h / 2 (the generator's truth point), within 2 pixels.
        half = (anat.w_sep if side == "sep" else anat.w_lat) * math.sqrt(1 - (a_m / anat.length) ** 2)
        assert abs(b_m) == pytest.approx(half + (anat.h_sep if side == "sep" else anat.h_lat) / 2, abs=2 * sp)
        assert a_m == pytest.approx(a_true, abs=3.0)  # the mask's axis runs from the annulus to the endocardial apex
        assert (b_m < 0) == (side == "sep")
    a0, _ = anat.to_lv(*g.anchors["basal_inferoseptal"])
    assert 0.0 <= a0 <= 4.0


def _speckle(shape, seed=0):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape).astype(np.float32), 1.5) * 255 * 4


def test_demons_tracks_a_known_translation_frame_by_frame_and_as_a_pair():
    base = _speckle((96, 96))
    shifts = np.array([[0.0, 0.0]] + [[0.5 * k, 0.25 * k] for k in range(1, 9)])  # (dy, dx) px per frame
    frames = np.stack([ndimage.shift(base, s, order=3) for s in shifts])
    pts = np.array([[40.0, 40.0], [50.0, 60.0]])  # mm, spacing 1 mm
    pos = track_points(frames, (1.0, 1.0), pts, TrackingParams(smoothing_mm=0.0))
    expected = pts[None] + shifts[:, None, ::-1]   # content moved by (dx, dy)
    assert np.abs(pos - expected).max() < 0.15
    big = np.stack([base, ndimage.shift(base, (6.0, -3.0), order=3)])
    pos = track_points(big, (1.0, 1.0), pts, TrackingParams(smoothing_mm=0.0, levels=4, iterations=100))
    assert pos[1] == pytest.approx(pts + np.array([-3.0, 6.0]), abs=0.3)


def _case(seed: int, cls: str):
    sc = Scanner(ECHO["rows"], ECHO["cols"], ECHO["spacing_mm"], ECHO["sector_angle_deg"], 20.0)
    anat = sample_anatomy(np.random.default_rng([seed, 3]), sc)
    return build_echo_case(np.random.default_rng([seed, 2]), anat, cls, "takotsubo_stemi", {**ECHO, "cycles": [1, 1]}, marker=False)


def _measure(args):
    seed, cls = args
    import itk

    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)
    case = _case(seed, cls)
    r0, r1 = case.r_wave_frames[0], case.r_wave_frames[1]
    sp = ECHO["spacing_mm"]
    out = recording_motion(case.frames[r0:r1 + 1].astype(np.float32), case.masks[r0], (sp, sp), case.frame_time_ms, PARAMS,
                           MOTION["temporal_window_ms"])
    truth = {k: np.array(v[r0:r1 + 1]) for k, v in case.truth["displacement_mm"].items()}
    strain = {k: np.array(v[r0:r1 + 1]) for k, v in case.truth["strain"].items()}
    return seed, cls, out, truth, strain


@pytest.fixture(scope="module")
def synthetic_measured():
    jobs = [(s, c) for s, c in zip(range(100, 108), ["takotsubo", "stemi"] * 4)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(_measure, jobs))


def test_synthetic_peak_displacement_within_10_percent_and_timing_within_one_frame(synthetic_measured):
    errors, timing = [], []
    for _, _, out, truth, _ in synthetic_measured:
        m = out.set_index("segment")
        for name in POINTS_WITH_TRUTH:
            curve = truth[name]
            true_peak = curve.max()
            errors.append(abs(m.loc[name, "peak_systolic_mm"] - true_peak) / true_peak)
            timing.append(abs(m.loc[name, "peak_systolic_frame"] - C.crossing(curve, 0.95 * true_peak)))
    errors, timing = np.array(errors), np.array(timing)
    print(f"peak error median {np.median(errors):.3f} max {errors.max():.3f}; timing median {np.median(timing):.2f} frames")
    assert np.median(errors) <= 0.10
    assert np.median(timing) <= 1.0


def test_synthetic_basal_points_each_within_bounds_and_strain_close(synthetic_measured):
    strain_errors = []
    for _, cls, out, truth, strain in synthetic_measured:
        m = out.set_index("segment")
        for name in ("basal_inferoseptal", "basal_anterolateral"):
            assert m.loc[name, "peak_systolic_mm"] == pytest.approx(truth[name].max(), rel=0.15), (cls, name)
            # Diastole returns the base to ED: the recoil is the whole peak; drift at the next R peak is small.
            assert m.loc[name, "peak_diastolic_mm"] == pytest.approx(truth[name].max() - truth[name][np.argmax(truth[name]):].min(), rel=0.2)
            assert abs(m.loc[name, "end_displacement_mm"]) < 1.0
            assert m.loc[name, "peak_systolic_px"] == pytest.approx(m.loc[name, "peak_systolic_mm"] / ECHO["spacing_mm"], rel=1e-6)
        for name in ("basal_inferoseptal", "mid_inferoseptal", "basal_anterolateral", "mid_anterolateral"):
            s = strain[name]
            true = ((1 + s) / (1 + s[0]) - 1).min()   # the truth is relative to the recording's first frame
            strain_errors.append(abs(m.loc[name, "peak_strain"] - true))
    strain_errors = np.array(strain_errors)
    print(f"peak strain error median {np.median(strain_errors):.3f} max {strain_errors.max():.3f}")
    # Basal and mid segments shorten by 8-30 %: a median error of 2.5 strain points, none above 8.
    assert np.median(strain_errors) <= 0.025 and strain_errors.max() <= 0.08


def test_synthetic_takotsubo_base_moves_less_than_stemi(synthetic_measured):
    peak = {c: [o.set_index("segment").loc["basal_inferoseptal", "peak_systolic_mm"] for _, cc, o, _, _ in synthetic_measured if cc == c]
            for c in ("takotsubo", "stemi")}
    assert max(peak["takotsubo"]) < min(peak["stemi"])


def _patient_recordings(args):
    """Motion of every recording of one default-cohort Takotsubo/STEMI patient (the generator's per-patient streams)."""
    from cardiolens.synth.echo_case import jitter_probe

    spec, seed = args
    import itk

    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)
    rng = np.random.default_rng([seed, spec.index, 2])
    sc = Scanner(ECHO["rows"], ECHO["cols"], ECHO["spacing_mm"], ECHO["sector_angle_deg"], 20.0)
    anat0 = sample_anatomy(np.random.default_rng([seed, spec.index, 3]), sc)
    parts = []
    for r in range(spec.n_recordings):
        case = build_echo_case(rng, anat0 if r == 0 else jitter_probe(anat0, rng), spec.true_class, spec.study, ECHO, marker=False)
        r0, r1 = case.r_wave_frames[0], case.r_wave_frames[1]
        sp = ECHO["spacing_mm"]
        out = recording_motion(case.frames[r0:r1 + 1].astype(np.float32), case.masks[r0], (sp, sp), case.frame_time_ms, PARAMS,
                               MOTION["temporal_window_ms"])
        parts.append(out.assign(study="takotsubo_stemi", recording_id=f"{spec.index}-{r}", patient_key=f"P{spec.index}",
                                label=spec.true_class))
    return pd.concat(parts)


def test_default_size_cohort_group_table_shows_the_reduced_basal_displacement():
    """The default Takotsubo/STEMI cohort size (20 patients, 1-3 recordings each): the per-patient
    group table (Mann-Whitney, Holm) has Takotsubo basal displacement below STEMI with p < 0.05.

    Where the checkout holds a default run that Snakemake's dry run calls up to date (CI: README
    command (a) has just made one), the table is that run's (from the ingested DICOMs); otherwise it
    is computed here from the generator's recordings of the same patients (~1 min on 2 cores)."""
    from cardiolens.stats.motion import motion_group_tests, patient_motion
    from cardiolens.synth.cohort import sample_patients
    from tinyrun import up_to_date

    specs = [p for p in sample_patients(DEFAULTS["cohort"]["synthetic"], DEFAULTS["seed"]) if p.study == "takotsubo_stemi"]
    assert len(specs) == ECHO["takotsubo_stemi"]["patients"]
    target = "results/stats/takotsubo_stemi/motion_groups.parquet"
    if up_to_date(REPO, target):
        table = pd.read_parquet(REPO / target)
        assert set(table["test"]) == {"mannwhitney"} and set(table["correction"]) == {"holm"} and set(table["unit"]) == {"patient"}
    else:
        with ProcessPoolExecutor(max_workers=2) as pool:
            motion = pd.concat(list(pool.map(_patient_recordings, [(s, DEFAULTS["seed"]) for s in specs])), ignore_index=True)
        table = motion_group_tests(patient_motion(motion, None, "gradcampp"), "mannwhitney", "holm")
    for segment in ("basal_inferoseptal", "basal_anterolateral"):
        r = table[(table["segment"] == segment) & (table["measure"] == "peak_systolic_mm")].iloc[0]
        means = {r.group_a: r.mean_a, r.group_b: r.mean_b}
        print(f"{segment}: takotsubo {means['takotsubo']:.2f} vs stemi {means['stemi']:.2f} mm, p {r.p_value:.2g} (adj {r.p_adjusted:.2g})")
        assert means["takotsubo"] < means["stemi"]
        assert r.n_a + r.n_b == len(specs)
        assert r.p_adjusted < 0.05
