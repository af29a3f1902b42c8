"""Enhanced (multi-frame) MR exports: one file per series, each frame's position, trigger delay and
rescale in its functional groups. They must ingest to exactly the recording that the same images
give as single-frame files, whatever the frame order inside the file."""

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
    packed = write_enhanced_mr(tmp_path / "enhanced" / "a.dcm", singles, per_frame_rescale=False)
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
