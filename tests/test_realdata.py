"""The adapters on the real public datasets in ../shared/data (skipped when absent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import itk
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from cardiolens import labels as L
from cardiolens.hashing import list_files
from cardiolens.ingest.stage import ingest_source
from cardiolens.privacy import path_key
from conftest import REPO, SHARED_DATA, TEST_KEY, real_paths

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data folder {SHARED_DATA} is absent"),
]


def _source(name: str, adapter: str, path: Path, **options) -> dict:
    return {"name": name, "adapter": adapter, "path": str(path), "clinical": None, "options": options}


def _accounted(res, root: Path) -> None:
    assert res.recordings["source_files"].map(len).sum() + len(res.rejected) == len(list_files(root))


@pytest.fixture(scope="module")
def acdc(tmp_path_factory):
    root = SHARED_DATA / "acdc" / "training"
    return root, ingest_source(_source("acdc", "acdc", root), TEST_KEY, tmp_path_factory.mktemp("acdc"), workers=2)


def test_acdc_all_patients_accounted_with_ed_es_from_info_cfg(acdc):
    root, res = acdc
    _accounted(res, root)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert len(folders) == 100 and len(res.patients) == 100
    # patient076 is a pixel-for-pixel copy of patient074 (its Info.cfg differs only in number
    # formatting): it is quarantined as duplicate content, every other patient is ingested.
    real = real_paths(res)
    dup = res.rejected[res.rejected["reason"] == "duplicate_content"]
    assert sorted({real[p].split("/")[0] for p in dup["path"]}) == ["patient076"]
    assert set(dup["message"]) == {f"same pixels as {path_key(TEST_KEY, 'patient074/Info.cfg')}"}
    assert len(res.recordings) == 99
    groups = res.patients["cardiomyopathy"].value_counts().to_dict()
    assert groups == {"NOR": 20, "MINF": 20, "DCM": 20, "HCM": 20, "RV": 20}
    assert res.recordings["cardiomyopathy"].value_counts().to_dict() == {"NOR": 19, "MINF": 20, "DCM": 20, "HCM": 20, "RV": 20}
    for folder in folders:
        if folder == "patient076":
            continue
        cfg = dict(line.split(": ") for line in (root / folder / "Info.cfg").read_text().splitlines() if line.strip())
        key_rows = res.recordings[res.recordings["source_files"].map(lambda fs, f=folder: real[fs[0]].startswith(f + "/"))]
        assert len(key_rows) == 1, folder
        row = key_rows.iloc[0]
        frames = list(row["source_frames"])
        assert frames[row["ed_frame"]] == int(cfg["ED"]) - 1 and frames[row["es_frame"]] == int(cfg["ES"]) - 1, folder
    assert set(res.rejected["reason"]) == {"ancillary", "duplicate_content"}


def test_acdc_geometry_and_masks(acdc):
    root, res = acdc
    row = res.recordings.iloc[0]
    image = itk.imread(row["image_path"])
    mask = itk.array_from_image(itk.imread(row["mask_path"]))
    assert image.GetImageDimension() == 4
    assert set(np.unique(mask)) <= {L.BACKGROUND, L.LV_CAVITY, L.MYOCARDIUM, L.RV_CAVITY}
    assert (mask[row["ed_frame"]] == L.LV_CAVITY).sum() > (mask[row["es_frame"]] == L.LV_CAVITY).sum()
    real = real_paths(res)
    p090 = res.recordings[res.recordings["source_files"].map(lambda fs: real[fs[0]].startswith("patient090/"))].iloc[0]
    assert p090["n_frames"] == 12 and p090["ed_frame"] == 3 and p090["es_frame"] == 10  # the 4D cine, ED = frame 4


def test_camus_three_patients_two_views(tmp_path):
    root = SHARED_DATA / "camus"
    res = ingest_source(_source("camus", "camus", root), TEST_KEY, tmp_path)
    _accounted(res, root)
    assert len(res.recordings) == 6 and res.recordings["patient_key"].nunique() == 3
    assert sorted(res.recordings["view"].value_counts().to_dict().items()) == [("A2C", 3), ("A4C", 3)]
    for _, row in res.recordings.iterrows():
        view = "2CH" if row["view"] == "A2C" else "4CH"
        pid = real_paths(res)[row["source_files"][0]].split("/")[0]
        header = (root / pid / f"{pid}_{view}_ED.mhd").read_text()
        spacing = [float(v) for v in next(line for line in header.splitlines() if line.startswith("ElementSpacing")).split("=")[1].split()]
        assert (row["spacing_x_mm"], row["spacing_y_mm"]) == pytest.approx(spacing[:2])
        cfg = dict(line.split(": ") for line in (root / pid / f"Info_{view}.cfg").read_text().splitlines() if line.strip())
        assert row["quality"] == cfg["ImageQuality"] and row["ef_percent"] == pytest.approx(float(cfg["LVef"]))
        mask = itk.array_from_image(itk.imread(row["mask_path"]))
        assert set(np.unique(mask)) == {L.BACKGROUND, L.LV_CAVITY, L.MYOCARDIUM, L.LEFT_ATRIUM}


def test_sunnybrook_series_with_contours(tmp_path):
    base = SHARED_DATA / "sunnybrook"
    res = ingest_source(_source("sunnybrook", "dicom", base / "dicoms", contours_dir=str(base / "contourfiles"),
                                contours_link=str(base / "link.csv")), TEST_KEY, tmp_path)
    _accounted(res, base / "dicoms")
    assert len(res.recordings) == 1 and len(res.rejected) == 0
    row = res.recordings.iloc[0]
    assert (row["n_slices"], row["n_frames"], row["rows"], row["cols"]) == (12, 20, 256, 256)
    assert row["spacing_x_mm"] == pytest.approx(1.367, abs=1e-3) and row["spacing_y_mm"] == pytest.approx(1.367, abs=1e-3)
    mask = itk.array_from_image(itk.imread(row["mask_path"]))
    n_contours = len(list((base / "contourfiles" / "SC-HF-I-1" / "i-contours").iterdir()))
    annotated = [(p, s) for p in range(20) for s in range(12) if (mask[p, s] == L.LV_CAVITY).any()]
    assert len(annotated) == n_contours
    # An LV cavity of a heart-failure patient: tens of cm^2 in an annotated slice, not a speck.
    p, s = annotated[0]
    area_cm2 = (mask[p, s] == L.LV_CAVITY).sum() * row["spacing_x_mm"] * row["spacing_y_mm"] / 100
    assert 5 < area_cm2 < 100


def test_a_garbled_contour_file_costs_its_frame_not_the_series(tmp_path, caplog):
    """One i-contour file with a line that is not two numbers: the 240 images are still one
    recording, every other contour still a mask, and the log names the image, not the folder."""
    import logging
    import shutil

    base = SHARED_DATA / "sunnybrook"
    contours = tmp_path / "contourfiles"
    shutil.copytree(base / "contourfiles", contours)
    inner = sorted((contours / "SC-HF-I-1" / "i-contours").iterdir())
    with inner[0].open("a") as fh:
        fh.write("not a number line\n")
    caplog.set_level(logging.INFO)
    res = ingest_source(_source("sunnybrook", "dicom", base / "dicoms", contours_dir=str(contours),
                                contours_link=str(base / "link.csv")), TEST_KEY, tmp_path / "out")
    assert len(res.recordings) == 1 and len(res.rejected) == 0
    mask = itk.array_from_image(itk.imread(res.recordings.iloc[0]["mask_path"]))
    annotated = [(p, s) for p in range(20) for s in range(12) if (mask[p, s] == L.LV_CAVITY).any()]
    assert len(annotated) == len(inner) - 1
    said = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    stem = "-".join(inner[0].name.split("-")[:3])
    assert len(said) == 1 and stem in said[0] and "SC-HF-I-1" not in said[0], said


def test_sunnybrook_packed_into_one_enhanced_mr_file_ingests_to_the_same_cine(tmp_path):
    """The 240 single-frame images of the Sunnybrook series packed, shuffled, into one Enhanced MR
    file (tests/fakes.py: positions, trigger delays and rescale per frame): the same 12 x 20 cine,
    pixel for pixel, with the same geometry."""
    from fakes import write_enhanced_mr

    base = SHARED_DATA / "sunnybrook" / "dicoms"
    singles = sorted(p for p in base.rglob("*") if p.is_file())
    order = np.random.default_rng(1).permutation(len(singles))
    write_enhanced_mr(tmp_path / "enhanced" / "SCD" / "cine.dcm", singles, order)
    ref = ingest_source(_source("sunnybrook", "dicom", base), TEST_KEY, tmp_path / "out_single")
    got = ingest_source(_source("enhanced", "dicom", tmp_path / "enhanced"), TEST_KEY, tmp_path / "out_enhanced")
    assert len(got.recordings) == len(ref.recordings) == 1 and len(got.rejected) == 0
    a, b = got.recordings.iloc[0], ref.recordings.iloc[0]
    assert (a["n_slices"], a["n_frames"]) == (b["n_slices"], b["n_frames"]) == (12, 20)
    for col in ("spacing_x_mm", "spacing_y_mm", "spacing_z_mm", "frame_time_ms"):
        assert a[col] == pytest.approx(b[col]), col
    ia, ib = itk.imread(a["image_path"]), itk.imread(b["image_path"])
    assert np.array_equal(itk.array_from_image(ia), itk.array_from_image(ib))
    assert np.allclose(np.asarray(ia.GetDirection()), np.asarray(ib.GetDirection()))
    assert np.allclose(np.asarray(ia.GetOrigin()), np.asarray(ib.GetOrigin()))


def test_sunnybrook_exported_one_series_per_slice_is_stacked_back(tmp_path):
    """The Sunnybrook series rewritten as twelve single-slice series (one SeriesInstanceUID per
    slice position, as a scanner that acquires each slice in its own breath-hold exports them)
    ingests to the same 12 x 20 cine as the original series, pixel for pixel."""
    import pydicom
    from pydicom.uid import generate_uid

    base = SHARED_DATA / "sunnybrook" / "dicoms"
    uids: dict[tuple, str] = {}
    for p in sorted(q for q in base.rglob("*") if q.is_file()):
        ds = pydicom.dcmread(p)
        ds.SeriesInstanceUID = uids.setdefault(tuple(round(float(v), 2) for v in ds.ImagePositionPatient), generate_uid())
        out = tmp_path / "split" / p.relative_to(base)
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(out)
    assert len(uids) == 12
    ref = ingest_source(_source("sunnybrook", "dicom", base), TEST_KEY, tmp_path / "out_one")
    # With the contours given: the stack gets none (InstanceNumber restarts in every series)
    got = ingest_source(_source("split", "dicom", tmp_path / "split", contours_dir=str(base.parent / "contourfiles"),
                                contours_link=str(base.parent / "link.csv")), TEST_KEY, tmp_path / "out_split")
    _accounted(got, tmp_path / "split")
    assert len(got.recordings) == 1 and len(got.rejected) == 0
    a, b = got.recordings.iloc[0], ref.recordings.iloc[0]
    assert (a["n_slices"], a["n_frames"]) == (12, 20) and a["spacing_z_mm"] == pytest.approx(b["spacing_z_mm"])
    assert a["mask_path"] is None and b["mask_path"] is None   # (the reference was ingested without contours)
    assert np.array_equal(itk.array_from_image(itk.imread(a["image_path"])), itk.array_from_image(itk.imread(b["image_path"])))


def test_echonet_frame_counts_equal_filelist(tmp_path):
    root = SHARED_DATA / "echonet"
    res = ingest_source(_source("echonet", "echonet", root), TEST_KEY, tmp_path)
    _accounted(res, root)
    filelist = pd.read_csv(root / "FileList.csv").set_index("FileName")
    videos = sorted(p.name for p in (root / "Videos").iterdir())
    assert len(res.recordings) == len(videos) == 2
    for _, row in res.recordings.iterrows():
        listed = filelist.loc[Path(real_paths(res)[row["source_files"][0]]).name]
        assert row["n_frames"] == listed["NumberOfFrames"]
        assert row["frame_time_ms"] == pytest.approx(1000 / listed["FPS"]) and row["split"] == listed["Split"]
        assert (row["rows"], row["cols"]) == (listed["FrameHeight"], listed["FrameWidth"])
    assert res.notes["filelist_rows_without_video"] == len(filelist) - 2


def test_acdc_config_file_runs_as_a_user_would(tmp_path):
    """config/acdc.yaml as documented: an exported key, snakemake with --configfile."""
    work = tmp_path / "w"
    work.mkdir()
    (work / "config").mkdir()
    (work / "config" / "acdc.yaml").write_text((REPO / "config" / "acdc.yaml").read_text())
    (work.parent / "shared").symlink_to(SHARED_DATA.parent)  # ../shared/data as seen from the work dir
    env = {**os.environ, "CARDIOLENS_PSEUDONYM_KEY": "test-secret-of-at-least-32-characters"}
    target = "results/ingest/acdc/recordings.parquet"
    cmd = [str(Path(sys.executable).with_name("snakemake")), target, "--snakefile", str(REPO / "Snakefile"), "--cores", "2",
           "--configfile", "config/acdc.yaml"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = pd.read_parquet(work / target)
    assert len(rec) == 99 and set(rec["source"]) == {"acdc"}
    env.pop("CARDIOLENS_PSEUDONYM_KEY")
    proc = subprocess.run([*cmd, "--forcerun", "ingest_source"], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode != 0 and "CARDIOLENS_PSEUDONYM_KEY" in proc.stdout + proc.stderr


def test_acdc_ed_es_crops_contain_the_whole_lv(acdc, tmp_path):
    from cardiolens.config import validate_config
    from cardiolens.prepare.run import study_slice
    from cardiolens.prepare.samples import prepare_study

    _, res = acdc
    cfg = study_slice(validate_config({}), "cardiomyopathy")
    samples, skipped = prepare_study(res.recordings, "cardiomyopathy", cfg, tmp_path, workers=2)
    assert len(skipped) == 0 and samples["recording_id"].nunique() == len(res.recordings) == 99
    params = samples["params"].map(json.loads)
    assert all(p["lv_inside_crop"] for p in params) and all(p["pixel_mm"] == cfg["frames"]["pixel_mm"] for p in params)
    assert set(samples["label"]) == {"NOR", "MINF", "DCM", "HCM", "RV"}
    # Every slice with an LV at ED became a sample.
    for rid, group in samples.groupby("recording_id"):
        row = res.recordings.set_index("recording_id").loc[rid]
        mask = itk.array_from_image(itk.imread(row["mask_path"]))[row["ed_frame"]]
        assert len(group) == sum((mask[s] == L.LV_CAVITY).any() for s in range(mask.shape[0]))


def test_acdc_mask_guided_crops_hold_every_heart_at_heart_fill(acdc, tmp_path):
    """config/acdc.yaml's frames: each patient's largest heart box (ED and ES together) spans 85 % of
    the 64 px crop (+-2 px of resampling), no heart touches the crop's border, background beyond 5 mm is zero."""
    from cardiolens.config import validate_config
    from cardiolens.prepare.run import study_slice
    from cardiolens.prepare.samples import ROI_BITS, prepare_study

    _, res = acdc
    cfg = study_slice(validate_config({"studies": {"cardiomyopathy": {"frames": {
        "pixel_mm": 2.0, "crop_px": 64, "crop": "heart", "background_mm": 5}}}}), "cardiomyopathy")
    samples, skipped = prepare_study(res.recordings, "cardiomyopathy", cfg, tmp_path, workers=2)
    assert len(skipped) == 0 and samples["recording_id"].nunique() == 99
    for _, group in samples.groupby("recording_id"):
        sides = []
        for _, row in group.iterrows():
            arr = np.load(row["array_path"], mmap_mode="r")[row["array_index"]]
            heart = (np.load(row["roi_path"], mmap_mode="r")[row["array_index"]] >> ROI_BITS["heart"]) & 1 == 1
            assert not (heart[:, 0].any() or heart[:, -1].any() or heart[:, :, 0].any() or heart[:, :, -1].any())
            _, r, c = np.nonzero(heart)                          # one box over both phases
            sides.append(max(np.ptp(r), np.ptp(c)) + 1)
            far = ndimage.distance_transform_edt(~(heart[0] | heart[1])) * json.loads(row["params"])["pixel_mm"] > 5
            assert (arr[:, far] == 0).all()   # the whole heart is in the crop, so its nearest heart pixel is too
        assert max(sides) == pytest.approx(0.85 * 64, abs=2)


