"""Patient text burned into the pixels never reaches a canonical image (issue 22, part 1).

Files are written on the fly: a multi-frame ultrasound DICOM with "DOE^JANE 19570312 ST MARYS"
in bright 5 x 7 text in a band above its imaging area, the same file without or with broken
ultrasound regions, cine-MR images flagged BurnedInAnnotation, an EchoNet video. Every check is
on pixel values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import itk
import numpy as np
import pandas as pd
import pydicom
import pytest

from cardiolens.ingest import blanking
from cardiolens.ingest.adapters.avi import read_avi
from cardiolens.ingest.blanking import Box
from cardiolens.hashing import sha256_file, sha256_of_hashes
from cardiolens.ingest.stage import ingest_source
from cardiolens.synth.burn_in import HEADER_ROWS, header_band, header_lines
from cardiolens.synth.dicom_write import StudyInfo, det_uid, write_mr_slice, write_us_multiframe
from cardiolens.synth.echo_render import Scanner, sector_mask
from cardiolens.synth.font import draw_text, text_bitmap
from cardiolens.synth.phi import PatientPHI
from conftest import TEST_KEY
from fakes import write_mjpeg_avi

TEXT = "DOE^JANE 19570312 ST MARYS"
T, H, W = 4, 64, 160          # rendered frames below the band
BAND = 11                     # text band rows: 2 blank, 7 glyph rows (2..8), 2 blank
PHI = PatientPHI("JD0001", "DOE^JANE", "19570312", "ST MARYS", "SMITH^ANN", dt.date(2021, 5, 4))
STUDY = StudyInfo(PHI, "F", 64.0, det_uid("bi", "study"), "ACC1", dt.date(2021, 5, 4))


def _band() -> np.ndarray:
    """(BAND, W) black band with TEXT in bright (255) glyphs from row 2, column 2."""
    band = np.zeros((BAND, W), np.uint8)
    draw_text(band, TEXT, 2, 2)
    return band


def _fan() -> np.ndarray:
    """(T, H, W) frames: speckle 1..254 inside a 75-degree sector, apex at the top centre, 0 outside."""
    fan = sector_mask(Scanner(H, W, 1.0, 75.0, 20.0))
    return np.where(fan, np.random.default_rng(0).integers(1, 255, (T, H, W)), 0).astype(np.uint8)


def _us_file(path: Path, edit=None) -> np.ndarray:
    """Write the band above the fan as a US multi-frame DICOM (region = the fan's rows); ``edit``
    changes the dataset before it is saved again. Returns the rendered frames."""
    frames = _fan()
    write_us_multiframe(path, frames, 0.3, 20.0, 60.0, [0], STUDY, det_uid("bi", path.name, "series"),
                        det_uid("bi", path.name, "sop"), 1, header=_band())
    if edit is not None:
        ds = pydicom.dcmread(path)
        edit(ds)
        ds.save_as(path, enforce_file_format=True)
    return frames


def _ingest(root: Path, out: Path, **options):
    source = {"name": "bi", "adapter": "dicom", "path": str(root), "clinical": None, "options": options}
    return ingest_source(source, TEST_KEY, out, reuse_store=False)


def _image(row: pd.Series) -> np.ndarray:
    return itk.array_from_image(itk.imread(row["image_path"]))


def test_the_band_holds_bright_text_outside_the_region(tmp_path):
    _us_file(tmp_path / "us" / "IM1")
    ds = pydicom.dcmread(tmp_path / "us" / "IM1")
    px = ds.pixel_array
    region = ds.SequenceOfUltrasoundRegions[0]
    assert px.shape == (T, BAND + H, W) and ds.BurnedInAnnotation == "YES"
    assert (region.RegionLocationMinY0, region.RegionLocationMaxY1) == (BAND, BAND + H - 1)
    # The band's bright pixels are exactly the text's lit glyph pixels, in every frame.
    lit = int(text_bitmap(TEXT).sum())
    assert lit > 300  # 26 characters of 5 x 7 glyphs, ~15 lit pixels each
    assert ((px[:, :BAND] == 255).sum(axis=(1, 2)) == lit).all() and (px[:, :BAND] != 0).sum() == T * lit


def test_regions_keep_the_imaging_area_and_crop_the_text_away(tmp_path):
    frames = _us_file(tmp_path / "us" / "IM1")
    res = _ingest(tmp_path / "us", tmp_path / "out")
    assert len(res.rejected) == 0
    row = res.recordings.iloc[0]
    img = _image(row)
    # The region is rows BAND..BAND+H-1, all columns: the canonical image is the rendered frames,
    # pixel for pixel, and the BAND x W = 11 x 160 = 1760 band pixels per frame are gone.
    assert img.shape == (T, H, W) and np.array_equal(img, frames)
    assert (row["pixels_kept"], row["burned_in_annotation"]) == ("us_regions", True)
    assert list(row["source_crop_px"]) == [BAND, BAND + H - 1, 0, W - 1]
    assert row["pixels_blanked"] == 1760 and row["pixels_blanked_fraction"] == pytest.approx(1760 / ((BAND + H) * W))


def _sector_checks(row: pd.Series, frames: np.ndarray) -> None:
    """No region used: the image keeps its (BAND + H, W) shape; the band (rows 0..BAND-1) is all 0,
    and the fan is kept as rendered. The text is its own component, 2 black rows above the fan,
    so it is outside the fan's hull."""
    img = _image(row)
    assert img.shape == (T, BAND + H, W)
    assert (img[:, :BAND] == 0).all()
    fan = frames.max(axis=0) > 0
    assert np.array_equal(img[:, BAND:][:, fan], frames[:, fan])
    assert (img[:, BAND:][:, ~fan] > blanking.SECTOR_BACKGROUND).sum() == 0  # nothing bright outside the kept area
    assert row["pixels_kept"] == "us_sector_from_image" and list(row["source_crop_px"]) == [0, BAND + H - 1, 0, W - 1]
    # Blanked: at least every lit text pixel (the hull of the fan also leaves its black corners out).
    assert row["pixels_blanked"] >= text_bitmap(TEXT).sum() and row["burned_in_annotation"]


def test_without_regions_the_sector_from_the_image_is_kept(tmp_path):
    def no_regions(ds: pydicom.Dataset) -> None:
        del ds.SequenceOfUltrasoundRegions
        ds.PixelSpacing = ["0.3", "0.3"]

    frames = _us_file(tmp_path / "us" / "IM1", no_regions)
    res = _ingest(tmp_path / "us", tmp_path / "out")
    _sector_checks(res.recordings.iloc[0], frames)


@pytest.mark.parametrize("broken", ["outside", "inverted", "missing"])
def test_inconsistent_regions_fall_back_to_the_sector(tmp_path, broken):
    def edit(ds: pydicom.Dataset) -> None:
        region = ds.SequenceOfUltrasoundRegions[0]
        if broken == "outside":
            region.RegionLocationMaxY1 = BAND + H + 20  # beyond the image's last row
        elif broken == "inverted":
            region.RegionLocationMinX0, region.RegionLocationMaxX1 = W - 1, 0  # min > max
        else:
            del region.RegionLocationMinY0

    frames = _us_file(tmp_path / "us" / "IM1", edit)
    res = _ingest(tmp_path / "us", tmp_path / "out")
    _sector_checks(res.recordings.iloc[0], frames)


def test_flagged_file_with_nothing_to_blank_is_rejected(tmp_path):
    """No regions, and no black around the image (the sector is the whole frame): the text cannot
    be told from the image, so a file flagged YES is rejected, not ingested with its text."""
    def grey(ds: pydicom.Dataset) -> None:
        del ds.SequenceOfUltrasoundRegions
        ds.PixelSpacing = ["0.3", "0.3"]
        ds.PixelData = np.maximum(ds.pixel_array, 40).astype(np.uint8).tobytes()

    _us_file(tmp_path / "us" / "IM1", grey)
    res = _ingest(tmp_path / "us", tmp_path / "out")
    assert len(res.recordings) == 0 and list(res.rejected["reason"]) == ["burned_in_annotation"]
    assert "keep_region" in res.rejected["message"].iloc[0]


def _mr_series(root: Path) -> np.ndarray:
    """One slice, 3 phases of 48 x 64 MR flagged BurnedInAnnotation YES, with TEXT (value 4095) in
    rows 1..7 and a bright disc (1000) in the middle. Returns the (3, 48, 64) images."""
    yy, xx = np.mgrid[0:48, 0:64]
    images = []
    for p in range(3):
        img = np.where(np.hypot(yy - 28, xx - 32) < 12, 1000, 100).astype(np.uint16)
        draw_text(img, TEXT[:10], 1, 1, 4095)
        images.append(img)
        path = root / f"IM{p + 1}"
        write_mr_slice(path, img, 1.5, 8.0, np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), 40.0 * p, 60.0,
                       STUDY, det_uid("bi", "mr"), det_uid("bi", "mr", p), p + 1, det_uid("bi", "for"))
        ds = pydicom.dcmread(path)
        ds.BurnedInAnnotation = "YES"
        ds.save_as(path, enforce_file_format=True)
    return np.stack(images)


