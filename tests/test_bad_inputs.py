"""The bad-input corpus: every kind of broken or unusual input a real export holds, generated here.

Each input ends in one place: ingested (and then checked), rejected with a reason code and a
message, or, for what no recording can be built around (a malformed clinical table, an empty
source), one error that names the file or source. No case may raise a traceback, and every file
of the source is accounted for (recordings' files + rejected = every entry under the root).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

from cardiolens.hashing import list_files
from cardiolens.ingest.stage import ingest_source
from cardiolens.privacy import path_key
from conftest import TEST_KEY, real_paths
from fakes import echo_frames, make_acdc_patient, make_camus_patient, write_image, write_mjpeg_avi

# Writing the NaN PixelSpacing case makes pydicom warn about the value: that is the case.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR DS")

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
US_SINGLE = "1.2.840.10008.5.1.4.1.1.6.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SR = "1.2.840.10008.5.1.4.1.1.88.11"


def _base(sop_class: str, pid: str, modality: str, transfer: str = ExplicitVRLittleEndian, **uids: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uids.get("sop") or generate_uid()
    meta.TransferSyntaxUID = transfer
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    if pid:
        ds.PatientID = pid
    ds.StudyInstanceUID = uids.get("study") or generate_uid()
    ds.SeriesInstanceUID = uids.get("series") or generate_uid()
    return ds


def _save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    little = ds.file_meta.TransferSyntaxUID != ExplicitVRBigEndian
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=little)
    return path


def us_dicom(path: Path, frames: np.ndarray, pid: str, *, spacing_cm: float = 0.03, photometric: str = "MONOCHROME2",
             transfer: str = ExplicitVRLittleEndian, sop_class: str = US_MULTIFRAME, n_frames: int | None = None,
             pixel_bytes: bytes | None = None, **uids: str) -> Path:
    """A multi-frame ultrasound DICOM of ``frames`` (T, H, W) or (T, H, W, 3) with one 2D tissue
    region covering the whole image (spacing in cm, as scanners write it)."""
    ds = _base(sop_class, pid, "US", transfer, **uids)
    t, h, w = frames.shape[:3]
    colour = frames.ndim == 4
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = h, w
    bits = 16 if frames.dtype == np.uint16 else 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if sop_class == US_MULTIFRAME:
        ds.NumberOfFrames = n_frames if n_frames is not None else t
        ds.FrameTime = "20.0"
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = w - 1, h - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = spacing_cm
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    if pixel_bytes is not None:
        ds.PixelData = pixel_bytes
    else:
        data = frames if sop_class == US_MULTIFRAME else frames[0]
        order = ">" if transfer == ExplicitVRBigEndian else "<"
        ds.PixelData = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(order)).tobytes()
    return _save(ds, path)


def mr_series(folder: Path, pid: str, *, phases: int = 2, shape=(16, 16), spacing: str = "1.5",
              odd_shape_at: int | None = None) -> list[Path]:
    """A one-slice cine-MR series of ``phases`` single-frame images."""
    series, study = generate_uid(), generate_uid()
    paths = []
    for p in range(phases):
        ds = _base(MR_IMAGE, pid, "MR", series=series, study=study)
        rows, cols = (shape[0] + 4, shape[1]) if p == odd_shape_at else shape
        ds.ImagePositionPatient = [0, 0, 0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing, spacing]
        ds.TriggerTime = f"{p * 40.0:.1f}"
        ds.InstanceNumber = p + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        seed = int.from_bytes(pid.encode()[-4:], "little")  # distinct pixels per patient: no accidental duplicate
        ds.PixelData = np.random.default_rng([seed, p]).integers(0, 4000, rows * cols).astype("<u2").tobytes()
        paths.append(_save(ds, folder / f"IM{p:04d}"))
    return paths


def _frames(seed: int, t: int = 6, h: int = 24, w: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 255, (t, h, w), dtype=np.uint8)


def build_dicom_corpus(root: Path) -> tuple[dict[str, str], dict[str, dict]]:
    """The DICOM cases under ``root``: ({relative path: expected reason}, {relative path: checks
    of an ingested file}). Each case has its own patient."""
    rejected: dict[str, str] = {}
    ingested: dict[str, dict] = {}

    def rel(p: Path) -> str:
        return str(p.relative_to(root))

    good = us_dicom(root / "good" / "IM1", _frames(1), "PID-GOOD")
    ingested[rel(good)] = {"shape": (6, 24, 32)}
    data = good.read_bytes()
    (root / "truncated_pixels").mkdir()
    (root / "truncated_pixels" / "IM1").write_bytes(data[: len(data) - 1000])
    rejected["truncated_pixels/IM1"] = "truncated"
    (root / "truncated_header").mkdir()
    (root / "truncated_header" / "IM1").write_bytes(data[:300])
    rejected["truncated_header/IM1"] = "truncated"
    (root / "zero_byte").mkdir()
    (root / "zero_byte" / "IM1").write_bytes(b"")
    rejected["zero_byte/IM1"] = "empty_file"
    (root / "not_dicom").mkdir()
    (root / "not_dicom" / "notes.txt").write_text("export notes, not an image\n")
    rejected["not_dicom/notes.txt"] = "not_dicom"
    sr = _base(SR, "PID-SR", "SR")
    rejected[rel(_save(sr, root / "no_pixels" / "SR1"))] = "unsupported"
    # NumberOfFrames says 4, the pixel data holds 6 whole frames
    rejected[rel(us_dicom(root / "frame_count" / "IM1", _frames(2), "PID-FC", n_frames=4))] = "frame_count_mismatch"
    # JPEG baseline frames that are not JPEG data
    corrupt = us_dicom(root / "corrupt_jpeg" / "IM1", _frames(3, t=2), "PID-JPG", transfer=JPEGBaseline8Bit,
                       pixel_bytes=encapsulate([b"\xff\xd8\xff\xe0" + bytes(200), b"\x00" * 64]))
    rejected[rel(corrupt)] = "pixel_decode_error"
    rejected[rel(us_dicom(root / "no_patient_id" / "IM1", _frames(4), ""))] = "missing_attribute"
    rejected[rel(us_dicom(root / "zero_spacing" / "IM1", _frames(5), "PID-ZS", spacing_cm=0.0))] = "no_spatial_calibration"
    for name, spacing in (("negative_spacing", "-1.5"), ("nan_spacing", "NaN")):
        for p in mr_series(root / name, f"PID-{name}", spacing=spacing):
            rejected[rel(p)] = "no_spatial_calibration"
    for p in mr_series(root / "mixed_shapes", "PID-MIX", phases=3, odd_shape_at=1):
        rejected[rel(p)] = "inconsistent_series"
    for p in mr_series(root / "mr_ok", "PID-MR"):
        ingested[rel(p)] = {"shape": (2, 1, 16, 16)}
    # the same SOP instance twice (a second copy of a file in the export)
    dup = us_dicom(root / "dup_sop_a" / "IM1", _frames(6), "PID-DUP", sop="1.2.826.0.1.3680043.8.498.1",
                   series="1.2.826.0.1.3680043.8.498.2", study="1.2.826.0.1.3680043.8.498.3")
    ingested[rel(dup)] = {"shape": (6, 24, 32)}
    (root / "dup_sop_b").mkdir()
    (root / "dup_sop_b" / "IM1").write_bytes(dup.read_bytes())
    rejected["dup_sop_b/IM1"] = "duplicate_instance"
    # the same pixels under other UIDs (a re-export): the one whose path sorts later is rejected
    rejected[rel(us_dicom(root / "zz_same_pixels" / "IM1", _frames(1), "PID-GOOD"))] = "duplicate_content"
    rejected[rel(us_dicom(root / "single_frame" / "IM1", _frames(7, t=1), "PID-SF", sop_class=US_SINGLE))] = "unsupported"
    doppler = np.repeat(_frames(8)[..., None], 3, axis=-1)
    doppler[:, 6:18, 8:24] = (200, 20, 30)  # a red colour-flow box over a quarter of the image
    rejected[rel(us_dicom(root / "rgb_doppler" / "IM1", doppler, "PID-DOP", photometric="RGB"))] = "unsupported"
    pal = us_dicom(root / "palette" / "IM1", _frames(9), "PID-PAL", photometric="PALETTE COLOR")
    ds = pydicom.dcmread(pal)
    lut = (255 - np.arange(256, dtype="<u2")) * 257  # an inverted grey palette: entry k -> 255 - k (16 bits)
    for k in range(3):  # red, green, blue: descriptor (0028,110x), data (0028,120x)
        ds.add_new(0x00281101 + k, "US", [256, 0, 16])
        ds.add_new(0x00281201 + k, "OW", lut.tobytes())
    ds.save_as(pal, enforce_file_format=True)
    ingested[rel(pal)] = {"shape": (6, 24, 32), "equals": 255 - _frames(9).astype(np.int64)}
    deep = (np.random.default_rng(10).integers(0, 4096, (6, 24, 32))).astype(np.uint16)
    ingested[rel(us_dicom(root / "bits16" / "IM1", deep, "PID-16"))] = {"shape": (6, 24, 32), "equals": deep}
    big = (np.random.default_rng(11).integers(0, 4096, (6, 24, 32))).astype(np.uint16)
    ingested[rel(us_dicom(root / "big_endian" / "IM1", big, "PID-BE", transfer=ExplicitVRBigEndian))] = {
        "shape": (6, 24, 32), "equals": big}
    ingested[rel(us_dicom(root / "nön_ascii" / "Ünïcödé_名前.dcm", _frames(12), "PID-UTF8"))] = {"shape": (6, 24, 32)}
    raw_name = os.fsdecode(b"latin1_caf\xe9.dcm")  # a Latin-1 file name: not valid UTF-8
    ingested[rel(us_dicom(root / "nön_ascii" / raw_name, _frames(13), "PID-LATIN1"))] = {"shape": (6, 24, 32)}
    (root / "loop").symlink_to(root, target_is_directory=True)
    rejected["loop"] = "unreadable"
    (root / "dangling.dcm").symlink_to(root / "does_not_exist.dcm")
    rejected["dangling.dcm"] = "unreadable"
    (root / "linked").symlink_to(root / "good", target_is_directory=True)  # a link to a folder: followed
    rejected["linked/IM1"] = "duplicate_instance"
    return rejected, ingested


def _ingest(root: Path, out: Path, adapter: str = "dicom"):
    res = ingest_source({"name": "corpus", "adapter": adapter, "path": str(root), "clinical": None, "options": {}},
                        TEST_KEY, out)
    assert res.recordings["source_files"].map(len).sum() + len(res.rejected) == len(list_files(root)) == res.n_files
    return res


def _image(path: str) -> np.ndarray:
    import itk

    return itk.array_from_image(itk.imread(path))


def test_dicom_corpus_every_file_ends_with_its_reason(tmp_path):
    root = tmp_path / "export"
    expected, ingested = build_dicom_corpus(root)
    res = _ingest(root, tmp_path / "out")
    real = real_paths(res)
    got = {real[p]: reason for p, reason in zip(res.rejected["path"], res.rejected["reason"])}  # names may not be UTF-8
    assert {p: got.get(p) for p in expected} == expected
    assert set(got) == set(expected)  # nothing else rejected
    assert (res.rejected["message"].str.len() > 10).all()
    by_file = {real[f]: row for _, row in res.recordings.iterrows() for f in row["source_files"]}
    assert set(by_file) == set(ingested)
    for path, checks in ingested.items():
        arr = _image(by_file[path]["image_path"])
        assert arr.shape == checks["shape"], path
        if "equals" in checks:
            np.testing.assert_array_equal(arr.astype(np.int64), checks["equals"].astype(np.int64), err_msg=path)
    assert len(set(expected.values())) >= 12  # distinct reason codes in the DICOM corpus alone


def _without_file_permission_override() -> None:
    """In a child before exec: drop CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2) from the
    capability bounding set (prctl PR_CAPBSET_DROP = 24), so that even root obeys file modes."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


