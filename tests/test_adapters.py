"""ACDC, CAMUS and EchoNet adapters on files built on the fly, and the quarantine of broken inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import itk
import numpy as np
import pandas as pd
import pytest

from cardiolens import labels as L
from cardiolens.hashing import list_files
from cardiolens.ingest.stage import ingest_source, merge_sources
from conftest import TEST_KEY, real_paths
from fakes import echo_frames, make_acdc_patient, make_camus_patient, write_image, write_mjpeg_avi


def _source(adapter: str, path: Path, **options) -> dict:
    return {"name": adapter, "adapter": adapter, "path": str(path), "clinical": None, "options": options}


def _ingest(adapter: str, path: Path, out: Path, **options):
    res = ingest_source(_source(adapter, path, **options), TEST_KEY, out)
    assert res.recordings["source_files"].map(len).sum() + len(res.rejected) == len(list_files(path))
    return res


def test_acdc_patient_frames_masks_and_metadata(tmp_path):
    make_acdc_patient(tmp_path / "training", "patient001", group="DCM", ed=4, es=9, n=12)
    (tmp_path / "training" / "patient001" / "MANDATORY_CITATION.md").write_text("cite")
    res = _ingest("acdc", tmp_path / "training", tmp_path / "out")
    row = res.recordings.iloc[0]
    assert (row["cardiomyopathy"], row["split"], row["view"], row["modality"]) == ("DCM", "training", "SAX", "MR")
    assert list(row["source_frames"]) == [3, 8] and (row["ed_frame"], row["es_frame"]) == (0, 1)
    assert (row["n_frames"], row["n_slices"], row["rows"], row["cols"]) == (2, 4, 40, 36)
    assert (row["spacing_x_mm"], row["spacing_z_mm"]) == (1.5, 10.0) and pd.isna(row["frame_time_ms"])
    mask = itk.array_from_image(itk.imread(row["mask_path"]))
    assert set(np.unique(mask)) == {L.BACKGROUND, L.LV_CAVITY, L.MYOCARDIUM, L.RV_CAVITY}  # 3->1, 2->2, 1->4
    assert (mask[0] == L.LV_CAVITY).sum() > (mask[1] == L.LV_CAVITY).sum()  # ES cavity is smaller
    pat = res.patients.iloc[0]
    assert (pat["height_cm"], pat["weight_kg"], pat["cardiomyopathy"]) == (170.0, 70.0, "DCM")
    assert dict(zip(res.rejected["path"].map(real_paths(res)), res.rejected["reason"])) == {"patient001/MANDATORY_CITATION.md": "ancillary"}


def test_camus_views_spacing_and_quality(tmp_path):
    make_camus_patient(tmp_path / "data", "patient0001", quality="Medium")
    res = _ingest("camus", tmp_path / "data", tmp_path / "out")
    assert sorted(res.recordings["view"]) == ["A2C", "A4C"]
    for _, row in res.recordings.iterrows():
        assert (row["spacing_x_mm"], row["spacing_y_mm"]) == (0.3, 0.15)
        assert (row["quality"], row["ef_percent"], list(row["source_frames"])) == ("Medium", 55.6, [0, 11])
        assert (row["rows"], row["cols"], row["n_frames"]) == (60, 40, 2)
    assert res.patients.iloc[0][["sex", "age"]].tolist() == ["F", 61.0]
    assert res.recordings["patient_key"].nunique() == 1


def test_echonet_video_frames_timing_and_tracings(tmp_path):
    frames = echo_frames(t=12)
    out_root, tmp_path = tmp_path, tmp_path / "data"
    write_mjpeg_avi(tmp_path / "Videos" / "0XAAA.avi", frames, fps=50)
    pd.DataFrame([{"FileName": "0XAAA", "EF": 61.5, "ESV": 30, "EDV": 80, "FrameHeight": 32, "FrameWidth": 32, "FPS": 50,
                   "NumberOfFrames": 12, "Split": "TEST"}]).to_csv(tmp_path / "FileList.csv", index=False)
    # Tracings: frame 0 a large box, frame 6 a small one (first line per frame is the long axis).
    rows = []
    for frame, half in ((0, 8), (6, 4)):
        rows.append({"FileName": "0XAAA.avi", "X1": 16, "Y1": 16 - half, "X2": 16, "Y2": 16 + half, "Frame": frame})
        for y in np.linspace(16 - half, 16 + half, 9):
            rows.append({"FileName": "0XAAA.avi", "X1": 16 - half, "Y1": y, "X2": 16 + half, "Y2": y, "Frame": frame})
    pd.DataFrame(rows).to_csv(tmp_path / "VolumeTracings.csv", index=False)
    res = _ingest("echonet", tmp_path, out_root / "out", pixel_spacing_mm=0.5)
    row = res.recordings.iloc[0]
    assert (row["n_frames"], row["frame_time_ms"], row["split"], row["ef_percent"]) == (12, 20.0, "TEST", 61.5)
    assert (row["ed_frame"], row["es_frame"], row["spacing_x_mm"]) == (0, 6, 0.5)
    decoded = itk.array_from_image(itk.imread(row["image_path"]))
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 3  # JPEG is lossy
    mask = itk.array_from_image(itk.imread(row["mask_path"]))
    assert (mask[0] == L.LV_CAVITY).sum() > (mask[6] == L.LV_CAVITY).sum() > 0 and (mask[3] == L.UNLABELLED).all()
    assert set(res.rejected["reason"]) == {"ancillary"}
    res2 = _ingest("echonet", tmp_path, out_root / "out2")
    assert pd.isna(res2.recordings.iloc[0]["spacing_x_mm"])  # EchoNet has no spacing of its own


# ---------------------------------------------------------------------------------------------
# Broken inputs: each builder breaks one thing; the expected reason code is checked per file.

def _acdc_broken(root: Path) -> dict[str, str]:
    """Five broken ACDC patients beside a good one; returns {relative path prefix: reason}."""
    make_acdc_patient(root, "patient001")
    make_acdc_patient(root, "patient002", seed=2)
    (root / "patient002" / "Info.cfg").write_text("ES: 6\nGroup: NOR\nNbFrame: 10\n")  # ED missing
    make_acdc_patient(root, "patient003", seed=3)
    (root / "patient003" / "Info.cfg").write_text("ED 1\nES: 6\nGroup: NOR\nNbFrame: 10\n")  # malformed line
    make_acdc_patient(root, "patient004", seed=4)
    bad = np.zeros((4, 40, 36), np.uint8)
    bad[0, 0, 0] = 7
    write_image(root / "patient004" / "patient004_frame01_gt.nii.gz", bad, (1.5, 1.5, 10.0))  # label 7
    make_acdc_patient(root, "patient005", seed=5)
    (root / "patient005" / "patient005_frame06.nii.gz").unlink()  # ES frame missing
    make_acdc_patient(root, "patient006", seed=6)
    write_image(root / "patient006" / "patient006_frame06.nii.gz", np.zeros((4, 30, 36), np.int16), (1.5, 1.5, 10.0))
    make_acdc_patient(root, "patient007", seed=1)
    shutil.copytree(root / "patient001", root / "patient008")  # same pixels as patient001
    for f in (root / "patient008").iterdir():
        f.rename(f.with_name(f.name.replace("patient001", "patient008")))
    make_acdc_patient(root, "patient009", seed=9, group="XYZ")  # group outside the label set
    (root / "stray.bin").write_bytes(b"\x00\x01")
    return {"patient002/": "malformed_metadata", "patient003/": "malformed_metadata", "patient004/": "label_out_of_range",
            "patient005/": "missing_companion", "patient006/": "inconsistent_series", "patient008/": "duplicate_content",
            "patient009/": "malformed_metadata", "stray.bin": "unsupported"}


def _camus_broken(root: Path) -> dict[str, str]:
    make_camus_patient(root, "patient0001", views=("4CH",))
    make_camus_patient(root, "patient0002", views=("4CH",), seed=2)
    (root / "patient0002" / "patient0002_4CH_ES.raw").unlink()  # .mhd without .raw
    make_camus_patient(root, "patient0003", views=("4CH",), seed=3)
    write_image(root / "patient0003" / "patient0003_4CH_ED.mhd", np.zeros((1, 60, 40), np.uint8), (0.3, 0.15, 1.0))
    text = (root / "patient0003" / "patient0003_4CH_ED.mhd").read_text()
    (root / "patient0003" / "patient0003_4CH_ED.mhd").write_text(
        "\n".join("ElementSpacing = 0 0.15 1" if line.startswith("ElementSpacing") else line for line in text.splitlines()) + "\n")
    make_camus_patient(root, "patient0004", views=("4CH",), seed=4, quality="Excellent")
    make_camus_patient(root, "patient0005", views=("4CH",), seed=5)
    write_image(root / "patient0005" / "patient0005_4CH_ES.mhd", np.zeros((1, 50, 40), np.uint8), (0.3, 0.15, 1.0))
    return {"patient0002/": "missing_companion", "patient0003/": "no_spatial_calibration",
            "patient0004/": "malformed_metadata", "patient0005/": "inconsistent_series"}


def _echonet_broken(root: Path) -> dict[str, str]:
    rows = []
    for k, (name, frames, n_listed) in enumerate([("0XGOOD", 10, 10), ("0XCOUNT", 10, 12), ("0XTRUNC", 10, 10),
                                                  ("0XEMPTY", 0, 0), ("0XNOROW", 10, 10), ("0XDUP", 10, 10)]):
        path = root / "Videos" / f"{name}.avi"
        if frames:
            write_mjpeg_avi(path, echo_frames(t=frames, seed=0 if name == "0XDUP" else k))
        else:
            write_mjpeg_avi(path, echo_frames(t=1))
            data = bytearray(path.read_bytes())
            i = data.find(b"00dc")
            data[i + 4:i + 8] = (0).to_bytes(4, "little")  # a zero-length frame chunk, nothing else
            path.write_bytes(bytes(data[: i + 8]))
            data = bytearray(path.read_bytes())
            movi = data.find(b"movi") - 8
            data[movi + 4:movi + 8] = (len(data) - movi - 8).to_bytes(4, "little")
            data[4:8] = (len(data) - 8).to_bytes(4, "little")
            path.write_bytes(bytes(data))
        if name == "0XTRUNC":
            path.write_bytes(path.read_bytes()[:-300])
        if name != "0XNOROW":
            rows.append({"FileName": f"{name}.avi", "EF": 60, "ESV": 1, "EDV": 2, "FrameHeight": 32, "FrameWidth": 32,
                         "FPS": 50, "NumberOfFrames": max(n_listed, 1), "Split": "TRAIN"})
    pd.DataFrame(rows).to_csv(root / "FileList.csv", index=False)
    return {"Videos/0XCOUNT.avi": "frame_count_mismatch", "Videos/0XTRUNC.avi": "truncated",
            "Videos/0XEMPTY.avi": "no_frames", "Videos/0XNOROW.avi": "malformed_metadata",
            "Videos/0XGOOD.avi": "duplicate_content"}


@pytest.mark.parametrize("adapter, builder, n_good", [("acdc", _acdc_broken, 2), ("camus", _camus_broken, 1),
                                                      ("echonet", _echonet_broken, 1)])
def test_broken_inputs_are_quarantined_with_their_reason(tmp_path, adapter, builder, n_good):
    root = tmp_path / "data"
    expected = builder(root)
    res = _ingest(adapter, root, tmp_path / "out")
    assert len(res.recordings) == n_good
    reasons = dict(zip(res.rejected["path"].map(real_paths(res)), res.rejected["reason"]))
    for prefix, reason in expected.items():
        hits = {r for p, r in reasons.items() if p.startswith(prefix) and r != "ancillary"}
        assert hits == {reason}, (prefix, hits)
    assert (res.rejected["message"].str.len() > 5).all()


def test_distinct_broken_inputs_cover_at_least_fifteen_cases(tmp_path):
    cases = {}
    for name, builder in (("acdc", _acdc_broken), ("camus", _camus_broken), ("echonet", _echonet_broken)):
        cases.update({(name, k): v for k, v in builder(tmp_path / name).items()})
    # 17 here (8 ACDC, 4 CAMUS, 5 EchoNet); test_ingest.py adds 8 DICOM cases and the merge test 1.
    assert len(cases) == 17
    assert len(set(cases.values())) == 10


def test_same_patient_in_two_sources_is_quarantined_in_the_later_one(tmp_path):
    make_acdc_patient(tmp_path / "a", "patient001")
    make_acdc_patient(tmp_path / "b", "patient001", seed=7)  # another copy: same ACDC id, other pixels
    make_acdc_patient(tmp_path / "b", "patient002", seed=8)
    ra = ingest_source({**_source("acdc", tmp_path / "a"), "name": "first"}, TEST_KEY, tmp_path / "oa")
    rb = ingest_source({**_source("acdc", tmp_path / "b"), "name": "second"}, TEST_KEY, tmp_path / "ob")
    rec, pat, rej = merge_sources([ra.recordings, rb.recordings], [ra.patients, rb.patients], [ra.rejected, rb.rejected])
    assert len(rec) == 2 and set(rec["source"]) == {"first", "second"}
    moved = rej[rej["reason"] == "duplicate_patient"]
    real = real_paths(rb)
    assert set(moved["source"]) == {"second"} and all(real[p].startswith("patient001/") for p in moved["path"])
    assert len(pat) == 2 and pat["patient_key"].is_unique


def test_acdc_training_and_testing_layouts_and_4d_cine(tmp_path):
    make_acdc_patient(tmp_path / "data" / "training", "patient001", ed=1, es=6, n=10)
    folder = make_acdc_patient(tmp_path / "data" / "testing", "patient101", group="HCM", ed=3, es=8, n=10)
    rng = np.random.default_rng(0)
    cine = np.stack([rng.normal(100, 5, (4, 40, 36)) for _ in range(10)]).astype(np.float32)
    for f in (3, 8):   # the ED and ES frame files are frames of the cine, as in ACDC
        cine[f - 1] = itk.array_from_image(itk.imread(str(folder / f"patient101_frame{f:02d}.nii.gz")))
    write_image(folder / "patient101_4d.nii.gz", cine, (1.5, 1.5, 10.0, 1.0))
    res = _ingest("acdc", tmp_path / "data", tmp_path / "out")
    by_split = res.recordings.set_index("split")
    assert set(by_split.index) == {"training", "testing"}
    test_row = by_split.loc["testing"]
    assert (test_row["n_frames"], test_row["ed_frame"], test_row["es_frame"]) == (10, 2, 7)
    assert list(test_row["source_frames"]) == list(range(10))
    stored = itk.array_from_image(itk.imread(test_row["image_path"]))
    assert np.allclose(stored, cine)
    mask = itk.array_from_image(itk.imread(test_row["mask_path"]))
    labelled = [t for t in range(10) if (mask[t] != L.UNLABELLED).any()]
    assert labelled == [2, 7]


@pytest.mark.parametrize("wrong", ["es_frame_of_another_image", "frame_beyond_the_cine"])
def test_acdc_frame_files_that_are_not_the_cines_frames_reject_the_patient(tmp_path, wrong):
    """The masks are drawn on the frame files and put on the 4-D cine's ED/ES frames: a frame
    file that differs from the cine's frame of its number (the ES file here) would
    put them on another image, so the patient is rejected, naming the file; its files are all
    accounted for."""
    folder = make_acdc_patient(tmp_path / "training", "patient001", ed=1, es=6, n=10)
    ed_image = itk.array_from_image(itk.imread(str(folder / "patient001_frame01.nii.gz")))
    cine = np.stack([ed_image] * 10).astype(np.float32)   # every frame the ED image: frame 6 is not the ES file
    if wrong == "frame_beyond_the_cine":   # ED and ES files right, a twelfth frame file beside a 10-frame cine
        cine[5] = itk.array_from_image(itk.imread(str(folder / "patient001_frame06.nii.gz")))
    write_image(folder / "patient001_4d.nii.gz", cine, (1.5, 1.5, 10.0, 1.0))
    if wrong == "frame_beyond_the_cine":
        write_image(folder / "patient001_frame12.nii.gz", cine[0], (1.5, 1.5, 10.0))
    res = _ingest("acdc", tmp_path / "training", tmp_path / "out")
    assert res.recordings.empty and set(res.rejected["reason"]) == {"frame_count_mismatch" if wrong == "frame_beyond_the_cine" else "truth_mismatch"}
    message = res.rejected["message"].iloc[0]
    for key, real in real_paths(res).items():   # file names in messages are path keys (cardiolens rejected)
        message = message.replace(key, Path(real).name)
    if wrong == "frame_beyond_the_cine":
        assert "patient001_frame12.nii.gz: frame 12 beyond the 10 frames of patient001_4d.nii.gz" in message
    else:
        assert message == ("patient001_frame06.nii.gz is not frame 6 of patient001_4d.nii.gz (ED 1, ES 6): "
                           "its expert masks would lie on another image")


def test_camus_nifti_release_with_half_sequence(tmp_path):
    folder = tmp_path / "data" / "patient0007"
    folder.mkdir(parents=True)
    (folder / "Info_4CH.cfg").write_text("ED: 1\nES: 5\nNbFrame: 5\nSex: M\nAge: 70\nImageQuality: Poor\nEF: 41.0\nFrameRate: 25\n")
    seq = np.random.default_rng(1).integers(0, 255, (5, 30, 20)).astype(np.uint8)
    gt = np.zeros((5, 30, 20), np.uint8)
    gt[:, 10:20, 5:15] = 1
    write_image(folder / "patient0007_4CH_half_sequence.nii.gz", seq, (0.3, 0.3, 1.0))
    write_image(folder / "patient0007_4CH_half_sequence_gt.nii.gz", gt, (0.3, 0.3, 1.0))
    res = _ingest("camus", tmp_path / "data", tmp_path / "out")
    row = res.recordings.iloc[0]
    assert (row["view"], row["n_frames"], row["ed_frame"], row["es_frame"]) == ("A4C", 5, 0, 4)
    assert (row["frame_time_ms"], row["quality"], row["ef_percent"]) == (40.0, "Poor", 41.0)
    assert np.array_equal(itk.array_from_image(itk.imread(row["image_path"])), seq)
