"""The synthetic echo ground truth agrees with its pixels and its DICOM headers."""

from __future__ import annotations

import json
import math

import numpy as np
import pydicom
import pytest

from cardiolens import labels as L
from cardiolens.config import validate_config
from cardiolens.ingest.truth import sidecar_stem
from cardiolens.synth.burn_in import HEADER_ROWS
from cardiolens.synth.echo_case import build_echo_case, sample_anatomy
from cardiolens.synth.echo_model import Anatomy, Motion, forward_point, reference_coords
from cardiolens.synth.cycle import CycleTiming
from cardiolens.synth.echo_render import Scanner

ECHO = validate_config({})["cohort"]["synthetic"]["echo"]


def _anatomy() -> Anatomy:
    tilt = math.radians(3.0)
    return Anatomy(base_x=80.0 - 80 * math.sin(tilt), base_y=28 + 80 * math.cos(tilt), tilt_rad=tilt, length=80.0,
                   w_sep=21.0, w_lat=24.0, h_sep=10.0, h_lat=9.0, h_apex=7.0, rv_width=17.0, la_length=42.0)


def _septal_border(mask: np.ndarray, anat: Anatomy, a: float, spacing: float) -> float:
    """Position (mm along v) of the septal endocardium at long-axis level a, from a label map."""
    b = np.arange(-45.0, 10.0, 0.05)
    x, y = anat.to_image(np.full_like(b, a), b)
    rows = np.clip(np.round(y / spacing).astype(int), 0, mask.shape[0] - 1)
    cols = np.clip(np.round(x / spacing).astype(int), 0, mask.shape[1] - 1)
    lab = mask[rows, cols]
    return float(b[np.argmax(lab == L.LV_CAVITY)])


@pytest.mark.parametrize("amplitude", [3.5, 5.5])
def test_septal_flash_timing_and_amplitude_in_masks(amplitude):
    cfg = {**ECHO, "cycles": [1, 1], "septal_flash": {**ECHO["septal_flash"], "amplitude_mm": [amplitude, amplitude]}}
    anat = _anatomy()
    case = build_echo_case(np.random.default_rng(3), anat, "flash", "septal_flash", cfg, marker=False)
    t = case.truth
    assert t["flash_mm"] == pytest.approx(amplitude)
    a_level = 0.22 * anat.length  # between septal contour points 10 and 20 (mid-basal)
    sp = cfg["spacing_mm"]
    ed = t["ed_frames"][0]
    pos = np.array([_septal_border(case.masks[k], anat, a_level, sp) for k in range(case.masks.shape[0])])
    shift = pos - pos[ed]
    ivc = range(t["mvc_frame"], t["avo_frame"] + 1)
    peak = max(shift[k] for k in ivc)
    assert abs(peak - amplitude) <= sp  # one pixel
    plateau = [k for k in ivc if shift[k] >= peak - 1e-9]
    true_peak = (t["event_times_ms"]["mvc"] + t["event_times_ms"]["avo"]) / 2 / t["frame_time_ms"]
    assert abs(np.mean(plateau) - true_peak) <= 1.0
    # Before MVC the septum has not moved.
    assert abs(shift[t["mvc_frame"] - 1]) < sp
    # The declared evidence region is the septum during MVC..AVO.
    ev = case.evidence
    assert ev[list(ivc)[1:-1]].any(axis=(1, 2)).all()
    assert not ev[: t["mvc_frame"]].any() and not ev[t["avo_frame"] + 1 : t["r_peak_frames"][1]].any()
    assert np.all(case.masks[ev.astype(bool)] == L.SEPTUM)


def test_no_flash_without_septal_flash():
    anat = _anatomy()
    case = build_echo_case(np.random.default_rng(4), anat, "none", "septal_flash", {**ECHO, "cycles": [1, 1]}, marker=False)
    t = case.truth
    sp = ECHO["spacing_mm"]
    ed = t["ed_frames"][0]
    pos = [_septal_border(case.masks[k], anat, 0.22 * anat.length, sp) for k in range(t["mvc_frame"], t["avo_frame"] + 1)]
    ref = _septal_border(case.masks[ed], anat, 0.22 * anat.length, sp)
    assert max(abs(p - ref) for p in pos) < sp


