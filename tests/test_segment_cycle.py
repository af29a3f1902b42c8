"""Segment stage: LV area curve, cardiac phases, mask QC and the area-curve figure, on analytic curves
and synthetic ellipse masks with hand-computed expectations."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from cardiolens.labels import LV_CAVITY, MYOCARDIUM, UNLABELLED
from cardiolens.segment.cycle import (cardiac_phases, dominant_period, es_onset, lv_area_curve, noise_sd,
                                      smoothing_gain)
from cardiolens.segment.qc import QC_DEFAULTS, dice, largest_component_share, mask_qc

ED_AREA, STROKE = 2000.0, 800.0  # mm²: FAC 0.4


def raised_cosine(hr_bpm: float, fps: float, cycles: float, ed_phase: float = 0.3, systole: float = 1 / 3,
                  noise: float = 0.0, seed: int = 0):
    """LV area per frame: ED_AREA at ED, falling by STROKE to ES ``systole`` of a beat later (raised
    cosine), refilling over the rest; Gaussian noise with sd ``noise`` * STROKE. Returns the curve,
    frame time, period (frames) and the analytic ED and ES times (fractional frames)."""
    ft = 1000.0 / fps
    period = 60_000.0 / hr_bpm / ft
    f = np.arange(int(round(cycles * period)))
    phi = np.mod(f / period - ed_phase, 1.0)
    c = np.where(phi < systole, 0.5 * (1 - np.cos(np.pi * phi / systole)),
                 0.5 * (1 + np.cos(np.pi * (phi - systole) / (1 - systole))))
    area = ED_AREA - STROKE * c + np.random.default_rng(seed).normal(0, noise * STROKE, len(f))
    ed = (ed_phase + np.arange(-2, int(cycles) + 3)) * period
    return area, ft, period, ed, ed + systole * period


def _near(frames, times, tol=1.0):
    return all(np.min(np.abs(np.asarray(times) - f)) <= tol + 0.5 for f in frames)  # +0.5: rounding to frames


# ---------------------------------------------------------------- area curve

def test_area_curve_by_hand_2d_and_stack():
    m = np.zeros((2, 4, 5), dtype=np.uint8)
    m[0, :2, :3] = LV_CAVITY  # 6 px
    m[1, 0, 0] = LV_CAVITY
    m[1, 3, 4] = MYOCARDIUM
    assert lv_area_curve(m, (0.5, 2.0)).tolist() == [6.0, 1.0]  # 1 mm² a pixel
    assert lv_area_curve(m, (0.5, 2.0, 33.3)).tolist() == [6.0, 1.0]  # canonical spacing: frame time ignored
    stack = np.stack([m, m], axis=1)  # (T=2, S=2, 4, 5)
    assert lv_area_curve(stack, (1.0, 1.0, 10.0)) == pytest.approx([0.12, 0.02])  # 12 px * 10 mm³ = 0.12 ml
    m[1, 2, 2] = UNLABELLED
    assert np.isnan(lv_area_curve(m, (1.0, 1.0))[1])


@pytest.mark.parametrize("shape, spacing", [((3, 4, 4), (1.0,)), ((3, 2, 4, 4), (1.0, 1.0)), ((4, 4), (1.0, 1.0)),
                                            ((3, 4, 4), (1.0, -1.0))])
def test_area_curve_refuses_bad_shapes_and_spacing(shape, spacing):
    with pytest.raises(ValueError, match=r"shape|spacing"):
        lv_area_curve(np.zeros(shape, dtype=np.uint8), spacing)


# ---------------------------------------------------------------- phases

@pytest.mark.parametrize("hr, fps, cycles, phase", [(60, 30, 2.5, 0.7), (40, 25, 2.5, 0.3), (150, 50, 3.0, 0.5),
                                                    (150, 25, 3.0, 0.5), (90, 50, 2.6, 0.0)])
def test_noisy_raised_cosine_gives_ed_es_within_a_frame(hr, fps, cycles, phase):
    # Noise 2 % of the stroke (0.8 % of the ED area): frame-to-frame jitter of a good segmenter. Near ED
    # the curve is flat (at 40 bpm, 25 fps, 2 frames from ED lose 1.6 % of the stroke), so a frame is
    # noise-limited: 8 of 10 noise draws must be within 1 frame everywhere, all within 2.
    exact = 0
    for seed in range(10):
        area, ft, period, ed, es = raised_cosine(hr, fps, cycles, phase, noise=0.02, seed=seed)
        ph = cardiac_phases(area, ft)
        assert ph.method == "autocorrelation"
        assert ph.period_frames == pytest.approx(period, rel=0.05)
        assert ph.period_ms == pytest.approx(60_000 / hr, rel=0.05)
        interior = ed[(ed > 0.15 * period) & (ed < len(area) - 1 - 0.15 * period)]
        assert _near(interior, ph.ed, 2)  # every beat found
        assert len(ph.es) == len(ph.ed) - 1 == len(ph.cycles)
        assert all(a < s < b for (a, b), s in zip(ph.cycles, ph.es))
        assert [c[0] for c in ph.cycles] == list(ph.ed[:-1])
        assert _near(ph.ed, ed, 2) and _near(ph.es, es, 2)
        exact += _near(ph.ed, ed) and _near(ph.es, es)
    assert exact >= 8


@pytest.mark.parametrize("hr", [60, 120])
def test_high_frame_rate_errors_are_a_small_fraction_of_the_beat(hr):
    # At 100 fps a frame is 1/100-1/50 of the beat and the noise, not the method, sets the error.
    area, ft, period, ed, es = raised_cosine(hr, 100, 2.5, 0.4, noise=0.03, seed=1)
    ph = cardiac_phases(area, ft)
    assert _near(ph.ed, ed, 0.05 * period) and _near(ph.es, es, 0.05 * period) and len(ph.ed) >= 2


def test_short_systole_puts_es_at_a_third_not_half_the_beat():
    area, ft, period, ed, es = raised_cosine(60, 50, 3.0, 0.2, systole=1 / 3, noise=0.02, seed=3)
    ph = cardiac_phases(area, ft)
    for a, s in zip(ph.ed, ph.es):
        assert (s - a) / period == pytest.approx(1 / 3, abs=1.5 / period)


def test_es_onset_is_the_first_frame_of_the_minimum_plateau_by_hand():
    # Range 4, so the floor is 2 % x 4 = 0.08: frames 3-5 are within 1.08 of the minimum (frame 5).
    assert es_onset(np.array([5.0, 4.0, 3.0, 1.05, 1.02, 1.0, 2.0, 3.0]), 0.0) == 3
    assert es_onset(np.array([5.0, 4.0, 3.0, 1.05, 1.02, 1.0, 2.0, 3.0]), 0.03) == 3
    assert es_onset(np.array([5.0, 1.01, 1.5, 1.0, 3.0]), 0.0) == 3  # a rise above the tolerance ends the run
    assert es_onset(np.array([1.0, 1.0, 3.0]), 0.0) == 0


def test_noise_sd_and_smoothing_gain():
    x = np.linspace(0, 100, 4000) + np.random.default_rng(0).normal(0, 2.0, 4000)  # a line: 2nd differences are noise
    assert noise_sd(x) == pytest.approx(2.0, rel=0.05)
    assert smoothing_gain(100, 11) == pytest.approx(np.sqrt(267 / 1287))  # m = 5: 3(75 + 15 - 1) / (9 x 11 x 13)
    assert smoothing_gain(100, 4) == 1.0  # under 7 frames: not smoothed


@pytest.mark.parametrize("hr", [55, 75, 95])
def test_es_at_aortic_valve_closure_not_inside_isovolumic_relaxation(hr):
    # The synthetic generator's LV: minimum from aortic valve closure (ES) through 80 ms of isovolumic
    # relaxation, 4.8 frames at 60 fps. ES must be the plateau's onset: within 1 frame of valve closure
    # for every beat (the arg-min of the smoothed curve lands 2-3.6 frames late).
    from cardiolens.synth.cycle import CycleTiming, contraction

    t = CycleTiming.from_heart_rate(hr, 50.0)
    ft = 1000 / 60
    frames = np.arange(int(3.2 * t.rr_ms / ft))
    phi0 = 0.37
    area = ED_AREA - STROKE * contraction(np.mod(phi0 + frames * ft / t.rr_ms, 1.0), t)
    valve_closure = (np.arange(-1, 5) + t.es - phi0) * t.rr_ms / ft
    ph = cardiac_phases(area, ft)
    assert len(ph.es) >= 2
    assert all(np.min(np.abs(valve_closure - e)) <= 1.0 for e in ph.es)


def test_partial_cycle_of_30_frames():
    # 30 frames over 0.8 beat (the length of pydicom's echo example): ED the global max, ES after it.
    area, ft, period, ed, es = raised_cosine(60, 37.5, 0.8, 0.3, noise=0.02, seed=1)
    assert len(area) == 30
    ph = cardiac_phases(area, ft)
    assert ph.method == "partial" and ph.period_frames is None and ph.cycles == ((0, 30),)
    assert _near(ph.ed, ed) and _near(ph.es, es) and ph.es[0] > ph.ed[0]


def test_partial_cycle_es_before_ed_when_none_after():
    area = np.array([1500.0, 1200.0, 1400.0, 1900.0, 2000.0])
    assert cardiac_phases(area).es == (1,) and cardiac_phases(area).ed == (4,)


@pytest.mark.parametrize("area, ed, es", [([2000.0, 1200.0], 0, 1), ([1200.0, 2000.0], 1, 0)])
def test_ed_es_pair(area, ed, es):
    ph = cardiac_phases(np.array(area))
    assert (ph.ed, ph.es, ph.method) == ((ed,), (es,), "partial")


def test_flat_curve_is_reported_not_an_error():
    ph = cardiac_phases(np.full(60, 1500.0), 20.0)
    assert (ph.method, ph.ed, ph.es, ph.cycles, ph.periodicity) == ("flat", (), (), (), None)


def test_r_peaks_define_cycles_and_ed_is_the_largest_area_near_each():
    area, ft, period, ed, es = raised_cosine(75, 50, 3.0, 0.3, noise=0.02, seed=5)
    r = [int(e) + 2 for e in ed if 0 <= e < len(area) - 3]  # R peaks 2 frames after the area maximum
    ph = cardiac_phases(area, ft, r_peak_frames=r)
    assert ph.method == "r_peaks" and ph.cycles == tuple(zip(r[:-1], r[1:]))
    assert ph.period_frames == pytest.approx(period, abs=1)
    assert _near(ph.ed, ed) and _near(ph.es, es) and len(ph.ed) == len(r)


@pytest.mark.parametrize("area, kwargs, match", [
    (np.zeros((3, 2)), {}, "shape"), (np.array([1.0, np.nan]), {}, "not finite"),
    (np.ones(5), {"frame_time_ms": 0.0}, "frame_time_ms"), (np.ones(5), {"r_peak_frames": [3, 1]}, "r_peak_frames"),
    (np.ones(5), {"r_peak_frames": [7]}, "r_peak_frames")])
def test_phases_refuse_bad_input(area, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cardiac_phases(area, **kwargs)


def test_no_period_in_white_noise_short_of_two_beats():
    assert dominant_period(np.random.default_rng(0).normal(size=20), 20.0) == (None, None)


# ---------------------------------------------------------------- QC

def ellipse_masks(radii_scale: np.ndarray, size: int = 64) -> np.ndarray:
    """(T, size, size) masks: an LV ellipse whose radii scale with the curve, inside a 3-px myocardium ring."""
    yy, xx = np.mgrid[:size, :size] - size / 2 + 0.5
    out = np.zeros((len(radii_scale), size, size), dtype=np.uint8)
    for t, s in enumerate(radii_scale):
        a, b = 20 * s, 12 * s
        r = (xx / a) ** 2 + (yy / b) ** 2
        out[t][r <= ((1 + 3 / b) ** 2)] = MYOCARDIUM
        out[t][r <= 1] = LV_CAVITY
    return out


def breathing(cycles: float = 3.0, period: int = 25, seed: int = 0) -> np.ndarray:
    area, *_ = raised_cosine(60_000 / (period * 20.0), 50, cycles, 0.3, noise=0.02, seed=seed)
    return np.sqrt(area / ED_AREA)  # radii scale: area ratio ED:ES 1:0.6


def test_breathing_ellipses_pass():
    masks = ellipse_masks(breathing())
    res = mask_qc(masks, (0.5, 0.5, 20.0), 20.0)
    assert res.passed, res.failures
    assert res.metrics["fac"] == pytest.approx(0.4, abs=0.05)
    assert res.metrics["period_frames"] == pytest.approx(25, abs=1) and res.metrics["periodicity"] > 0.9
    assert res.metrics["lv_cavity_component_share_min"] == 1.0 and res.metrics["dice_median"] > 0.95


def test_stack_passes_and_is_judged_per_slice():
    masks = ellipse_masks(breathing())
    stack = np.stack([masks, masks, np.zeros_like(masks)], axis=1)  # a slice beyond the LV has none
    res = mask_qc(stack, (1.0, 1.0, 8.0), 20.0)
    assert res.passed, res.failures
    assert res.metrics["lv_cavity_component_share_median"] == 1.0


def test_speckle_frame_fails_fragmented():
    masks = ellipse_masks(breathing())
    rng = np.random.default_rng(0)
    speckle = (rng.random(masks.shape[1:]) < 0.05) & (masks[10] == 0)
    masks[10][masks[10] == LV_CAVITY] = 0
    masks[10][speckle] = LV_CAVITY
    res = mask_qc(masks, (0.5, 0.5), 20.0)
    assert "fragmented" in res.codes
    assert res.metrics["lv_cavity_component_share_min"] < 0.1


def test_lv_disappearing_fails():
    masks = ellipse_masks(breathing())
    masks[[5, 30]] = np.where(masks[[5, 30]] == LV_CAVITY, 0, masks[[5, 30]])
    res = mask_qc(masks, (0.5, 0.5), 20.0)
    assert "lv_missing" in res.codes and res.metrics["lv_missing_frames"] == 2
    assert "fac_out_of_range" in res.codes  # max - min over max is 1
    assert res.metrics["dice_min"] == 0.0
    assert mask_qc(masks, (0.5, 0.5), 20.0, max_missing_frames=2, fac_range=(0.05, 1.0)).passed  # thresholds are knobs


def test_static_masks_fail_range():
    res = mask_qc(ellipse_masks(np.ones(150), size=48), (0.5, 0.5), 20.0)  # 3 s: two periods at 40 bpm
    assert res.metrics["fac"] == 0.0 and res.codes == ("fac_out_of_range", "not_periodic")
    short = mask_qc(ellipse_masks(np.ones(75), size=48), (0.5, 0.5), 20.0)  # 1.5 s: periodicity not judged
    assert short.codes == ("fac_out_of_range",) and short.metrics["periodicity"] is None


def test_random_walk_over_three_beats_fails_periodicity():
    # 3 beats at 60 bpm, 50 fps: 150 frames; LV area a random walk within plausible FAC.
    fails = 0
    for seed in range(20):
        walk = np.cumsum(np.random.default_rng(seed).normal(0, 1, 150))
        scale = np.sqrt(1 - 0.35 * (walk - walk.min()) / np.ptp(walk))
        res = mask_qc(ellipse_masks(scale, size=48), (0.5, 0.5), 20.0)
        assert "fac_out_of_range" not in res.codes
        fails += "not_periodic" in res.codes
    assert fails >= 17  # detrended random walks pass 0.5 in 5-9 % over 2+ periods (qc docstring)


def test_periodicity_not_judged_under_two_beats_without_timing():
    res = mask_qc(ellipse_masks(breathing(cycles=1.6)), (0.5, 0.5), None)
    assert "not_periodic" not in res.codes and res.passed


def test_dice_and_component_share_by_hand():
    a = np.zeros((4, 4), dtype=bool)
    b = np.zeros((4, 4), dtype=bool)
    a[:2, :2] = True  # 4 px
    b[1:3, :2] = True  # 4 px, 2 shared
    assert dice(a, b) == pytest.approx(2 * 2 / 8)
    assert dice(a, a) == 1.0 and dice(a & False, b & False) == 1.0 and dice(a, ~a) == 0.0
    c = a.copy()
    c[3, 3] = True  # an island of 1 px apart from the 4-px block
    assert largest_component_share(c) == pytest.approx(0.8)
    c[2, 2] = True  # diagonal touch: 8-connected, one component
    assert largest_component_share(c) == 1.0
    assert largest_component_share(a & False) is None


def test_qc_defaults_are_the_signature_defaults():
    params = inspect.signature(mask_qc).parameters
    assert {k: params[k].default for k in QC_DEFAULTS} == QC_DEFAULTS


# ---------------------------------------------------------------- figure

def test_area_curve_figure_has_marks_and_saves(tmp_path):
    from cardiolens.plotting import save_figure
    from cardiolens.segment.figures import area_curve_figure

    area, ft, *_ = raised_cosine(75, 50, 3.0, 0.3, noise=0.02)
    ph = cardiac_phases(area, ft)
    fig = area_curve_figure(area, ph, ft, "A4C")
    ax = fig.axes[0]
    markers = {line.get_label(): len(line.get_xdata()) for line in ax.get_lines() if line.get_marker() in ("v", "^")}
    assert markers == {"ED": len(ph.ed), "ES": len(ph.es)}
    assert sum(line.get_linestyle() == "--" for line in ax.get_lines()) == 2 * len(ph.cycles)
    paths = save_figure(fig, tmp_path / "area_curve")
    assert all(p.stat().st_size > 0 for p in paths)
    flat = area_curve_figure(np.full(10, 5.0), cardiac_phases(np.full(10, 5.0)))
    save_figure(flat, tmp_path / "flat")


def _discs(radii, size=64):
    """(T, size, size) masks: an LV disc of each radius (px) in a 4-px myocardial ring, centred."""
    yy, xx = np.mgrid[:size, :size]
    d = np.hypot(yy - size / 2, xx - size / 2)
    return np.stack([np.where(d <= r, LV_CAVITY, np.where(d <= r + 4, MYOCARDIUM, 0)) for r in radii]).astype(np.uint8)


def test_ed_es_only_recordings_are_not_judged_on_frame_to_frame_consistency():
    """ACDC keeps ED and ES: the two LV discs (radius 20 and 12 px) overlap with Dice 2 * 12² / (20² + 12²)
    = 0.53, a stroke volume and no inconsistency. Frames next to each other in the source are still judged."""
    from cardiolens.segment.apply import adjacent_frames

    masks = _discs([20, 12])
    dense = mask_qc(masks, (1.0, 1.0), None)
    assert dense.codes == ("inconsistent",) and dense.metrics["dice_median"] == pytest.approx(0.53, abs=0.02)
    ed_es = mask_qc(masks, (1.0, 1.0), None, adjacent=adjacent_frames(np.array([0, 7]), 2))
    assert ed_es.passed and ed_es.metrics["adjacent_pairs"] == 0 and ed_es.metrics["dice_median"] is None
    # three kept frames 0, 1, 9: only the first pair is adjacent and judged (Dice of radii 20, 19)
    three = mask_qc(_discs([20, 19, 12]), (1.0, 1.0), None, adjacent=adjacent_frames([0, 1, 9], 3))
    assert three.passed and three.metrics["adjacent_pairs"] == 1
    assert three.metrics["dice_median"] == pytest.approx(2 * 19**2 / (20**2 + 19**2), abs=0.02)
    assert adjacent_frames([0, 1, 2], 3).all() and adjacent_frames(None, 3) is None and adjacent_frames([0, 1], 3) is None
    with pytest.raises(ValueError, match="adjacent has shape"):
        mask_qc(masks, (1.0, 1.0), None, adjacent=np.array([True, True]))