def test_unreadable_file_is_rejected_for_a_user_without_permission(tmp_path):
    """A file without read permission (mode 000). Root reads every file, so when the tests run
    as root the ingest runs in a child process without the capabilities that override file modes."""
    root = tmp_path / "export"
    us_dicom(root / "ok" / "IM1", _frames(1), "PID-OK")
    locked = us_dicom(root / "locked" / "IM1", _frames(2), "PID-LOCK")
    locked.chmod(0)
    out = tmp_path / "out"
    code = ("from cardiolens.ingest.stage import ingest_source\n"
            f"res = ingest_source({{'name': 'c', 'adapter': 'dicom', 'path': {str(root)!r}, 'clinical': None, 'options': {{}}}}, "
            f"{TEST_KEY!r}, {str(out)!r})\n"
            "real = dict(zip(res.paths['path_key'], res.paths['path']))\n"
            "print(dict(zip(res.rejected['path'].map(real), res.rejected['reason'])), len(res.recordings))\n")
    preexec = _without_file_permission_override if os.geteuid() == 0 else None
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=preexec, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run a child without file-permission override here: {exc}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "{'locked/IM1': 'unreadable'} 1" in proc.stdout


def test_metaimage_nifti_and_avi_cases(tmp_path):
    camus = tmp_path / "camus"
    make_camus_patient(camus, "patient0001", views=("4CH",))
    make_camus_patient(camus, "patient0002", views=("4CH",), seed=2)
    (camus / "patient0002" / "patient0002_4CH_ES_gt.raw").unlink()  # a mask .mhd without its .raw
    make_camus_patient(camus, "patient0003", views=("4CH",), seed=3)
    short = camus / "patient0003" / "patient0003_4CH_ED_gt.raw"
    short.write_bytes(short.read_bytes()[:10])  # a mask .raw cut short
    res = _ingest(camus, tmp_path / "out_camus", "camus")
    got = dict(zip(res.rejected["path"].map(real_paths(res)), res.rejected["reason"]))
    assert {k: v for k, v in got.items() if v != "ancillary"} == {
        "patient0002/patient0002_4CH_ES_gt.mhd": "missing_companion",
        "patient0003/patient0003_4CH_ED_gt.mhd": "truncated", "patient0003/patient0003_4CH_ED_gt.raw": "truncated"}
    assert len(res.recordings) == 3  # the images are intact: every view is ingested, without the broken mask

    acdc = tmp_path / "acdc"
    make_acdc_patient(acdc, "patient001")
    make_acdc_patient(acdc, "patient002", seed=2)
    nan = np.full((4, 40, 36), np.nan, np.float32)
    write_image(acdc / "patient002" / "patient002_4d.nii.gz", np.full((10, 4, 40, 36), np.nan, np.float32), (1.5, 1.5, 10.0, 1.0))
    write_image(acdc / "patient002" / "patient002_frame01.nii.gz", nan, (1.5, 1.5, 10.0))
    res = _ingest(acdc, tmp_path / "out_acdc", "acdc")
    reasons = {v for k, v in zip(res.rejected["path"].map(real_paths(res)), res.rejected["reason"]) if k.startswith("patient002/")}
    assert reasons == {"pixel_decode_error"} and len(res.recordings) == 1

    echonet = tmp_path / "echonet"
    write_mjpeg_avi(echonet / "Videos" / "0XGOOD.avi", echo_frames(t=10))
    zero = echonet / "Videos" / "0XZERO.avi"
    write_mjpeg_avi(zero, echo_frames(t=1))
    data = bytearray(zero.read_bytes())
    i = data.find(b"00dc")
    data[i + 4:i + 8] = (0).to_bytes(4, "little")  # a zero-length frame chunk, nothing else
    data = data[: i + 8]
    movi = data.find(b"movi") - 8
    data[movi + 4:movi + 8] = (len(data) - movi - 8).to_bytes(4, "little")  # RIFF sizes that match the cut file
    data[4:8] = (len(data) - 8).to_bytes(4, "little")
    zero.write_bytes(bytes(data))
    pd.DataFrame({"FileName": ["0XGOOD.avi", "0XZERO.avi"], "EF": [60.0, 55.0], "ESV": [30.0, 30.0], "EDV": [75.0, 75.0],
                  "FrameHeight": [32, 32], "FrameWidth": [32, 32], "FPS": [50, 50], "NumberOfFrames": [10, 1],
                  "Split": ["TRAIN", "TRAIN"]}).to_csv(echonet / "FileList.csv", index=False)
    res = _ingest(echonet, tmp_path / "out_echonet", "echonet")
    assert dict(zip(res.rejected["path"].map(real_paths(res)), res.rejected["reason"])) == {"FileList.csv": "ancillary", "Videos/0XZERO.avi": "no_frames"}


