"""DICOM ingestion: geometry kept, ground truth aligned, every file accounted for."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import itk
import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from cardiolens import privacy
from cardiolens.hashing import list_files
from cardiolens.ingest.clinical import ClinicalTableError
from cardiolens.ingest.stage import ingest_source
from cardiolens.ingest.truth import sidecar_stem
from cardiolens.synth.burn_in import HEADER_ROWS
from cardiolens.tables.registry import PATIENTS, RECORDINGS, REJECTED
from conftest import TEST_KEY, real_paths


def _array(path: str) -> np.ndarray:
    return itk.array_from_image(itk.imread(path))


def test_tables_validate_and_every_file_is_accounted_for(tiny_ingest, tiny_cohort):
    _, res, _ = tiny_ingest
    _, outdir = tiny_cohort
    for schema, df in ((RECORDINGS, res.recordings), (PATIENTS, res.patients), (REJECTED, res.rejected)):
        schema.validate(df)
    n_found = len(list_files(outdir / "dicom"))
    assert res.recordings["source_files"].map(len).sum() + len(res.rejected) == n_found == res.n_files
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert len(res.recordings) == manifest["recordings"]
    assert sorted(res.rejected["path"].map(real_paths(res))) == sorted(manifest["broken_files"])
    assert set(res.rejected["reason"]) == {"truncated", "not_dicom"}


def test_echo_geometry_timing_and_truth(tiny_ingest, tiny_cohort):
    config, res, _ = tiny_ingest
    _, outdir = tiny_cohort
    echo = config["cohort"]["synthetic"]["echo"]
    us = res.recordings[res.recordings["modality"] == "US"]
    assert len(us) > 0
    for _, row in us.iterrows():
        image = itk.imread(row["image_path"])
        assert list(image.GetSpacing()) == pytest.approx([echo["spacing_mm"], echo["spacing_mm"], 1000 / echo["frame_rate_hz"]], abs=1e-3)
        truth = json.loads(Path(row["truth_path"]).read_text())
        assert row["recording_id"] == truth["recording_id"]
        assert list(row["r_peak_frames"]) == truth["r_peak_frames"] and row["ed_frame"] == truth["r_peak_frames"][0]
        assert (row["es_frame"], row["mvc_frame"], row["avo_frame"]) == (truth["es_frame"], truth["mvc_frame"], truth["avo_frame"])
        mask = _array(row["mask_path"])
        assert mask.shape == (row["n_frames"], echo["rows"], echo["cols"])
        assert "patient_index" not in truth
        # The mask is the generator's, frame by frame.
        uid_files = {pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID: p
                     for p in (outdir / "dicom").rglob("IM00001") if "SE1" in p.parts}
        match = [uid for uid in uid_files if privacy.recording_id(TEST_KEY, pydicom.dcmread(uid_files[uid], stop_before_pixels=True).SOPInstanceUID) == row["recording_id"]]
        assert len(match) == 1
        assert np.array_equal(np.load(outdir / "truth" / f"{sidecar_stem(TEST_KEY, match[0])}.npz")["masks"], mask)
        # The file is the burned-in header band above the rendered frames; ingest keeps the frames.
        assert np.array_equal(pydicom.dcmread(uid_files[match[0]]).pixel_array[:, HEADER_ROWS:], _array(row["image_path"]))
        assert (row["pixels_kept"], row["burned_in_annotation"]) == ("us_regions", True)
        assert list(row["source_crop_px"]) == [HEADER_ROWS, HEADER_ROWS + echo["rows"] - 1, 0, echo["cols"] - 1]
        assert row["pixels_blanked"] == HEADER_ROWS * echo["cols"]


def test_mr_stack_order_and_patient_geometry(tiny_ingest, tiny_cohort):
    config, res, _ = tiny_ingest
    _, outdir = tiny_cohort
    cmr = config["cohort"]["synthetic"]["cmr"]
    mr = res.recordings[res.recordings["modality"] == "MR"]
    assert len(mr) == cmr["patients"]
    for _, row in mr.iterrows():
        image = itk.imread(row["image_path"])
        assert image.GetImageDimension() == 4
        assert (row["n_frames"], row["n_slices"]) == (cmr["phases"], cmr["slices"])
        assert row["spacing_z_mm"] == pytest.approx(cmr["slice_spacing_mm"], abs=1e-3)
        d = itk.array_from_matrix(image.GetDirection())
        assert d[:3, :3] @ d[:3, :3].T == pytest.approx(np.eye(3), abs=1e-6)
        # Files were written in shuffled order: the ingested mask must equal the generator's
        # (phase, slice) array exactly, which only holds if slices and phases were ordered right.
        series = [p for p in (outdir / "dicom").rglob("IM*") if "SE5" in p.parts]
        by_uid = {}
        for p in series:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            by_uid.setdefault(ds.SeriesInstanceUID, []).append(ds)
        uid = next(u for u in by_uid if privacy.recording_id(TEST_KEY, u) == row["recording_id"])
        truth_masks = np.load(outdir / "truth" / f"{sidecar_stem(TEST_KEY, uid)}.npz")["masks"]
        assert np.array_equal(_array(row["mask_path"]), truth_masks)
        first = min(by_uid[uid], key=lambda ds: np.dot(np.array(ds.ImagePositionPatient, float), d[:3, 2]))
        assert list(image.GetOrigin())[:3] == pytest.approx([float(v) for v in first.ImagePositionPatient], abs=1e-4)
        iop = [float(v) for v in first.ImageOrientationPatient]
        assert d[:3, 0] == pytest.approx(iop[:3]) and d[:3, 1] == pytest.approx(iop[3:])
        # Physical position of voxel (i, j, k) = origin + D @ (index * spacing)
        sp = np.array(image.GetSpacing())[:3]
        idx = np.array([5, 7, cmr["slices"] - 1])
        expected = np.array(first.ImagePositionPatient, float) + d[:3, :3] @ (idx * sp)
        point = image.TransformIndexToPhysicalPoint([int(i) for i in idx] + [0])
        assert list(point)[:3] == pytest.approx(expected.tolist(), abs=1e-4)
        assert row["ed_frame"] == 0


def test_patients_are_pseudonymised_and_joined(tiny_ingest, tiny_cohort):
    _, res, _ = tiny_ingest
    _, outdir = tiny_cohort
    clinical = pd.read_csv(outdir / "clinical.csv", dtype=str, keep_default_na=False)
    assert len(res.patients) == len(clinical)
    assert set(res.patients["patient_key"]) == {privacy.patient_key(TEST_KEY, pid) for pid in clinical["PatientID"]}
    assert res.patients["in_clinical_table"].all()
    counts = res.recordings.groupby("patient_key").size()
    assert (res.patients.set_index("patient_key")["n_recordings"] == counts.reindex(res.patients["patient_key"]).fillna(0).values).all()
    for pid in clinical["PatientID"]:
        for df in (res.recordings, res.patients, res.rejected):
            assert not df.astype(str).apply(lambda col: col.str.contains(pid, regex=False)).any().any()
    sf = res.recordings.dropna(subset=["septal_flash"])
    assert set(sf["modality"]) == {"US"} and set(sf["septal_flash"]) == {"flash", "none"}
    clinical_labels = clinical.set_index("PatientID")["septal_flash"]
    assert (clinical_labels == "none").sum() > 0 and res.patients["septal_flash"].value_counts().to_dict() == (
        clinical_labels[clinical_labels != ""].value_counts().to_dict())


def _minimal_dicom(path: Path, modality: str, with_pixels: bool) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11" if not with_pixels else "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = "MRN-MIXED-1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    if with_pixels:
        ds.Rows = ds.Columns = 4
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 8, 8, 7, 0
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = bytes(16)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def test_mixed_folder_every_file_ingested_or_rejected_with_reason(tiny_cohort, tmp_path):
    _, outdir = tiny_cohort
    root = tmp_path / "mixed"
    echo = sorted(p for p in (outdir / "dicom").rglob("IM00001") if "SE1" in p.parts)[:2]
    for k, p in enumerate(echo):
        shutil.copy(p, root / f"good{k}" / "IM1") if (root / f"good{k}").mkdir(parents=True) is None else None
    shutil.copy(echo[0], root / "zz_copy" / "IM1") if (root / "zz_copy").mkdir() is None else None  # duplicate SOP UID
    mr_dirs = sorted({p.parent for p in (outdir / "dicom").rglob("IM*") if "SE5" in p.parts})
    shutil.copytree(mr_dirs[0], root / "mr_ok")
    shutil.copytree(mr_dirs[1], root / "mr_broken")
    dropped = sorted((root / "mr_broken").iterdir())[0]
    dropped.unlink()  # one slice/phase missing -> incomplete series
    n_mr_broken = len(list((root / "mr_broken").iterdir()))
    data = echo[1].read_bytes()
    (root / "trunc.dcm").write_bytes(data[: len(data) // 3])
    (root / "header_only.dcm").write_bytes(data[:100])
    (root / "notes.txt").write_text("not dicom")
    (root / "empty.dcm").write_bytes(b"")
    _minimal_dicom(root / "sr.dcm", "SR", with_pixels=False)
    _minimal_dicom(root / "ct.dcm", "CT", with_pixels=True)
    source = {"name": "mixed", "adapter": "dicom", "path": str(root), "clinical": None, "options": {}}
    res = ingest_source(source, TEST_KEY, tmp_path / "out", workers=1)
    found = len(list_files(root))
    assert res.recordings["source_files"].map(len).sum() + len(res.rejected) == found
    reasons = dict(zip(res.rejected["path"].map(real_paths(res)), res.rejected["reason"]))
    assert reasons["zz_copy/IM1"] == "duplicate_instance"
    assert reasons["trunc.dcm"] == "truncated"
    assert reasons["header_only.dcm"] == "not_dicom"
    assert reasons["notes.txt"] == "not_dicom"
    assert reasons["empty.dcm"] == "empty_file"
    assert reasons["sr.dcm"] == "unsupported" and reasons["ct.dcm"] == "unsupported"
    broken = [p for p in reasons if p.startswith("mr_broken/")]
    assert len(broken) == n_mr_broken and {reasons[p] for p in broken} == {"incomplete_series"}
    assert Counter(res.recordings["modality"]) == {"US": 2, "MR": 1}
    assert res.rejected["message"].str.len().min() > 5
    assert not res.patients["in_clinical_table"].any()  # no clinical table given
    assert not (tmp_path / "out" / "data.partial").exists()


def test_pydicom_jpeg_ybr_echo_becomes_grey_frames(tmp_path):
    root = tmp_path / "ex"
    root.mkdir()
    shutil.copy(get_testdata_file("examples_ybr_color.dcm"), root / "echo.dcm")
    res = ingest_source({"name": "ex", "adapter": "dicom", "path": str(root), "clinical": None, "options": {}},
                        TEST_KEY, tmp_path / "out")
    assert len(res.rejected) == 0 and len(res.recordings) == 1
    row = res.recordings.iloc[0]
    arr = _array(row["image_path"])
    assert arr.shape == (30, 240, 320) and arr.dtype == np.uint8
    assert row["frame_time_ms"] == pytest.approx(33.333)
    # Its tissue region (rows 31..414, 384 rows) is twice the depth of the sector the 240-row image
    # shows (rows 15..207, 193 rows): the image is the 480 x 640 original halved, and its pixels
    # are 2 x 0.0510497 cm = 1.021 mm, not the file's 0.510 mm.
    assert row["spacing_x_mm"] == pytest.approx(2 * 0.5104970559) and row["spacing_y_mm"] == pytest.approx(2 * 0.5104970559)
    rgb = pydicom.dcmread(root / "echo.dcm").pixel_array.astype(float)
    luma = np.round(rgb @ np.array([0.299, 0.587, 0.114]))
    # The file's ultrasound region (columns 84..595, rows 31..414) lies outside its 320 x 240
    # frames, so the sector found from the image is kept and the console text around it blanked.
    assert row["pixels_kept"] == "us_sector_from_image" and row["pixels_blanked"] > 0
    kept = (arr > 0).any(axis=0)
    assert np.abs(arr.astype(float) - luma)[:, kept].max() <= 0.5 and (arr[:, ~kept] == 0).all()
    assert row["pixels_blanked"] <= (~kept).sum() and 0.3 < row["pixels_blanked_fraction"] < 0.7
    assert luma[:, :12, :20].max() > 150 and arr[:, :12, :20].max() == 0  # the "PLA" label, top left


@pytest.mark.parametrize("rows, second, spacing, warned", [
    ((31, 330), None, 0.5104970559, True),        # 300 rows over a 193-row sector: 1.55, no whole factor
    ((15, 207), (300, 600), 0.5104970559, False),  # the tissue region fits; another region lies outside
])
def test_a_region_that_no_factor_explains_keeps_the_file_spacing_and_says_so(tmp_path, caplog, rows, second, spacing, warned):
    import logging

    from pydicom.dataset import Dataset

    root = tmp_path / "ex"
    root.mkdir()
    ds = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm"))
    region = ds.SequenceOfUltrasoundRegions[0]
    region.RegionLocationMinY0, region.RegionLocationMaxY1 = rows
    if rows == (15, 207):
        region.RegionLocationMinX0, region.RegionLocationMaxX1 = 42, 297
    if second is not None:
        extra = Dataset()
        extra.RegionSpatialFormat, extra.RegionDataType = 3, 3        # a spectral (Doppler) strip
        extra.RegionLocationMinX0, extra.RegionLocationMaxX1 = 10, 200
        extra.RegionLocationMinY0, extra.RegionLocationMaxY1 = second
        ds.SequenceOfUltrasoundRegions.append(extra)
    ds.save_as(root / "echo.dcm")
    with caplog.at_level(logging.WARNING, logger="cardiolens.ingest"):
        res = ingest_source({"name": "ex", "adapter": "dicom", "path": str(root), "clinical": None, "options": {}},
                            TEST_KEY, tmp_path / "out")
    row = res.recordings.iloc[0]
    assert row["spacing_x_mm"] == pytest.approx(spacing) and row["spacing_y_mm"] == pytest.approx(spacing)
    assert ("unchecked" in caplog.text) is warned


def test_downscale_factor_from_the_region_and_the_sector_depth():
    from cardiolens.ingest.blanking import Box
    from cardiolens.ingest.calibration import downscale_factor

    frames = np.zeros((2, 120, 160), np.uint8)
    frames[:, 10:110, 20:140] = 50                      # a sector 100 rows deep
    assert downscale_factor(Box(20, 219, 40, 279), frames) == 2   # 200 rows: halved, and fits when halved
    assert downscale_factor(Box(30, 331, 60, 419), frames) == 3   # 302 rows: 3.02, within 5 %
    assert downscale_factor(Box(10, 109, 20, 139), frames) is None   # fits the image: nothing to explain
    assert downscale_factor(Box(0, 149, 0, 200), frames) is None     # 1.5: no whole factor
    assert downscale_factor(Box(0, 199, 0, 399), frames) is None     # halved, 200 columns still do not fit
    assert downscale_factor(Box(0, 199, 0, 299), np.zeros((2, 120, 160), np.uint8)) is None   # no sector


def test_bad_clinical_table_names_file_line_and_column(tiny_cohort, tmp_path):
    _, outdir = tiny_cohort
    bad = tmp_path / "clinical.csv"
    df = pd.read_csv(outdir / "clinical.csv", dtype=str, keep_default_na=False)
    df.loc[1, "sex"] = "unknown"
    df.to_csv(bad, index=False)
    source = {"name": "bad", "adapter": "dicom", "path": str(outdir / "dicom"), "options": {},
              "clinical": {"path": str(bad), "id_column": "PatientID", "columns": {}}}
    with pytest.raises(ClinicalTableError, match=r"clinical\.csv: line 3, column 'sex'"):
        ingest_source(source, TEST_KEY, tmp_path / "out")


def test_recording_quality_from_ground_truth_regional_grades():
    from cardiolens.ingest.stage import truth_quality_grade

    assert truth_quality_grade({"quality": {"a": 1, "b": 2, "c": 2, "d": 3, "e": 3, "f": 3}}) == "Medium"  # mean 2.33
    assert truth_quality_grade({"quality": {"a": 3, "b": 3, "c": 2}}) == "Good"  # 2.67
    assert truth_quality_grade({"quality": {"a": 1, "b": 2}}) == "Medium"  # 1.5 rounds half up
    assert truth_quality_grade({"quality": {"a": 1, "b": 1, "c": 2}}) == "Poor"  # 1.33
    assert truth_quality_grade({"events": {}}) is None and truth_quality_grade(None) is None


def test_a_changed_source_decodes_only_its_new_or_changed_recordings(tiny_cohort, tmp_path):
    """Reingesting reuses every unchanged recording (hard links to the earlier files, same tables);
    an edited file is decoded again, and a removed patient's entry leaves the store."""
    from cardiolens.config import sources
    from cardiolens.ingest.reuse import STORE

    config, outdir = tiny_cohort
    copy = tmp_path / "cohort"
    shutil.copytree(outdir, copy)
    source = {**sources(config)[0], "path": str(copy / "dicom"),
              "clinical": {**sources(config)[0]["clinical"], "path": str(copy / "clinical.csv")},
              "options": {"truth_dir": str(copy / "truth")}}
    out = tmp_path / "out"
    fresh = ingest_source(source, TEST_KEY, out, workers=2)
    n = len(fresh.recordings)
    assert fresh.reused == 0 and n > 5
    first_inodes = {p: Path(p).stat().st_ino for p in fresh.recordings["image_path"]}
    truth_before = {p: Path(p).read_text() for p in fresh.recordings["truth_path"].dropna()}

    again = ingest_source(source, TEST_KEY, out, workers=2)
    assert again.reused == n
    for a, b in ((fresh.recordings, again.recordings), (fresh.patients, again.patients), (fresh.rejected, again.rejected)):
        pd.testing.assert_frame_equal(a, b)
    assert fresh.inputs == again.inputs
    assert {p: Path(p).stat().st_ino for p in again.recordings["image_path"]} == first_inodes  # linked, not rewritten
    assert {p: Path(p).read_text() for p in again.recordings["truth_path"].dropna()} == truth_before
    evidence = [json.loads(t)["evidence_path"] for t in truth_before.values()]
    assert any(evidence) and all(Path(e).is_file() and Path(e).parent.parent == out / "data" for e in evidence if e)

    # Edit one echo recording (a pixel of its single file) and remove a whole cine-MR patient.
    us = fresh.recordings[fresh.recordings["modality"] == "US"].iloc[0]
    real = real_paths(fresh)
    edited = copy / "dicom" / real[us["source_files"][0]]
    ds = pydicom.dcmread(edited)
    pixels = bytearray(ds.PixelData)
    pixels[len(pixels) // 2] ^= 0x01
    ds.PixelData = bytes(pixels)
    ds.save_as(edited, enforce_file_format=True)
    mr = fresh.recordings[fresh.recordings["modality"] == "MR"]
    gone_patient = mr["patient_key"].iloc[0]
    gone = mr[mr["patient_key"] == gone_patient]
    folders = {Path(real[f]).parts[0] for files in gone["source_files"] for f in files}
    for folder in folders:
        shutil.rmtree(copy / "dicom" / folder)
    entries_before = len(list((out / STORE).glob("*/*")))

    third = ingest_source(source, TEST_KEY, out, workers=2)
    assert third.reused == n - 1 - len(gone)
    changed = third.recordings.set_index("recording_id").loc[us["recording_id"]]
    assert changed["pixel_sha256"] != us["pixel_sha256"]
    assert not set(gone["recording_id"]) & set(third.recordings["recording_id"])
    assert len(list((out / STORE).glob("*/*"))) == entries_before - len(gone)  # edited: one entry out, one in
    unchanged = third.recordings[third.recordings["recording_id"] != us["recording_id"]]
    assert all(Path(p).stat().st_ino == first_inodes[p] for p in unchanged["image_path"])


def _first_identity(dicom_root: Path) -> tuple[str, str, str]:
    """(PatientID, PatientName, PatientBirthDate) of the first readable DICOM file below ``dicom_root``."""
    import pydicom

    for f in sorted(p for p in dicom_root.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:
            continue
        if "PatientName" in ds and "PatientBirthDate" in ds:
            return str(ds.PatientID), str(ds.PatientName), str(ds.PatientBirthDate)
    raise AssertionError("no DICOM file with a name")


@pytest.mark.parametrize("case", ["name", "birth_date"])
def test_a_label_column_holding_the_dicom_name_or_birth_date_is_refused_without_quoting_it(tiny_cohort, tmp_path, case):
    """One row of a mapped label column holds a patient's DICOM name (``DOE^JANE`` written
    ``Jane Doe``) or birth date (``19570312`` written ``12.03.1957``): ingest stops, naming the
    file and the column, before anything is written, and quotes neither."""
    _, outdir = tiny_cohort
    pid, name, born = _first_identity(outdir / "dicom")
    df = pd.read_csv(outdir / "clinical.csv", dtype=str, keep_default_na=False)
    df["Note"] = "stable"
    parts = [p for p in name.split("^") if p]
    written = " ".join(reversed(parts)).title() if case == "name" else f"{born[6:]}.{born[4:6]}.{born[:4]}"
    df.loc[df["PatientID"] == pid, "Note"] = written
    bad = tmp_path / "clinical.csv"
    df.to_csv(bad, index=False)
    source = {"name": "bad", "adapter": "dicom", "path": str(outdir / "dicom"), "options": {},
              "clinical": {"path": str(bad), "id_column": "PatientID", "columns": {"note": "Note"}}}
    with pytest.raises(ClinicalTableError) as err:
        ingest_source(source, TEST_KEY, tmp_path / "out")
    message = str(err.value)
    what = "patient name" if case == "name" else "birth date"
    assert f"clinical.csv: column 'Note' (mapped to label 'note') holds the DICOM {what} of 1 patient(s)" in message
    assert written not in message and parts[0] not in message and born not in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.parquet"))


def test_a_label_mapped_to_identifiers_or_names_is_refused_and_class_labels_are_kept(tmp_path):
    """The id column mapped again, and twelve different words one per patient (names or free
    text), are refused; a research export's class-like name ``HCM_001`` does not make the class
    ``HCM`` identifying, and numbers written with a unit stay a label."""
    from cardiolens.ingest.clinical import identifying_labels, read_clinical

    ids = [f"MRN{1000 + i}" for i in range(12)]
    names = ["Ann", "Bob", "Cem", "Dan", "Eva", "Fay", "Gus", "Hal", "Ida", "Jon", "Kim", "Lea"]
    table = pd.DataFrame({"PatientID": ids, "Name": [f"{n} Smith" for n in names], "Dx": ["HCM", "DCM"] * 6,
                          "EF": [f"{40 + i}.5 %" for i in range(12)]})
    path = tmp_path / "clinical.csv"
    table.to_csv(path, index=False)
    with pytest.raises(ClinicalTableError, match=r"column 'PatientID' \(mapped to label 'ref'\) holds the patient identifier of every row"):
        read_clinical(str(path), "PatientID", {"ref": "PatientID"})
    with pytest.raises(ClinicalTableError, match=r"column 'Name' \(mapped to label 'who'\) holds 12 different values without a digit"):
        read_clinical(str(path), "PatientID", {"who": "Name"})
    kept = read_clinical(str(path), "PatientID", {"dx": "Dx", "ef": "EF"})
    assert kept["dx"].tolist() == ["HCM", "DCM"] * 6
    assert identifying_labels(kept, {"dx": "Dx", "ef": "EF"}, [("1", "HCM_001", ""), ("2", "DCM_002", "")]) == []
    assert identifying_labels(kept.iloc[:9].assign(dx=names[:9]), {"dx": "Dx"}) == []   # nine words: too few to tell
    # a class written into PatientName of several patients (HF-I) names no one; a name of one patient does
    hf = kept.assign(dx=["HF-I", "HF-NI"] * 6)
    shared = [(pid, "HF-I" if i % 2 == 0 else "HF-NI", "") for i, pid in enumerate(ids)]
    assert identifying_labels(hf, {"dx": "Dx"}, shared) == []
    assert identifying_labels(hf, {"dx": "Dx"}, [(ids[0], "HF-I", "")]) == ["column 'Dx' (mapped to label 'dx') holds the "
                                                                             "DICOM patient name of 6 patient(s)"]
    # class codes 1, 2, 3 beside IDs 1, 2, 3 are not a copy of the IDs; the id column itself always is
    small = pd.DataFrame({"dx": ["1", "2", "3"]}, index=pd.Index(["1", "2", "3"], name="source_id"))
    assert identifying_labels(small, {"dx": "Code"}, id_column="PatientID") == []
    assert identifying_labels(small, {"dx": "PatientID"}, id_column="PatientID") == [
        "column 'PatientID' (mapped to label 'dx') holds the patient identifier of every row"]


def test_truth_sidecars_of_another_key_are_a_warning(tiny_cohort, tmp_path, caplog):
    """Sidecars are named by a keyed hash of the series UID: ingested under another key (a predict
    run with the wrong key), none matches, and the recordings would silently lose their masks."""
    import logging

    _, outdir = tiny_cohort
    source = {"name": "h", "adapter": "dicom", "path": str(outdir / "dicom"), "options": {"truth_dir": str(outdir / "truth")}}
    with caplog.at_level(logging.WARNING, logger="cardiolens"):
        res = ingest_source(source, b"another-key-of-enough-length-0123456789", tmp_path / "out")
    assert len(res.recordings) and res.recordings["mask_path"].isna().all()
    n = len(list((outdir / "truth").glob("T*.json")))
    assert any(r.getMessage().startswith(f"ingest h: options.truth_dir holds {n} ground-truth sidecars but none belongs")
               for r in caplog.records), [r.getMessage() for r in caplog.records]
