"""Cine-MR exports beyond one series of single-frame files per stack.

- Enhanced (multi-frame) MR: one file per series, each frame's position, trigger delay and
  rescale in its functional groups. It must ingest to exactly the recording that the same images
  give as single-frame files, whatever the frame order inside the file.
- One series per slice (each short-axis slice acquired in its own breath-hold): the slices of one
  study become one stack when they form a clean one, and stay apart, with the reason logged, when
  they do not."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from cardiolens.ingest.dicom_scan import read_header
from conftest import real_paths
from fakes import write_enhanced_mr
from test_bad_inputs import _image, _ingest, mr_series


def sax_singles(folder: Path, pid: str, slices: int = 3, phases: int = 4) -> list[Path]:
    """A (slices x phases) short-axis cine of single-frame files, 10 mm apart along the normal,
    stored values rescaled by slope 2 and intercept -100."""
    series = generate_uid()
    paths = []
    for s in range(slices):
        for p in mr_series(folder / f"s{s}", f"{pid}", phases=phases):
            ds = pydicom.dcmread(p)
            ds.SeriesInstanceUID = series
            ds.ImagePositionPatient = [0.0, 0.0, 10.0 * s]
            ds.RescaleSlope, ds.RescaleIntercept = 2, -100
            ds.PixelData = (pydicom.dcmread(p).pixel_array + 100 * s).astype("<u2").tobytes()  # distinct slices
            ds.save_as(p)
            paths.append(p)
    return paths


def test_an_enhanced_mr_file_ingests_like_its_single_frame_images(tmp_path):
    singles = sax_singles(tmp_path / "single", "PID-ENH")
    order = np.random.default_rng(0).permutation(len(singles))  # frames in no particular order
    packed = write_enhanced_mr(tmp_path / "enhanced" / "series.dcm", singles, order)
    headers = read_header(packed, tmp_path / "enhanced")
    assert isinstance(headers, tuple) and len(headers) == 12 and [h.frame for h in headers] == list(range(12))
    assert headers[0].trigger_time == pydicom.dcmread(singles[order[0]]).TriggerTime
    ref = _ingest(tmp_path / "single", tmp_path / "out_single")
    got = _ingest(tmp_path / "enhanced", tmp_path / "out_enhanced")
    assert len(got.rejected) == 0 and len(got.recordings) == len(ref.recordings) == 1
    a, b = got.recordings.iloc[0], ref.recordings.iloc[0]
    assert [real_paths(got)[f] for f in a["source_files"]] == ["series.dcm"]   # one file, listed once
    for col in ("n_slices", "n_frames", "rows", "cols", "spacing_x_mm", "spacing_y_mm", "spacing_z_mm", "frame_time_ms"):
        assert a[col] == b[col], col
    img = _image(str(tmp_path / "out_enhanced" / a["image_path"]))
    assert img.shape == (4, 3, 16, 16) and np.array_equal(img, _image(str(tmp_path / "out_single" / b["image_path"])))
    # slope 2, intercept -100 applied per frame: slice 1's first phase is 2 * (stored + 100) - 100
    stored = pydicom.dcmread(singles[4]).pixel_array.astype(np.float32)
    assert np.array_equal(img[0, 1], 2 * stored - 100)


def test_a_shared_rescale_and_a_duplicate_file(tmp_path):
    singles = sax_singles(tmp_path / "single", "PID-SHR", slices=2, phases=3)
    packed = write_enhanced_mr(tmp_path / "enhanced" / "a.dcm", singles, rescale_at="shared")
    shutil.copy(packed, tmp_path / "enhanced" / "b.dcm")  # the same SOP instance exported twice
    got = _ingest(tmp_path / "enhanced", tmp_path / "out")
    assert len(got.recordings) == 1 and got.rejected["reason"].tolist() == ["duplicate_instance"]
    img = _image(str(tmp_path / "out" / got.recordings.iloc[0]["image_path"]))
    assert np.array_equal(img[0, 0], 2 * pydicom.dcmread(singles[0]).pixel_array.astype(np.float32) - 100)


@pytest.mark.parametrize("how, reason, words", [
    ("no positions", "missing_attribute", "lacks position"),
    ("no trigger delays", "incomplete_series", "TriggerTime"),
    ("groups cut short", "unsupported", "2 per-frame functional groups"),
])
def test_an_enhanced_file_without_frame_geometry_is_rejected_once(tmp_path, how, reason, words):
    singles = sax_singles(tmp_path / "single", "PID-BAD", slices=2, phases=3)
    drop = {"no positions": ("PlanePositionSequence",), "no trigger delays": ("CardiacSynchronizationSequence",)}.get(how, ())
    packed = write_enhanced_mr(tmp_path / "enhanced" / "x.dcm", singles, drop=drop)
    if how == "groups cut short":
        ds = pydicom.dcmread(packed)
        ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:2]
        ds.save_as(packed)
    got = _ingest(tmp_path / "enhanced", tmp_path / "out")
    assert len(got.recordings) == 0 and got.rejected["reason"].tolist() == [reason]
    assert words in got.rejected["message"].iloc[0]


def slice_series(folder: Path, pid: str, positions: list[float], phases: int = 3, study: str | None = None,
                 offset: int = 0) -> list[list[Path]]:
    """One single-slice cine series per position (its own SeriesInstanceUID), as scanners that
    acquire each short-axis slice in its own breath-hold export them."""
    study = study or generate_uid()
    out = []
    for k, z in enumerate(positions):
        paths = mr_series(folder / f"series{k}", pid, phases=phases)
        for p in paths:
            ds = pydicom.dcmread(p)
            ds.StudyInstanceUID = study
            ds.ImagePositionPatient = [0.0, 0.0, z]
            ds.PixelData = (ds.pixel_array + 7 * k + offset).astype("<u2").tobytes()  # distinct images
            ds.save_as(p)
        out.append(paths)
    return out


def _source(root: Path, **options) -> dict:
    return {"name": "corpus", "adapter": "dicom", "path": str(root), "clinical": None, "options": options}


def test_single_slice_series_of_one_study_become_one_stack(tmp_path):
    from cardiolens.ingest.stage import ingest_source
    from conftest import TEST_KEY

    series = slice_series(tmp_path / "src", "PID-STACK", [20.0, 0.0, 10.0])  # exported in no particular order
    got = _ingest(tmp_path / "src", tmp_path / "out")
    assert len(got.rejected) == 0 and len(got.recordings) == 1
    row = got.recordings.iloc[0]
    assert (row["n_slices"], row["n_frames"], row["spacing_z_mm"]) == (3, 3, 10.0) and len(row["source_files"]) == 9
    img = _image(str(tmp_path / "out" / row["image_path"]))
    # slices ordered along the normal: z 0 (series 1), 10 (series 2), 20 (series 0); phases by trigger time
    for s, k in enumerate([1, 2, 0]):
        for p in range(3):
            assert np.array_equal(img[p, s], pydicom.dcmread(series[k][p]).pixel_array.astype(np.float32))
    apart = ingest_source(_source(tmp_path / "src", stack_series=False), TEST_KEY, tmp_path / "out_apart")
    assert len(apart.recordings) == 3 and set(apart.recordings["n_slices"]) == {1}


@pytest.mark.parametrize("positions, why", [
    ([0.0, 10.0, 10.0], "acquired more than once without distinct SeriesNumbers"),  # a slice acquired twice
    ([0.0, 10.0, 30.0], "non-uniform slice spacing"),   # a slice missing from the stack
])
def test_series_that_do_not_form_a_clean_stack_stay_recordings_of_their_own(tmp_path, caplog, positions, why):
    import logging

    slice_series(tmp_path / "src", "PID-NOSTACK", positions)
    with caplog.at_level(logging.INFO, logger="cardiolens.ingest.adapters.dicom"):
        got = _ingest(tmp_path / "src", tmp_path / "out")
    assert len(got.rejected) == 0 and len(got.recordings) == 3 and set(got.recordings["n_slices"]) == {1}
    assert any(why in r.getMessage() and "not stacked" in r.getMessage() for r in caplog.records)


def test_series_of_other_studies_or_orientations_are_not_stacked(tmp_path):
    slice_series(tmp_path / "src", "PID-A", [0.0, 10.0])
    slice_series(tmp_path / "src2", "PID-A", [20.0], offset=1)                 # another study of the same patient
    lax = slice_series(tmp_path / "src3", "PID-A", [30.0], offset=2)[0]        # a long-axis view in the first study
    study = pydicom.dcmread(next((tmp_path / "src" / "series0").iterdir())).StudyInstanceUID
    for p in lax:
        ds = pydicom.dcmread(p)
        ds.StudyInstanceUID, ds.ImageOrientationPatient = study, [1, 0, 0, 0, 0, -1]
        ds.save_as(p)
    for sub in ("src2", "src3"):
        shutil.move(tmp_path / sub, tmp_path / "src" / sub)
    got = _ingest(tmp_path / "src", tmp_path / "out")
    assert len(got.rejected) == 0 and sorted(got.recordings["n_slices"]) == [1, 1, 2]


@pytest.mark.parametrize("how", ["legacy converted", "rescale at the top level", "one frame per file"])
def test_other_enhanced_layouts_ingest_like_their_single_frame_images(tmp_path, how):
    singles = sax_singles(tmp_path / "single", "PID-LAY", slices=2, phases=3)
    if how == "one frame per file":  # Enhanced MR Image Storage with NumberOfFrames 1
        for i, p in enumerate(singles):
            write_enhanced_mr(tmp_path / "enhanced" / f"f{i}.dcm", [p])
        ds = pydicom.dcmread(tmp_path / "enhanced" / "f0.dcm")
        assert ds.NumberOfFrames == 1 and "ImagePositionPatient" not in ds
    else:
        write_enhanced_mr(tmp_path / "enhanced" / "x.dcm", singles, np.arange(len(singles))[::-1],
                          legacy=how == "legacy converted", rescale_at="top" if how.startswith("rescale") else "frame")
    ref = _ingest(tmp_path / "single", tmp_path / "out_single")
    got = _ingest(tmp_path / "enhanced", tmp_path / "out")
    assert len(got.rejected) == 0 and len(got.recordings) == 1
    assert np.array_equal(_image(str(tmp_path / "out" / got.recordings.iloc[0]["image_path"])),
                          _image(str(tmp_path / "out_single" / ref.recordings.iloc[0]["image_path"])))


def test_a_repeated_slice_keeps_the_later_series_in_the_stack(tmp_path):
    series = slice_series(tmp_path / "src", "PID-REP", [0.0, 10.0, 10.0])
    for k, number in enumerate([3, 9, 4]):  # the slice at 10 mm: series 1 (number 9) repeats series 2 (number 4)
        for p in series[k]:
            ds = pydicom.dcmread(p)
            ds.SeriesNumber = number
            ds.save_as(p)
    got = _ingest(tmp_path / "src", tmp_path / "out")
    assert len(got.rejected) == 0 and sorted(got.recordings["n_slices"]) == [1, 2]
    stack = got.recordings[got.recordings["n_slices"] == 2].iloc[0]
    img = _image(str(tmp_path / "out" / stack["image_path"]))
    assert np.array_equal(img[0, 1], pydicom.dcmread(series[1][0]).pixel_array.astype(np.float32))


@pytest.mark.parametrize("change, why", [
    ("phases", "phase counts differ"),
    ("in-plane", "in-plane positions differ by up to 30.0 mm"),
    ("frame time", "frame times differ (40.0 to 60.0 ms)"),
    ("late start", "first phases lie 300 ms apart"),
])
def test_slices_that_were_not_acquired_as_one_stack_stay_apart(tmp_path, caplog, change, why):
    import logging

    series = slice_series(tmp_path / "src", "PID-APART", [0.0, 10.0, 20.0], phases=3)
    if change == "phases":
        shutil.rmtree(series[1][0].parent)
        series[1] = slice_series(tmp_path / "src" / "extra", "PID-APART", [10.0], phases=4, offset=50,
                                 study=pydicom.dcmread(series[0][0]).StudyInstanceUID)[0]
    for p in series[1] if change != "phases" else []:
        ds = pydicom.dcmread(p)
        if change == "in-plane":
            ds.ImagePositionPatient = [30.0, 0.0, 10.0]
        elif change == "frame time":
            ds.TriggerTime = float(ds.TriggerTime) * 1.5
        else:
            ds.TriggerTime = float(ds.TriggerTime) + 300
        ds.save_as(p)
    with caplog.at_level(logging.INFO, logger="cardiolens.ingest.adapters.dicom"):
        got = _ingest(tmp_path / "src", tmp_path / "out")
    assert len(got.rejected) == 0 and len(got.recordings) == 3 and set(got.recordings["n_slices"]) == {1}
    assert any(why in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_a_classic_mr_image_with_a_stray_per_frame_group_is_read_as_a_classic_image(tmp_path):
    # Sunnybrook's single-frame MR Image Storage files carry a PerFrameFunctionalGroupsSequence
    # beside their own geometry: the SOP class, not that sequence, says how to read a file
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    singles = sax_singles(tmp_path / "src", "PID-CLASSIC", slices=2, phases=3)
    for p in singles:
        ds = pydicom.dcmread(p)
        ds.PerFrameFunctionalGroupsSequence = Sequence([Dataset()])
        ds.save_as(p)
    header = read_header(singles[0], tmp_path / "src")
    assert not isinstance(header, tuple) and header.frame is None and header.position == (0.0, 0.0, 0.0)
    got = _ingest(tmp_path / "src", tmp_path / "out")
    assert len(got.rejected) == 0 and (got.recordings.iloc[0]["n_slices"], got.recordings.iloc[0]["n_frames"]) == (2, 3)