def _clinical_source(tmp_path: Path, csv: bytes) -> dict:
    root = tmp_path / "export"
    us_dicom(root / "a" / "IM1", _frames(1), "PID-A")
    us_dicom(root / "b" / "IM1", _frames(2), "PID-B")
    path = tmp_path / "clinical.csv"
    path.write_bytes(csv)
    return {"name": "c", "adapter": "dicom", "path": str(root), "options": {},
            "clinical": {"path": str(path), "id_column": "PatientID", "columns": {"septal_flash": "Flash"}}}


@pytest.mark.parametrize("csv, message", [
    (b"PatientID,Sex,Flash\nPID-A,F,flash\nPID-A,M,none\n", r"clinical\.csv: PatientID repeated in rows \[3\]"),
    ("PatientID,Sex,Flash\nPID-A,Fémina,flash\n".encode("latin-1"), r"clinical\.csv: not UTF-8 text \(byte 0xe9 on line 2\)"),
    (b'PatientID,Sex,Flash\nPID-A,"F,flash\n', r"clinical\.csv: not a readable CSV table"),
])
def test_malformed_clinical_tables_stop_with_file_line_and_problem(tmp_path, csv, message):
    from cardiolens.errors import InputError

    with pytest.raises(InputError, match=message):
        ingest_source(_clinical_source(tmp_path, csv), TEST_KEY, tmp_path / "out")