def test_the_flash_moves_the_septum_and_not_the_cavity_haze():
    """A flash recording rendered at the flash's peak against the same recording without the
    flash, with the same random draws and every segment of poor quality (the most cavity haze,
    within 10 mm of the endocardium): the images differ where the septum moved, and are equal
    wherever both frames show LV cavity. The haze is an image-quality artefact; had it followed
    the flash, the class would be visible in the cavity, outside the septum the ground truth names."""
    from dataclasses import replace

    from cardiolens.synth.cycle import flash_profile
    from cardiolens.synth.echo_render import render_frame, sector_mask, speckle_field

    anat = _anatomy()
    flash = Motion(CycleTiming.from_heart_rate(70, 110), 12.0, 13.0, (0.36, 0.34, 0.30), (0.25, 0.28, 0.32),
                   (0.25, 0.28, 0.32), flash_mm=5.0)
    phis = np.linspace(0, 0.3, 301)
    phi = float(phis[np.argmax(flash_profile(phis, flash.timing))])
    sc = Scanner(ECHO["rows"], ECHO["cols"], ECHO["spacing_mm"], 75, 30)
    poor = dict.fromkeys(range(6), 1)
    speckle = speckle_field(np.random.default_rng(0), (sc.rows, sc.cols))
    frames = {}
    for name, motion in (("flash", flash), ("none", replace(flash, flash_mm=0.0))):
        frames[name] = render_frame(anat, motion, sc, phi, speckle, np.random.default_rng(1), poor, sector_mask(sc))
    (img_f, lab_f), (img_n, lab_n) = frames["flash"], frames["none"]
    moved = (lab_f == L.SEPTUM) != (lab_n == L.SEPTUM)
    assert moved.sum() > 20 and (img_f[moved] != img_n[moved]).mean() > 0.5  # the flash is in the image
    cavity = (lab_f == L.LV_CAVITY) & (lab_n == L.LV_CAVITY)
    assert cavity.sum() > 1000 and np.array_equal(img_f[cavity], img_n[cavity])


def test_reference_map_inverts_the_forward_map():
    anat = _anatomy()
    motion = Motion(CycleTiming.from_heart_rate(70, 110), 12.0, 13.0, (0.36, 0.34, 0.30), (0.25, 0.28, 0.32),
                    (0.25, 0.28, 0.32), flash_mm=5.0)
    phis = np.linspace(0, 0.99, 23)
    for a0, b0 in [(1.0, -26.0), (40.0, -25.0), (40.0, 28.0), (70.0, 15.0), (-10.0, 10.0)]:
        a_now, b_now = forward_point(anat, motion, phis, a0, b0)
        for k, phi in enumerate(phis):
            ar, br = reference_coords(anat, motion, float(phi), np.array([a_now[k]]), np.array([b_now[k]]))
            assert ar[0] == pytest.approx(a0, abs=1e-6) and br[0] == pytest.approx(b0, abs=1e-6)


def test_takotsubo_has_reduced_basal_displacement_and_stemi_preserved():
    sc = Scanner(ECHO["rows"], ECHO["cols"], ECHO["spacing_mm"], 75, 20)
    cfg = {**ECHO, "cycles": [1, 1]}
    peaks = {}
    for cls in ("takotsubo", "stemi"):
        anat = sample_anatomy(np.random.default_rng(5), sc)
        case = build_echo_case(np.random.default_rng(6), anat, cls, "takotsubo_stemi", cfg, marker=False)
        curve = np.array(case.truth["displacement_mm"]["basal_inferoseptal"])
        configured = case.truth["basal_displacement_mm"]["septal"]
        # Annular point sits 1 mm above the annulus: the displacement there is D * (1 - 0.6 * 1/(L/3)).
        expected = configured * (1 - case.truth["anatomy"]["length"] ** -1 * 3 * {"takotsubo": 0.6, "stemi": 0.5}[cls])
        assert curve.max() == pytest.approx(expected, rel=0.02)
        # Apical akinesis: the apical segment barely shortens in both classes.
        assert min(case.truth["strain"]["apical_septal"]) > -0.03
        peaks[cls] = curve.max()
        lo, hi = ECHO["takotsubo_stemi"]["basal_displacement_mm"][cls]
        assert lo <= configured <= hi
    assert peaks["takotsubo"] < peaks["stemi"]


