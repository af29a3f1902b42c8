"""Anatomical M-mode: geometry against analytic truth, agreement with scipy, synthetic septal flash."""

from __future__ import annotations

import math

import itk
import numpy as np
import pytest

from cardiolens import labels as L
from cardiolens.config import validate_config
from cardiolens.prepare.mmode import Line, mmode, mmode_reference, resize, septal_line
from cardiolens.synth.echo_case import build_echo_case, sample_anatomy
from cardiolens.synth.echo_render import Scanner


def _image(volume: np.ndarray, spacing) -> itk.Image:
    img = itk.image_from_array(np.ascontiguousarray(volume))
    img.SetSpacing([float(s) for s in spacing])
    return img


@pytest.mark.parametrize("angle_deg", [0.0, 33.0, 90.0, 141.0])
def test_moving_edge_follows_its_analytic_trajectory(angle_deg):
    """A half-plane whose border moves along the line by e(t) = 20 + 8 sin(2 pi t / 400 ms)."""
    sp = (0.5, 0.5, 10.0)
    t_n, h, w = 40, 140, 140
    th = math.radians(angle_deg)
    d = np.array([math.cos(th), math.sin(th)])
    start = np.array([35.0, 35.0]) - 15 * d
    yy, xx = np.mgrid[0:h, 0:w] * 0.5
    proj = (xx - start[0]) * d[0] + (yy - start[1]) * d[1]
    times = np.arange(t_n) * sp[2]
    edge = 20 + 8 * np.sin(2 * np.pi * times / 400.0)
    vol = np.stack([(proj < e).astype(np.float32) * 200 for e in edge])
    line = Line((float(start[0]), float(start[1])), (float(d[0]), float(d[1])), 40.0)
    mm, (ds, dt) = mmode(_image(vol, sp), line, 0.0, t_n * sp[2], 160, t_n)
    assert (ds, dt) == (0.25, 10.0)
    for j in range(t_n):
        col = mm[:, j]
        k = int(np.argmax(col < 100))
        frac = (col[k - 1] - 100) / (col[k - 1] - col[k])
        s_edge = (k - 1 + frac + 0.5) * ds            # row centre k is at (k + 0.5) * ds
        assert abs(s_edge - edge[j]) <= 0.5, (j, s_edge, edge[j])   # within one image pixel (0.5 mm)


def test_itk_path_equals_scipy_reference():
    rng = np.random.default_rng(0)
    vol = rng.random((30, 90, 110)).astype(np.float32)
    sp = (0.7, 0.9, 16.7)
    line = Line((12.0, 20.0), (math.cos(0.7), math.sin(0.7)), 55.0)
    ours, _ = mmode(_image(vol, sp), line, 33.0, 450.0, 120, 77)
    ref = mmode_reference(vol, sp, line, 33.0, 450.0, 120, 77)
    assert np.abs(ours - ref).max() < 1e-4  # float32 image vs float64 reference


def test_label_maps_use_nearest_neighbour():
    rng = np.random.default_rng(1)
    labels = rng.choice([0, 1, 3, 4], size=(10, 50, 50)).astype(np.uint8)
    mm, _ = mmode(_image(labels, (1.0, 1.0, 20.0)), Line((5.0, 5.0), (0.6, 0.8), 40.0), 0, 200, 97, 23, label=True)
    assert set(np.unique(mm)) <= {0, 1, 3, 4}


def test_septal_line_is_perpendicular_oriented_and_slides():
    contour = np.column_stack([np.full(62, 50.0), np.linspace(100, 20, 62)])  # vertical septum, base at the bottom
    line = septal_line(contour, lv_point=(70.0, 60.0), length_mm=40.0)
    assert line.direction == pytest.approx((1.0, 0.0))       # towards the LV (+x), normal to the septum
    centre = np.array(line.start) + 20.0 * np.array(line.direction)
    assert centre == pytest.approx(contour[15])
    moved = septal_line(contour, lv_point=(70.0, 60.0), length_mm=40.0, offset=-5)
    assert moved.direction == line.direction
    assert np.array(moved.start) + 20.0 * np.array(moved.direction) == pytest.approx(contour[10])
    flipped = septal_line(contour, lv_point=(30.0, 60.0), length_mm=40.0)
    assert flipped.direction == pytest.approx((-1.0, 0.0))
    with pytest.raises(ValueError, match="outside the contour"):
        septal_line(contour, lv_point=(70.0, 60.0), length_mm=40.0, offset=50)