def test_clinical_table_with_a_byte_order_mark_is_read(tmp_path):
    csv = "\ufeffPatientID,Sex,Flash\nPID-A,F,flash\nPID-B,M,none\n".encode("utf-8")
    res = ingest_source(_clinical_source(tmp_path, csv), TEST_KEY, tmp_path / "out")
    assert sorted(res.patients["septal_flash"]) == ["flash", "none"] and res.patients["in_clinical_table"].all()


def test_empty_source_is_refused_before_any_job(tmp_path):
    from cardiolens.config import ConfigError, check_input_paths

    (tmp_path / "export" / "empty_patient_folder").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"source 'hospital' yields no file: folder '.*export' is empty"):
        check_input_paths({"inputs": [{"name": "hospital", "adapter": "dicom", "path": str(tmp_path / "export")}]})


def test_the_corpus_has_at_least_sixty_kinds(tmp_path):
    """Count of the kinds above, each generated in a test of this module: the DICOM corpus's
    cases (rejected and ingested), the MetaImage, NIfTI and AVI cases, the permission case,
    four clinical tables, the empty source, and the cases of the fuzzing pass below."""
    expected, ingested = build_dicom_corpus(tmp_path / "export")
    dicom_kinds = {p.split("/")[0] for p in [*expected, *ingested]}
    other_kinds = {"mhd_missing_raw", "mhd_short_raw", "nifti_nan", "avi_zero_frames", "unreadable_permission",
                   "csv_duplicate_ids", "csv_bom", "csv_not_utf8", "csv_unknown_label", "empty_source"}
    fuzzed_kinds = {"source_all_rejected", "echonet_video_twice", "acdc_folder_twice", "nifti_cut_gzip", "nifti_short_voxels",
                    "nifti_plain_named_gz", "nifti_empty_mask", "nifti_cut_mask", "cfg_bom_crlf", "cfg_inf", "cfg_ed_is_es",
                    "cfg_fraction", "camus_sex_lower_case", "camus_es_beyond_nbframe", "filelist_empty", "filelist_latin1",
                    "filelist_fps_inf", "tracings_without_filename", "avi_named_after_patient", "mhd_data_named_after_patient",
                    "dicom_frame_time_zero", "dicom_frames_text", "dicom_decimal_comma", "dicom_jpeg_more_frames",
                    "dicom_jpeg_fewer_frames", "dicom_jpeg_cut", "dicom_heart_rate_text", "csv_headerless",
                    "csv_close_header", "csv_sex_mapped_to_names", "csv_age_mapped_to_names"}
    assert len(dicom_kinds) + len(other_kinds) + len(fuzzed_kinds) >= 60, sorted(dicom_kinds)


# --- What a fuzzing pass over real-looking exports found (2026-12-05) -------------------------


def _rejected(res) -> dict[str, tuple[str, str]]:
    """{real path: (reason, message)} of a source result."""
    real = real_paths(res)
    return {real[p]: (r, m) for p, r, m in zip(res.rejected["path"], res.rejected["reason"], res.rejected["message"])}


def _filelist(root: Path, names: list[str], **overrides) -> None:
    rows = [{"FileName": n, "EF": "60", "ESV": "30", "EDV": "75", "FrameHeight": "32", "FrameWidth": "32", "FPS": "50",
             "NumberOfFrames": "10", "Split": "TRAIN", **overrides.get(n, {})} for n in names]
    pd.DataFrame(rows).to_csv(root / "FileList.csv", index=False)


def test_a_source_whose_every_file_is_rejected_gives_valid_empty_tables(tmp_path, caplog):
    """AVIs without their FileList.csv: each video rejected with the reason, the empty
    recordings table (list columns and all) passes the schema the job writes it with, and the
    user is warned."""
    import logging

    from cardiolens.tables.registry import PATIENTS, RECORDINGS, REJECTED

    root = tmp_path / "echonet"
    for name in ("0XA", "0XB"):
        write_mjpeg_avi(root / "Videos" / f"{name}.avi", echo_frames(t=10))
    res = _ingest(root, tmp_path / "out", "echonet")
    assert len(res.recordings) == 0
    assert {p: r for p, (r, _) in _rejected(res).items()} == {"Videos/0XA.avi": "malformed_metadata",
                                                              "Videos/0XB.avi": "malformed_metadata"}
    for schema, table in ((RECORDINGS, res.recordings), (PATIENTS, res.patients), (REJECTED, res.rejected)):
        assert schema.to_arrow(table).num_rows == len(table)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == ["ingest corpus: no recording: all 2 files rejected {'malformed_metadata': 2}; "
                      "`cardiolens rejected` lists them with their reasons"]