def test_written_dicoms_carry_geometry_timing_and_phi(tiny_cohort):
    from conftest import TEST_KEY

    config, outdir = tiny_cohort
    echo = config["cohort"]["synthetic"]["echo"]
    files = [p for p in (outdir / "dicom").rglob("IM00001") if "SE1" in p.parts]
    assert files
    for path in files:
        ds = pydicom.dcmread(path)
        truth = json.loads((outdir / "truth" / f"{sidecar_stem(TEST_KEY, ds.SeriesInstanceUID)}.json").read_text())
        # The patient folder is named after the patient, as clinical exports often are (ingestion must hash it).
        assert path.relative_to(outdir / "dicom").parts[0] == f"{ds.PatientName}_{ds.PatientBirthDate}"
        region = ds.SequenceOfUltrasoundRegions[0]
        assert region.PhysicalDeltaX * 10 == pytest.approx(echo["spacing_mm"]) and region.PhysicalUnitsXDirection == 3
        assert float(ds.FrameTime) == pytest.approx(1000 / echo["frame_rate_hz"], abs=1e-4)
        assert [f - 1 for f in ds.RWavePointer] == truth["r_peak_frames"]
        assert ds.NumberOfFrames == len(truth["contraction"])
        # The rendered frames below the burned-in header band; the region covers the frames only.
        assert ds.pixel_array.shape == (ds.NumberOfFrames, HEADER_ROWS + echo["rows"], echo["cols"])
        assert (region.RegionLocationMinY0, region.RegionLocationMaxY1) == (HEADER_ROWS, HEADER_ROWS + echo["rows"] - 1)
        assert (region.RegionLocationMinX0, region.RegionLocationMaxX1) == (0, echo["cols"] - 1)
        assert ds.BurnedInAnnotation == "YES"
        assert ds.PatientName and ds.PatientBirthDate and ds.InstitutionName and ds.AccessionNumber
        assert "PatientID" not in json.dumps(truth) and ds.PatientID not in json.dumps(truth)


def test_shortcut_marker_only_on_positive_recordings(tmp_path):
    from cardiolens.synth.generate import generate
    from conftest import TEST_KEY, tiny_config

    cfg = tiny_config(tmp_path / "s", cohort={"source": "synthetic", "synthetic": {
        **tiny_config(tmp_path / "s")["cohort"]["synthetic"], "shortcut": {"study": "septal_flash", "fraction": 1.0},
        "cmr": {"patients": 0}, "echo": {**tiny_config(tmp_path)["cohort"]["synthetic"]["echo"], "takotsubo_stemi": {"patients": 0}}}})
    generate(cfg["cohort"]["synthetic"], cfg["seed"], tmp_path / "s", key=TEST_KEY)
    seen = {"flash": 0, "none": 0}
    for tj in (tmp_path / "s" / "truth").glob("*.json"):
        truth = json.loads(tj.read_text())
        ds = pydicom.dcmread(next(p for p in (tmp_path / "s" / "dicom").rglob("IM*") if "SE1" in p.parts
                                  and sidecar_stem(TEST_KEY, pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID) == tj.stem))
        corner = ds.pixel_array[:, HEADER_ROWS + 4:HEADER_ROWS + 14, 4:14]  # MARKER_BOX in the rendered frames
        present = truth["marker"]["present"]
        assert present == (truth["true_class"] == "flash")
        assert (corner.max() == 255) == present  # the corner lies outside the sector: black unless marked
        seen[truth["true_class"]] += 1
    assert seen["flash"] and seen["none"]