def test_mr_flagged_burned_in_is_rejected_with_its_reason(tmp_path):
    _mr_series(tmp_path / "mr")
    res = _ingest(tmp_path / "mr", tmp_path / "out")
    assert len(res.recordings) == 0 and len(res.rejected) == 3
    assert set(res.rejected["reason"]) == {"burned_in_annotation"}
    assert "BurnedInAnnotation is YES in 3 of 3" in res.rejected["message"].iloc[0]


def test_mr_with_keep_region_is_ingested_blanked_outside_it(tmp_path):
    images = _mr_series(tmp_path / "mr")
    res = _ingest(tmp_path / "mr", tmp_path / "out", keep_region=[10, 47, 0, 63])
    assert len(res.rejected) == 0
    row = res.recordings.iloc[0]
    img = _image(row)  # (phases, slices, rows, cols) = (3, 1, 48, 64), not cropped
    assert img.shape == (3, 1, 48, 64)
    assert (img[:, :, :10] == 0).all()  # rows 0..9: the text (rows 1..7) and the rows around it
    assert np.array_equal(img[:, 0, 10:], images[:, 10:].astype(np.float32))
    # 10 rows x 64 columns = 640 pixels blanked per slice image, 640 / (48 x 64) = 0.2083.
    assert (row["pixels_kept"], row["pixels_blanked"], row["burned_in_annotation"]) == ("config_region", 640, True)
    assert row["pixels_blanked_fraction"] == pytest.approx(640 / 3072)