def test_one_identifier_in_two_places_keeps_the_first_by_path(tmp_path):
    """The same EchoNet video in a subfolder, and two ACDC folders named patient001: one recording
    each, whose image file exists (the second copy used to overwrite it and then delete it)."""
    root = tmp_path / "echonet"
    write_mjpeg_avi(root / "Videos" / "0XA.avi", echo_frames(t=10))
    (root / "Videos" / "old").mkdir()
    (root / "Videos" / "old" / "0XA.avi").write_bytes((root / "Videos" / "0XA.avi").read_bytes())
    _filelist(root, ["0XA.avi"])
    res = _ingest(root, tmp_path / "out", "echonet")
    assert len(res.recordings) == 1 and Path(res.recordings["image_path"][0]).is_file()
    reason, message = _rejected(res)["Videos/old/0XA.avi"]
    assert reason == "duplicate_instance" and path_key(TEST_KEY, "Videos/0XA.avi") in message

    acdc = tmp_path / "acdc"
    make_acdc_patient(acdc / "site_a", "patient001")
    make_acdc_patient(acdc / "site_b", "patient001", seed=2)
    res = _ingest(acdc, tmp_path / "out_acdc", "acdc")
    assert len(res.recordings) == 1 and len(res.patients) == 1
    assert {p.split("/")[0] for p in real_paths(res).values() if p in _rejected(res)} == {"site_b"}
    assert {r for r, _ in _rejected(res).values()} == {"duplicate_patient"}