def test_camus_a4c_mmode_crosses_the_septum(tmp_path):
    from cardiolens.config import validate_config
    from cardiolens.prepare.samples import ROI_BITS, _mmode_samples

    root = SHARED_DATA / "camus"
    res = ingest_source(_source("camus", "camus", root), TEST_KEY, tmp_path)
    cfg = {**validate_config({})["studies"]["septal_flash"]["mmode"], "augment_offsets": 0, "variants": ["original"]}
    a4c = res.recordings[res.recordings["view"] == "A4C"]
    assert len(a4c) == 3
    for row in a4c.to_dict("records"):
        (sample,) = _mmode_samples(row, cfg)
        assert json.loads(json.dumps(sample["params"]))["contour_source"] == "mask_heuristic"
        roi = sample["roi"][0]
        n = roi.shape[0]
        myo = (roi >> ROI_BITS["myocardium"]) & 1
        lv = (roi >> ROI_BITS["lv"]) & 1
        ed_col = 0
        # RV -> LV: myocardium (the septum) just before the centre, LV cavity just after it.
        assert myo[n // 2 - n // 8: n // 2, ed_col].mean() > 0.5
        assert lv[n // 2 + 1: n // 2 + n // 8, ed_col].mean() > 0.5


def test_acdc_five_fold_split_has_four_per_group_per_test_fold(acdc):
    from cardiolens.split.stage import patient_table, split_patients

    _, res = acdc
    samples = res.recordings[["recording_id", "patient_key"]].assign(label=res.recordings["cardiomyopathy"])
    table = patient_table(samples, res.patients, res.recordings)
    splits = split_patients(table, {"scheme": "kfold", "k": 5, "val_fraction": 0.0, "stratify_by": [], "age_bins": []}, 1)
    test = splits[splits["role"] == "test"].merge(table, on="patient_key")
    counts = test.groupby(["label", "fold"]).size().unstack(fill_value=0)
    for group in ("MINF", "DCM", "HCM", "RV"):
        assert counts.loc[group].tolist() == [4, 4, 4, 4, 4]
    # NOR has 19 ingested patients (patient076 is quarantined as a duplicate of patient074).
    assert sorted(counts.loc["NOR"].tolist()) == [3, 4, 4, 4, 4]


def test_camus_a4c_regional_image_quality(tmp_path):
    """Study 4 on real echo: six regions per A4C view (septum to the left of the long axis, no
    septum label in CAMUS), myocardium brighter than the LV blood pool in the basal and mid
    segments, and one per-view Spearman row against CAMUS ImageQuality (n = 3: no claim)."""
    from cardiolens.stats.quality import REGIONS
    from cardiolens.stats.stage import recordings_quality

    root = SHARED_DATA / "camus"
    res = ingest_source(_source("camus", "camus", root), TEST_KEY, tmp_path)
    q, qc = recordings_quality(res.recordings, "camus")
    a4c = res.recordings[res.recordings["view"] == "A4C"]
    assert sorted(q["recording_id"].unique()) == sorted(a4c["recording_id"]) and len(q) == 3 * len(REGIONS)
    assert (q["n_pixels"] > 1000).all() and q["gcnr"].between(0, 1).all() and q["grade"].isna().all()
    assert set(q["quality"]) <= {"Good", "Medium", "Poor"}
    assert set(q["quality"]) == set(a4c["quality"])
    basal_mid = q[~q["region"].str.startswith("apical")]
    assert basal_mid.groupby("recording_id")["cr_db"].mean().gt(0).all()
    assert set(qc["label"]) == {"quality"} and (qc["n"] == 3).all()


def test_camus_a4c_ed_es_two_point_motion_agrees_with_the_es_masks(tmp_path):
    """CAMUS has only ED and ES frames here: the motion stage gives a two-point displacement
    (mask-guided pair registration). Reference: the same wall construction run on the ES mask -
    the annulus found in the ES segmentation - projected on the ED long axis. On the three A4C
    views the basal (AV-plane) displacement is towards the apex (normal systolic annular
    excursion is ~10-16 mm; Matos et al., JASE 2012) and within 2 mm of the mask-derived
    value in the median (measured 0.75 mm; the worst, 4.9 mm, is patient0001's septum)."""
    from cardiolens.config import validate_config
    from cardiolens.measure.motion import measure_row
    from cardiolens.measure.wall import wall_geometry

    root = SHARED_DATA / "camus"
    res = ingest_source(_source("camus", "camus", root), TEST_KEY, tmp_path)
    cfg = validate_config({})["studies"]["takotsubo_stemi"]["motion"]
    differences = []
    a4c = res.recordings[res.recordings["view"] == "A4C"]
    assert len(a4c) == 3
    for r in a4c.to_dict("records"):
        out = measure_row(r, cfg).set_index("segment")
        assert (out["window"] == "ed_es").all() and out["peak_diastolic_mm"].isna().all()
        mask = itk.array_from_image(itk.imread(r["mask_path"]))
        sp = (r["spacing_x_mm"], r["spacing_y_mm"])
        ed, es = wall_geometry(mask[r["ed_frame"]], sp), wall_geometry(mask[r["es_frame"]], sp)
        for seg in ("basal_inferoseptal", "basal_anterolateral"):
            reference = float((es.anchors[seg] - ed.anchors[seg]) @ ed.u)
            tracked = out.loc[seg, "peak_systolic_mm"]
            assert 2.0 < tracked < 20.0, (r["recording_id"], seg, tracked)
            differences.append(abs(tracked - reference))
    assert np.median(differences) <= 2.0


def test_camus_partial_recording_keeps_what_is_intact(tmp_path):
    """A copy of CAMUS with one sequence's ``.raw`` gone: the view is still ingested from its ED
    and ES images with both expert masks, and only the ``.mhd`` that lost its data file is
    rejected (``missing_companion``). The copy here holds no sequences, so
    when none is present one is declared: a ``_half_sequence.mhd`` header whose ``.raw`` is
    absent, which is exactly what a sequence that lost its ``.raw`` looks like. A mask whose
    ``.raw`` is short costs only that mask."""
    import shutil

    root = tmp_path / "camus"
    shutil.copytree(SHARED_DATA / "camus", root)
    raws = sorted(root.glob("*/*_sequence.raw"))
    if raws:
        raws[0].unlink()
        header = raws[0].with_suffix(".mhd")
    else:
        header = root / "patient0001" / "patient0001_2CH_half_sequence.mhd"
        ed = (root / "patient0001" / "patient0001_2CH_ED.mhd").read_text()
        header.write_text(ed.replace("patient0001_2CH_ED.raw", "patient0001_2CH_half_sequence.raw"), encoding="utf-8")
    pid, view = header.name.split("_")[:2]
    short = root / "patient0002" / "patient0002_4CH_ES_gt.raw"
    short.write_bytes(short.read_bytes()[:1000])
    res = ingest_source(_source("camus", "camus", root), TEST_KEY, tmp_path / "out")
    _accounted(res, root)
    assert len(res.recordings) == 6  # every view of the three patients, none lost
    real = real_paths(res)
    rejected = res.rejected[res.rejected["reason"] != "ancillary"]
    rejected = rejected.assign(path=[real[p] for p in rejected["path"]]).set_index("path")
    assert sorted(rejected.index) == sorted([str(header.relative_to(root)), "patient0002/patient0002_4CH_ES_gt.mhd",
                                             "patient0002/patient0002_4CH_ES_gt.raw"])
    assert rejected.loc[str(header.relative_to(root)), "reason"] == "missing_companion"
    # Named by path key, and the missing data file by the header's field: file names may be the patient's.
    message = rejected.loc[str(header.relative_to(root)), "message"]
    assert message.startswith(path_key(TEST_KEY, str(header.relative_to(root)))) and "(ElementDataFile) is missing" in message
    assert header.with_suffix(".raw").name not in message and header.name not in message
    assert "truncated" in rejected.loc["patient0002/patient0002_4CH_ES_gt.mhd", "message"]
    from cardiolens.privacy import patient_key

    def recording(patient: str, camus_view: str) -> pd.Series:
        rows = res.recordings[(res.recordings["patient_key"] == patient_key(TEST_KEY, f"camus:{patient}"))
                              & (res.recordings["view"] == {"2CH": "A2C", "4CH": "A4C"}[camus_view])]
        assert len(rows) == 1
        return rows.iloc[0]

    broken_view = recording(pid, view)
    assert broken_view["n_frames"] == 2  # ED and ES, from their own images
    mask = itk.array_from_image(itk.imread(broken_view["mask_path"]))
    assert all(set(np.unique(mask[k])) == {L.BACKGROUND, L.LV_CAVITY, L.MYOCARDIUM, L.LEFT_ATRIUM} for k in range(2))
    es_lost = recording("patient0002", "4CH")
    mask = itk.array_from_image(itk.imread(es_lost["mask_path"]))
    es = es_lost["es_frame"]
    assert (mask[es] == L.UNLABELLED).all() and (mask[1 - es] != L.UNLABELLED).any()