def test_keep_region_that_does_not_fit_rejects_the_recording(tmp_path):
    _mr_series(tmp_path / "mr")
    res = _ingest(tmp_path / "mr", tmp_path / "out", keep_region=[10, 60, 0, 63])  # 48 rows only
    assert len(res.recordings) == 0 and set(res.rejected["reason"]) == {"malformed_metadata"}
    assert "lies outside the 48 x 64 image" in res.rejected["message"].iloc[0]


def test_echonet_video_keeps_its_sector_and_loses_its_text(tmp_path):
    """An AVI has no regions: the sector from the image. The text sits 16 black rows above the fan,
    two 8 x 8 JPEG block rows apart, so its ringing (grey levels 1-2, counted as black) does not
    join it to the fan."""
    h, w, gap = 80, 112, 16
    fan = np.zeros((T, h, w), np.uint8)
    fan[:, BAND + gap:] = _fan()[:, : h - BAND - gap, (W - w) // 2:(W + w) // 2]
    for f in fan:
        draw_text(f, TEXT[:17], 2, 2)
    root = tmp_path / "echonet"
    write_mjpeg_avi(root / "Videos" / "0XBBB.avi", fan, fps=50)
    pd.DataFrame([{"FileName": "0XBBB", "EF": 60, "FPS": 50, "NumberOfFrames": T, "FrameHeight": h, "FrameWidth": w,
                   "Split": "TEST"}]).to_csv(root / "FileList.csv", index=False)
    res = ingest_source({"name": "en", "adapter": "echonet", "path": str(root), "clinical": None, "options": {}},
                        TEST_KEY, tmp_path / "out", reuse_store=False)
    assert read_avi(root / "Videos" / "0XBBB.avi").frames[:, 2:9].max() > 200  # the decoded video shows the text
    row = res.recordings.iloc[0]
    img = _image(row)
    assert row["pixels_kept"] == "us_sector_from_image" and pd.isna(row["burned_in_annotation"])
    assert img.shape == (T, h, w) and (img[:, :BAND + gap // 2] == 0).all()  # the text rows and below them
    assert img[:, BAND + gap:].mean() > 40  # the fan is kept


def test_synthetic_echo_burns_its_phi_and_ingest_removes_it(tiny_cohort, tiny_ingest):
    """The generator's echo files: the band above the region is the patient's own header text
    (re-rendered here from the file's PHI attributes), and the canonical image is the region."""
    _, outdir = tiny_cohort
    _, res, _ = tiny_ingest
    us = res.recordings[res.recordings["modality"] == "US"].set_index("source_sha256")
    files = [p for p in (outdir / "dicom").rglob("IM00001") if "SE1" in p.parts]
    assert len(files) == len(us) > 0
    for path in files:
        ds = pydicom.dcmread(path)
        px = ds.pixel_array
        r = ds.SequenceOfUltrasoundRegions[0]
        y0, y1, x0, x1 = r.RegionLocationMinY0, r.RegionLocationMaxY1, r.RegionLocationMinX0, r.RegionLocationMaxX1
        phi = PatientPHI(ds.PatientID, str(ds.PatientName), ds.PatientBirthDate, ds.InstitutionName, "", dt.date(2000, 1, 1))
        band = header_band(header_lines(phi), px.shape[2])
        assert ds.BurnedInAnnotation == "YES" and (y0, x0, x1) == (HEADER_ROWS, 0, px.shape[2] - 1) and y1 == px.shape[1] - 1
        assert (px[:, :y0] == band).all() and (band == 255).sum() > 200  # bright text, outside the region, every frame
        row = us.loc[sha256_of_hashes([sha256_file(path)])]
        img = _image(row)
        assert np.array_equal(img, px[:, y0:y1 + 1, x0:x1 + 1])  # the region only: no band row reached the image
        assert row["pixels_kept"] == "us_regions" and row["pixels_blanked"] == HEADER_ROWS * px.shape[2]


# -- the rules on arrays, without files -----------------------------------------------------------

def test_box_and_region_problems():
    assert Box(0, 9, 0, 9).problem((10, 10)) is None
    assert "outside" in Box(0, 10, 0, 9).problem((10, 10))
    assert "min > max" in Box(5, 4, 0, 9).problem((10, 10))
    assert blanking.regions_problem([], (10, 10)) == "no SequenceOfUltrasoundRegions"
    assert "region 2 of 2" in blanking.regions_problem([Box(0, 1, 0, 1), None], (10, 10))


def test_union_of_two_regions_is_kept_and_cropped_to_its_box():
    """Two rectangles: rows 2..4 x cols 1..3 and rows 4..6 x cols 3..7 of an all-9 (8, 10) frame.
    Bounding box rows 2..6, cols 1..7 (5 x 7 = 35 pixels); union 3 x 3 + 3 x 5 - 1 shared = 23
    pixels; blanked = 80 - 23 = 57 (45 cropped away, 12 zeroed inside the box)."""
    frames = np.full((2, 8, 10), 9, np.uint8)
    out, kept = blanking.keep_us_regions(frames, [Box(2, 4, 1, 3), Box(4, 6, 3, 7)])
    assert out.shape == (2, 5, 7) and (out > 0).sum(axis=(1, 2)).tolist() == [23, 23]
    assert kept.crop == Box(2, 6, 1, 7) and kept.blanked == 57 and kept.blanked_fraction == pytest.approx(57 / 80)
    assert (out[:, 0, 3:] == 0).all()  # row 2, cols 4..7: inside the box, outside both rectangles


def test_protect_dispatches_by_modality_and_configuration():
    frames = _fan()
    arr, kept, why = blanking.protect(frames, "MR")
    assert arr is frames and kept.rule == "all" and kept.blanked == 0 and why is None
    arr, kept, why = blanking.protect(frames, "US", None)
    assert kept.rule == "us_sector_from_image" and why == "the format has no ultrasound regions"
    arr, kept, _ = blanking.protect(frames, "US", (Box(0, H - 1, 0, W - 1),), keep_region=[0, 9, 0, 9])
    assert kept.rule == "config_region" and kept.blanked == H * W - 100 and (arr[:, 10:] == 0).all()
    with pytest.raises(ValueError, match="keep_region"):
        blanking.protect(frames, "US", None, keep_region=[0, H, 0, 9])