def test_damaged_nifti_files_are_refused_and_a_damaged_mask_costs_only_itself(tmp_path):
    import gzip

    root = tmp_path / "acdc"
    for i in range(1, 6):
        make_acdc_patient(root, f"patient00{i}", seed=i)
    cut = root / "patient001" / "patient001_frame01.nii.gz"  # the gzip stream cut in half
    cut.write_bytes(cut.read_bytes()[: len(cut.read_bytes()) // 2])
    short = root / "patient002" / "patient002_frame01.nii.gz"  # intact gzip of voxel data cut short
    raw = gzip.decompress(short.read_bytes())
    short.write_bytes(gzip.compress(raw[:-500]))
    plain = root / "patient003" / "patient003_frame01.nii.gz"  # not compressed, named .gz: ITK reads it
    plain.write_bytes(gzip.decompress(plain.read_bytes()))
    (root / "patient004" / "patient004_frame01_gt.nii.gz").write_bytes(b"")  # an empty mask
    gt = root / "patient005" / "patient005_frame06_gt.nii.gz"  # a cut mask
    gt.write_bytes(gt.read_bytes()[:100])
    res = _ingest(root, tmp_path / "out", "acdc")
    got = _rejected(res)
    assert got["patient001/patient001_frame01.nii.gz"][0] == "truncated"
    reason, message = got["patient002/patient002_frame01.nii.gz"]
    # 36 x 40 x 4 voxels of 2 bytes = 11520 bytes needed, 500 fewer held
    assert reason == "truncated" and "holds 11020 bytes of voxel data" in message and "need 11520" in message
    assert {k: v[0] for k, v in got.items() if k.startswith(("patient004", "patient005"))} == {
        "patient004/patient004_frame01_gt.nii.gz": "empty_file", "patient005/patient005_frame06_gt.nii.gz": "truncated"}
    by_patient = {real_paths(res)[fs[0]].split("/")[0]: m for fs, m in zip(res.recordings["source_files"], res.recordings["mask_path"])}
    assert set(by_patient) == {"patient003", "patient004", "patient005"}  # the recordings without the broken mask
    for pid, frame in (("patient004", 0), ("patient005", 1)):
        masks = _image(by_patient[pid])
        assert (masks[frame] == 255).all() and (masks[1 - frame] != 255).any()


def test_metadata_files_as_real_exports_write_them(tmp_path):
    """Info.cfg with a byte-order mark and CRLF lines is read; ED or ES not a finite whole
    number, or ED equal to ES, is refused; CAMUS Sex in lower case is read; a CAMUS ES beyond
    NbFrame is refused without a sequence too."""
    root = tmp_path / "acdc"
    for i, text in enumerate(("\ufeffED: 1\r\nES: 6\r\nGroup: NOR\r\nHeight: 170\r\nNbFrame: 10\r\nWeight: 70\r\n",
                              "ED: 1\nES: inf\nGroup: NOR\nNbFrame: 10\n", "ED: 6\nES: 6\nGroup: NOR\nNbFrame: 10\n",
                              "ED: 1\nES: 6.5\nGroup: NOR\nNbFrame: 10\n"), start=1):
        make_acdc_patient(root, f"patient00{i}", seed=i)
        (root / f"patient00{i}" / "Info.cfg").write_bytes(text.encode("utf-8"))
    res = _ingest(root, tmp_path / "out", "acdc")
    assert len(res.recordings) == 1 and res.patients["height_cm"].tolist() == [170.0]
    got = {k.split("/")[0]: v for k, v in _rejected(res).items()}
    assert got["patient002"] == ("malformed_metadata", "patient002: ES = 'inf' is not an integer")
    assert got["patient003"] == ("malformed_metadata", "patient003: ED and ES are the same frame (6)")
    assert got["patient004"] == ("malformed_metadata", "patient004: ES = '6.5' is not an integer")

    camus = tmp_path / "camus"
    make_camus_patient(camus, "patient0001", views=("4CH",))
    cfg = camus / "patient0001" / "Info_4CH.cfg"
    cfg.write_text(cfg.read_text().replace("Sex: F", "Sex: f"))
    make_camus_patient(camus, "patient0002", views=("4CH",), seed=2)
    cfg = camus / "patient0002" / "Info_4CH.cfg"
    cfg.write_text(cfg.read_text().replace("ES: 12", "ES: 99"))
    res = _ingest(camus, tmp_path / "out_camus", "camus")
    assert [real_paths(res)[f].split("/")[0] for f in res.recordings["source_files"][0]][0] == "patient0001"
    assert res.patients["sex"].tolist() == ["F", "F"]  # 'f' read as F (patient0002 is listed from its Info_4CH.cfg)
    assert {v for k, v in _rejected(res).items() if k.startswith("patient0002/") and v[0] != "ancillary"} == {
        ("malformed_metadata", "patient0002 4CH: ED 1 / ES 99 beyond NbFrame 14")}


def test_malformed_echonet_tables_and_values(tmp_path):
    cases = {
        "empty": b"",
        "latin1": "FileName,EF,FPS,NumberOfFrames,FrameHeight,FrameWidth,Split\n0XA.avi,60,50,10,32,32,TR\xc9IN\n".encode("latin-1"),
    }
    expected = {"empty": "FileList.csv is not a readable CSV table (EmptyDataError)",  # not beside the video: not keyed
                "latin1": "FileList.csv is not UTF-8 text (byte 0xc9)"}
    for name, data in cases.items():
        root = tmp_path / name
        write_mjpeg_avi(root / "Videos" / "0XA.avi", echo_frames(t=10))
        (root / "FileList.csv").write_bytes(data)
        res = _ingest(root, tmp_path / f"out_{name}", "echonet")
        assert _rejected(res)["Videos/0XA.avi"] == ("malformed_metadata", expected[name]), name

    root = tmp_path / "values"
    for name in ("0XA", "0XB"):
        write_mjpeg_avi(root / "Videos" / f"{name}.avi", echo_frames(t=10))
    _filelist(root, ["0XA.avi", "0XB.avi"], **{"0XB.avi": {"FPS": "inf"}})
    pd.DataFrame({"Name": ["0XA.avi"], "X1": [1], "Y1": [1], "X2": [2], "Y2": [2], "Frame": [0]}).to_csv(
        root / "VolumeTracings.csv", index=False)  # no FileName column: the videos come without tracings
    res = _ingest(root, tmp_path / "out_values", "echonet")
    assert len(res.recordings) == 1 and res.recordings["mask_path"].isna().all()
    assert res.notes["volume_tracings_unusable"] == "VolumeTracings.csv lacks columns ['FileName']"
    assert _rejected(res)["Videos/0XB.avi"] == ("malformed_metadata", "FileList FPS = inf is not a positive number")


def test_file_names_in_messages_become_path_keys(tmp_path):
    """An export that names files after the patient: the rejection message names the file by its
    path key, never by its name."""
    root = tmp_path / "echonet"
    (root / "Videos").mkdir(parents=True)
    (root / "Videos" / "MRN12345_echo.avi").write_bytes(b"not a video at all" * 10)
    _filelist(root, ["MRN12345_echo.avi"])
    res = _ingest(root, tmp_path / "out", "echonet")
    reason, message = _rejected(res)["Videos/MRN12345_echo.avi"]
    assert "MRN12345" not in message and path_key(TEST_KEY, "Videos/MRN12345_echo.avi") in message, message

    camus = tmp_path / "camus"
    folder = make_camus_patient(camus, "patient0001", views=("4CH",))
    mhd = folder / "patient0001_4CH_ES_gt.mhd"
    mhd.write_text(mhd.read_text().replace("patient0001_4CH_ES_gt.raw", "Doe_Jane_MRN12345.raw"))
    res = _ingest(camus, tmp_path / "out_camus", "camus")
    assert not res.rejected["message"].str.contains("MRN12345|Doe_Jane").any()
    assert _rejected(res)["patient0001/patient0001_4CH_ES_gt.mhd"][0] == "missing_companion"


def _examples_ybr(**changes) -> Dataset:
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm"))
    ds.PatientName, ds.PatientID = "Doe^Jane", "MRN12345"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    for name, value in changes.items():
        setattr(ds, name, value)
    return ds


def _write_raw(ds: Dataset, path: Path, keyword: str, value: bytes) -> None:
    """Save ``ds`` (explicit VR little endian) with the value of the string element ``keyword``
    replaced by ``value``, bytes as given (even length): a value pydicom would refuse to write,
    as another vendor's software writes it."""
    import struct

    tag = pydicom.datadict.tag_for_keyword(keyword)
    vr = pydicom.datadict.dictionary_VR(tag)
    setattr(ds, keyword, {"IS": "1" * len(value), "DS": "1" * len(value)}.get(vr, "X" * len(value)))
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    at = data.find(struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode())
    assert at > 0 and struct.unpack("<H", data[at + 6:at + 8])[0] == len(value), keyword
    path.write_bytes(data[:at + 8] + value + data[at + 8 + len(value):])


def test_dicom_values_other_software_writes(tmp_path, caplog, recwarn):
    """pydicom's multi-frame echo (30 JPEG frames) with the values of other exports, in folders
    named after the patient. Each file ends with its reason; nothing logged or warned quotes a
    path or a name."""
    import logging

    caplog.set_level(logging.DEBUG)
    root = tmp_path / "export" / "Jane_Doe_MRN12345"
    root.mkdir(parents=True)
    cases: dict[str, str | None] = {"good.dcm": None}  # None: ingested
    _examples_ybr().save_as(root / "good.dcm", enforce_file_format=True)
    _write_raw(_examples_ybr(), root / "frame_time_zero.dcm", "FrameTime", b"0 ")
    cases["frame_time_zero.dcm"] = "malformed_metadata"
    _write_raw(_examples_ybr(), root / "frames_text.dcm", "NumberOfFrames", b"abcd")
    cases["frames_text.dcm"] = "malformed_metadata"
    ds = _examples_ybr()
    del ds.SequenceOfUltrasoundRegions  # spacing from PixelSpacing, as an export without regions
    _write_raw(ds, root / "decimal_comma.dcm", "PixelSpacing", b"0,98\\0,51 ")
    cases["decimal_comma.dcm"] = "no_spatial_calibration"
    _examples_ybr(NumberOfFrames=40).save_as(root / "frames_40.dcm", enforce_file_format=True)
    cases["frames_40.dcm"] = "frame_count_mismatch"
    _examples_ybr(NumberOfFrames=10).save_as(root / "frames_10.dcm", enforce_file_format=True)
    cases["frames_10.dcm"] = "frame_count_mismatch"
    full = root / "good.dcm"
    (root / "cut.dcm").write_bytes(full.read_bytes()[:100_000])  # ends inside the JPEG frames
    cases["cut.dcm"] = "truncated"
    res = _ingest(tmp_path / "export", tmp_path / "out")
    got = {Path(k).name: v[0] for k, v in _rejected(res).items()}
    assert got == {k: v for k, v in cases.items() if v}, got
    assert len(res.recordings) == 1
    assert not res.rejected["message"].str.contains("Jane_Doe|MRN12345").any()
    other = tmp_path / "other" / "Jane_Doe_MRN12345"  # the same pixels as good.dcm: a source of its own
    _write_raw(_examples_ybr(), other / "heart_rate_text.dcm", "HeartRate", b"fast")
    res = _ingest(tmp_path / "other", tmp_path / "out_other")
    assert len(res.recordings) == 1 and res.recordings["heart_rate_bpm"].isna().all()  # not a number: unknown
    said = [r.getMessage() for r in caplog.records] + [str(w.message) for w in recwarn]
    assert not [m for m in said if "Jane_Doe" in m or "MRN12345" in m], said


@pytest.mark.parametrize("csv, columns, message", [
    (b"MRN12345,Doe^Jane,F,56\nMRN67890,Roe^Rick,M,61\n", {}, r"clinical\.csv: id column 'PatientID' not found among the 4 columns "
     r"of line 1 \(is the first line a header\?\)$"),
    (b"PatientId,Name,Sex\nPID-A,Doe^Jane,F\n", {}, r"id column 'PatientID' not found among the 3 columns of line 1; "
     r"did you mean 'PatientId'\?$"),
    (b"PatientID,Name,Flash\nPID-A,Doe^Jane,flash\n", {"sex": "Name"}, r"clinical\.csv: line 2, column 'Name': not a sex"),
    (b"PatientID,Name,Flash\nPID-A,Doe^Jane,flash\n", {"age": "Name"}, r"line 2, column 'Name' \(mapped to 'age'\): not a number"),
])
def test_clinical_errors_do_not_quote_the_values(tmp_path, csv, columns, message):
    from cardiolens.errors import InputError

    source = _clinical_source(tmp_path, csv)
    source["clinical"]["columns"].update(columns)
    with pytest.raises(InputError, match=message) as err:
        ingest_source(source, TEST_KEY, tmp_path / "out")
    assert "Doe" not in str(err.value) and "MRN" not in str(err.value)


def test_what_a_second_reading_found(tmp_path, recwarn):
    """A mask with a NaN vox_offset costs only itself; a binary value of the wrong length, or an
    MR orientation of zeros, costs only its file; NumberOfFrames 0 is one frame (as pydicom
    reads it); a FrameTime of 0 falls through to the CineRate."""
    import gzip
    import struct

    from cardiolens.ingest.dicom_pixels import us_frame_time

    root = tmp_path / "acdc"
    make_acdc_patient(root, "patient001")
    gt = root / "patient001" / "patient001_frame06_gt.nii.gz"
    header = bytearray(gzip.decompress(gt.read_bytes()))
    header[108:112] = struct.pack("<f", float("nan"))  # NIfTI-1 vox_offset
    gt.write_bytes(bytes(header))
    res = _ingest(root, tmp_path / "out_acdc", "acdc")
    assert len(res.recordings) == 1 and res.recordings["mask_path"].notna().all()
    assert _rejected(res)["patient001/patient001_frame06_gt.nii.gz"][0] == "malformed_metadata"

    export = tmp_path / "export"
    series = mr_series(export / "ok", "PID-OK")
    zeros = mr_series(export / "zeros", "PID-ZERO")
    for p in zeros:
        ds = pydicom.dcmread(p)
        ds.ImageOrientationPatient = [0, 0, 0, 0, 0, 0]
        ds.save_as(p, enforce_file_format=True)
    wrong = us_dicom(export / "wrong_length" / "IM1", _frames(20), "PID-WL")
    data = bytearray(wrong.read_bytes())
    at = data.find(struct.pack("<HH", 0x0028, 0x0010) + b"US")  # Rows, a 2-byte US, now 3 bytes long
    wrong.write_bytes(bytes(data[:at + 6] + struct.pack("<H", 3) + b"\x18\x00\x00" + data[at + 10:]))
    one = us_dicom(export / "zero_frames" / "IM1", _frames(21, t=1), "PID-Z", sop_class=US_SINGLE)
    ds = pydicom.dcmread(one)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = MR_IMAGE
    ds.Modality, ds.NumberOfFrames = "MR", 0
    ds.PixelSpacing, ds.ImagePositionPatient, ds.ImageOrientationPatient = [1.5, 1.5], [0, 0, 0], [1, 0, 0, 0, 1, 0]
    ds.save_as(one, enforce_file_format=True)
    res = _ingest(export, tmp_path / "out")
    got = {k.split("/")[0]: v[0] for k, v in _rejected(res).items()}
    assert got == {"zeros": "malformed_metadata", "wrong_length": "missing_attribute", "zero_frames": "unsupported"}, got
    assert len(res.recordings) == 1 and len(res.recordings["source_files"][0]) == len(series)
    # NumberOfFrames 0 was read as one frame: the file ends as a single-phase MR image, not as malformed
    assert _rejected(res)["zero_frames/IM1"][1] == "single-phase MR series is not a cine"

    ds = Dataset()
    ds.FrameTime, ds.CineRate = "0", "25"
    assert us_frame_time(ds) == 40.0


def test_file_names_are_keyed_only_where_they_are_file_names():
    from cardiolens.ingest.stage import _names_by_folder, name_files_by_key

    rels = ["a/30", "a/40", "a/x.nii.gz", "a/x.nii", "FileList.csv", "b/Info.cfg"]
    names = _names_by_folder(rels, {r: f"K{i}" for i, r in enumerate(rels)})
    # numbered DICOM files: "30 frames" is not the file 30
    assert name_files_by_key("pixel data holds 30 frames, NumberOfFrames says 40", "a/30", names) == \
        "pixel data holds 30 frames, NumberOfFrames says 40"
    assert name_files_by_key("x.nii.gz: cut; x.nii whole.", "a/x.nii.gz", names) == "K2: cut; K3 whole."
    # another folder's Info.cfg is not this folder's
    assert name_files_by_key("patient002: Info.cfg is missing", "a/x.nii", names) == "patient002: Info.cfg is missing"


def test_an_empty_contour_file_is_a_value_error_without_a_warning(tmp_path, recwarn):
    from cardiolens.ingest.adapters.sunnybrook import read_contour

    folder = tmp_path / "Doe_Jane" / "i-contours"
    folder.mkdir(parents=True)
    (folder / "IM-0001-0048-icontour-manual.txt").write_text("")
    with pytest.raises(ValueError, match=r"^IM-0001-0048-icontour-manual\.txt: expected at least 3 lines"):
        read_contour(folder / "IM-0001-0048-icontour-manual.txt")
    assert not [w for w in recwarn if "Doe_Jane" in str(w.message)]


def test_a_spacing_or_frame_time_itk_cannot_write_is_refused():
    from cardiolens.ingest.model import Loaded
    from cardiolens.ingest.stage import _geometry_problem

    frames = np.zeros((2, 4, 4), np.uint8)
    assert _geometry_problem(Loaded(array=frames, spacing=(0.3, 0.3, 20.0), modality="US", view="A4C", frame_time_ms=20.0)) is None
    assert _geometry_problem(Loaded(array=frames, spacing=(0.3, 0.3, 0.0), modality="US", view="A4C",
                                    frame_time_ms=0.0)) == "frame spacing (0.0,) is not a positive number"
    assert _geometry_problem(Loaded(array=frames, spacing=(float("inf"), 0.3, 20.0), modality="US", view="A4C",
                                    frame_time_ms=20.0)) == "pixel spacing (inf, 0.3) is not a positive number"


def test_one_clinical_table_for_two_sources_gives_one_row_per_patient(tmp_path):
    """Two hospitals' exports joined to one shared clinical CSV listing both: each patient's row
    comes from the source holding its recordings, with its label, and the merge does not stop."""
    from cardiolens.ingest.stage import merge_sources
    from cardiolens.privacy import patient_key
    from cardiolens.tables.registry import PATIENTS

    csv = tmp_path / "clinical.csv"
    csv.write_text("PatientID,Flash\nPID-A,flash\nPID-B,none\nPID-C,none\n")
    results = []
    for name, pid, seed in (("hospital_a", "PID-A", 1), ("hospital_b", "PID-B", 2)):
        us_dicom(tmp_path / name / "IM1", _frames(seed), pid)
        source = {"name": name, "adapter": "dicom", "path": str(tmp_path / name), "options": {},
                  "clinical": {"path": str(csv), "id_column": "PatientID", "columns": {"septal_flash": "Flash"}}}
        results.append(ingest_source(source, TEST_KEY, tmp_path / f"out_{name}"))
    rec, pat, _ = merge_sources(*([getattr(r, t) for r in results] for t in ("recordings", "patients", "rejected")))
    PATIENTS.validate(pat)
    by_key = pat.set_index("patient_key")
    for source, pid, label in (("hospital_a", "PID-A", "flash"), ("hospital_b", "PID-B", "none")):
        row = by_key.loc[patient_key(TEST_KEY, pid)]
        assert (row["source"], row["septal_flash"], row["n_recordings"]) == (source, label, 1)
    assert len(pat) == 3 and len(rec) == 2  # PID-C: listed, no recording anywhere, one row (the first source's)


def test_patients_missing_from_the_clinical_table_are_a_warning(tmp_path, caplog):
    """IDs written differently in the CSV (lower case here) join nothing: the user is told how
    many patients with recordings have no row, not left to find 'missing' labels later."""
    import logging

    caplog.set_level(logging.WARNING)
    res = ingest_source(_clinical_source(tmp_path, b"PatientID,Sex,Flash\npid-a,F,flash\nPID-B,M,none\n"), TEST_KEY, tmp_path / "out")
    assert res.patients.loc[res.patients["n_recordings"] > 0, "in_clinical_table"].sum() == 1
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "ingest c: 1 of 2 patients with recordings have no row in the clinical table (no labels or covariates for them); "
        "check its id_column and how it writes the IDs"]