def test_synthetic_septal_flash_lies_in_the_declared_roi():
    echo = validate_config({})["cohort"]["synthetic"]["echo"]
    cfg = {**echo, "cycles": [1, 1], "septal_flash": {**echo["septal_flash"], "amplitude_mm": [5.0, 5.0]}}
    sc = Scanner(echo["rows"], echo["cols"], echo["spacing_mm"], 75, 20)
    case = build_echo_case(np.random.default_rng(11), sample_anatomy(np.random.default_rng(12), sc), "flash",
                           "septal_flash", cfg, marker=False)
    t = case.truth
    sp = (echo["spacing_mm"], echo["spacing_mm"], case.frame_time_ms)
    contour = np.column_stack([t["septal_contour_ed"]["x_mm"], t["septal_contour_ed"]["y_mm"]])
    ed = t["r_peak_frames"][0]
    rows, cols = np.nonzero(case.masks[ed] == L.LV_CAVITY)
    lv = (cols.mean() * sp[0], rows.mean() * sp[1])
    line = septal_line(contour, lv, length_mm=50.0)
    t0, t1 = t["r_peak_frames"][0] * sp[2], t["r_peak_frames"][1] * sp[2]
    n_time = t["r_peak_frames"][1] - t["r_peak_frames"][0]
    masks = mmode(_image(case.masks, sp), line, t0, t1, 200, n_time, label=True)[0]
    evidence = mmode(_image(case.evidence, sp), line, t0, t1, 200, n_time, label=True)[0]
    times = t0 + np.arange(n_time) * sp[2]
    window = (times >= t["event_times_ms"]["mvc"] - sp[2] / 2) & (times <= t["event_times_ms"]["avo"] + sp[2] / 2)
    roi = (masks == L.SEPTUM) & window[None, :]
    assert evidence.any() and not (evidence.astype(bool) & ~roi).any()
    # The septum's LV border moves towards the LV by the flash amplitude inside the window only.
    ds = line.length_mm / 200
    border = np.array([np.argmax(masks[:, j] == L.LV_CAVITY) for j in range(n_time)]) * ds
    shift = border - border[0]
    assert shift[window].max() == pytest.approx(5.0, abs=echo["spacing_mm"])
    assert np.abs(shift[times < t["event_times_ms"]["mvc"]]).max() < echo["spacing_mm"]


def test_resize_keeps_extent_and_antialiases():
    mm = np.tile(np.array([0.0, 255.0]), (100, 50))        # alternating columns: highest frequency
    out, spacing = resize(mm, (0.5, 2.0), (50, 25))
    assert out.shape == (50, 25) and spacing == (1.0, 8.0)
    assert out.std() < 0.2 * mm.std() and out.mean() == pytest.approx(127.5, abs=5)
    ramp = np.tile(np.linspace(0, 99, 100)[:, None], (1, 10))
    up, _ = resize(ramp, (1.0, 1.0), (200, 10))
    assert up[50:150, 5] == pytest.approx(np.linspace(0, 99, 200)[50:150], abs=0.6)


def test_mmode_geometry_survives_a_write_read_round_trip(tmp_path):
    from cardiolens.ingest.canonical import make_image, read_image, write_image

    arr = np.random.default_rng(2).random((64, 48)).astype(np.float32)
    direction = np.array([[0.0, 1.0], [1.0, 0.0]])
    write_image(make_image(arr, (12.5, 0.25), (100.0, 0.125), direction), tmp_path / "m.mha")
    back = read_image(tmp_path / "m.mha")
    assert list(back.GetSpacing()) == [12.5, 0.25] and list(back.GetOrigin()) == [100.0, 0.125]
    assert np.array_equal(itk.array_from_matrix(back.GetDirection()), direction)
    assert np.array_equal(itk.array_from_image(back), arr)
