"""Model bundles and `cardiolens predict`.

The must-show test takes the septal-flash study of the session's tiny run (its tables equal a
septal-flash-only run's, tinyrun.ONE_STUDY), copies its fold-0 bundle into a fresh folder that has nothing
else, runs `cardiolens predict` there on copies of the test-role patients' DICOMs, and compares the
probabilities with the training run's own test-role predictions. The copy is ingested under
another pseudonymisation key (real inputs may not use the demo key), so recording ids differ and
samples are matched by their recording's pixel sha256; the ground-truth sidecars are renamed for
that key, as an annotation tool using the run's key would name them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pydicom
import pytest
import yaml

from cardiolens.config import DEMO_KEY
from cardiolens.hashing import sha256_file
from cardiolens.predict.bundle import FILES, BundleError, verify_bundle, write_manifest

CLI = str(Path(sys.executable).with_name("cardiolens"))
NEW_KEY = "predict-test-key-" + "x" * 32


@pytest.fixture(scope="module")
def trained(tiny_run) -> Path:
    """Working folder of the session's tiny run (read only here): its septal-flash tables and fold
    bundle are those of a septal-flash-only run, byte for byte (test_slurm checks this), so the
    tests below do not train a model of their own."""
    return tiny_run


def _bundle(run: Path) -> Path:
    return run / "results" / "train" / "septal_flash" / "fold0" / "bundle"


def _test_patient_inputs(run: Path, dst: Path) -> Path:
    """Copies of the fold-0 test patients' DICOM folders, the clinical table and their ground truth
    (renamed for NEW_KEY) under ``dst``; returns the `inputs:` YAML file."""
    from cardiolens import privacy
    from cardiolens.ingest.truth import sidecar_stem

    splits = pd.read_parquet(run / "results/split/septal_flash/splits.parquet")
    test = set(splits.loc[(splits["fold"] == 0) & (splits["role"] == "test"), "patient_key"])
    synthetic = run / "resources" / "synthetic"
    old_key = DEMO_KEY.encode()
    for folder in sorted((synthetic / "dicom").iterdir()):
        if not folder.is_dir():
            continue
        files = [f for f in sorted(folder.rglob("*")) if f.is_file()]
        try:
            pid = str(pydicom.dcmread(files[0], stop_before_pixels=True).PatientID)
        except Exception:  # the cohort's deliberately broken export files
            continue
        if privacy.patient_key(old_key, pid) in test:
            shutil.copytree(folder, dst / "dicom" / folder.name)
    assert (dst / "dicom").is_dir() and test
    shutil.copy(synthetic / "clinical.csv", dst / "clinical.csv")
    (dst / "truth").mkdir()
    uids = {str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID) for f in (dst / "dicom").rglob("*") if f.is_file()}
    for uid in uids:
        for ext in (".json", ".npz"):
            src = synthetic / "truth" / (sidecar_stem(old_key, uid) + ext)
            if src.exists():
                shutil.copy(src, dst / "truth" / (sidecar_stem(NEW_KEY.encode(), uid) + ext))
    spec = dst / "inputs.yaml"
    spec.write_text(yaml.safe_dump({"inputs": [{
        "name": "external", "adapter": "dicom", "path": "dicom",
        "clinical": {"path": "clinical.csv", "id_column": "PatientID", "columns": {}},
        "options": {"truth_dir": "truth"}}]}))
    return spec


def _by_pixels(run: Path, preds: pd.DataFrame) -> pd.DataFrame:
    """``preds`` indexed by (recording pixel sha256, the rest of the sample id)."""
    rec = pd.read_parquet(run / "results/ingest/recordings.parquet", columns=["recording_id", "pixel_sha256"])
    sha = dict(zip(rec["recording_id"], rec["pixel_sha256"]))
    keys = [sha[s.split("-", 1)[0]] + "-" + s.split("-", 1)[1] for s in preds["sample_id"]]
    return preds.set_index(pd.Index(keys, name="key")).sort_index()


@pytest.mark.slow
def test_predict_reproduces_the_training_runs_test_probabilities(trained, tmp_path):
    from cardiolens.tables import read_provenance

    inputs = tmp_path / "new_recordings"
    spec = _test_patient_inputs(trained, inputs)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copytree(_bundle(trained), fresh / "bundle")  # nothing else: no results/, no config
    env = {**os.environ, "CARDIOLENS_PSEUDONYM_KEY": NEW_KEY}
    proc = subprocess.run([CLI, "predict", "--model", "bundle", "--input", str(spec), "--out", "out", "--cores", "2"],
                          cwd=fresh, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = fresh / "out" / "results" / "predict" / "septal_flash"
    dag = pd.read_parquet(trained / "results/train/septal_flash/predictions.parquet")
    dag = _by_pixels(trained, dag[(dag["role"] == "test") & (dag["fold"] == 0)])
    new = _by_pixels(fresh / "out", pd.read_parquet(out / "predictions.parquet"))
    assert list(new.index) == list(dag.index) and len(new) > 0
    cols = [c for c in dag.columns if c.startswith("p_")]
    assert (new[cols] - dag[cols]).abs().to_numpy().max() <= 1e-6
    assert list(new["y_pred"]) == list(dag["y_pred"]) and list(new["y_true"]) == list(dag["y_true"])
    assert set(new["role"]) == {"test"} and list(new.columns) == list(dag.columns)
    digest = sha256_file(fresh / "bundle" / "manifest.json")
    for table in ("predictions", "patient_predictions", "attribution"):
        assert read_provenance(out / f"{table}.parquet")["extra"]["bundle_sha256"] == digest
    attribution = pd.read_parquet(out / "attribution.parquet")
    assert set(attribution["sample_id"]) == set(pd.read_parquet(out / "predictions.parquet")["sample_id"])
    assert not (fresh / "results").exists()
    # scored against the labels it was given: the training run's fold-0 test accuracy, same patients
    perf = pd.read_parquet(out / "performance.parquet")
    acc = perf[(perf["level"] == "patient") & (perf["metric"] == "accuracy") & perf["class"].isna()].iloc[0]
    train_pat = pd.read_parquet(trained / "results/train/septal_flash/patient_predictions.parquet")
    tp = train_pat[(train_pat["role"] == "test") & (train_pat["fold"] == 0)]
    assert acc["value"] == pytest.approx((tp["y_true"] == tp["y_pred"]).mean()) and acc["n_patients"] == len(tp)
    assert f"bundle bundle (sha256 {digest[:16]})" in proc.stdout and "septal_flash: accuracy" in proc.stdout
    # the same bundle continues its own run; another run's folder is refused before anything is written
    again = subprocess.run([CLI, "predict", "--model", "bundle", "--input", str(spec), "--out", "out"],
                           cwd=fresh, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    other = fresh / "training_run"
    (other / "results").mkdir(parents=True)
    (other / "results" / "summary.parquet").write_bytes(b"x")
    refused = subprocess.run([CLI, "predict", "--model", "bundle", "--input", str(spec), "--out", str(other)],
                             cwd=fresh, env=env, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 1 and "is not a cardiolens predict run" in refused.stderr
    assert sorted(p.name for p in other.rglob("*")) == ["results", "summary.parquet"]


@pytest.mark.slow
def test_predict_scores_new_recordings_without_a_label(trained, tmp_path):
    """New recordings usually come without a label: the same DICOMs, no clinical table. They are
    scored (the same probabilities as with their labels) and not judged (y_true and correct null)."""
    inputs = tmp_path / "unlabelled"
    spec = _test_patient_inputs(trained, inputs)
    entry = yaml.safe_load(spec.read_text())["inputs"][0]
    del entry["clinical"]
    spec.write_text(yaml.safe_dump({"inputs": [entry]}))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copytree(_bundle(trained), fresh / "bundle")
    env = {**os.environ, "CARDIOLENS_PSEUDONYM_KEY": NEW_KEY}
    proc = subprocess.run([CLI, "predict", "--model", "bundle", "--input", str(spec), "--out", "out", "--cores", "2"],
                          cwd=fresh, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = fresh / "out" / "results" / "predict" / "septal_flash"
    new = _by_pixels(fresh / "out", pd.read_parquet(out / "predictions.parquet"))
    dag = pd.read_parquet(trained / "results/train/septal_flash/predictions.parquet")
    dag = _by_pixels(trained, dag[(dag["role"] == "test") & (dag["fold"] == 0)])
    assert list(new.index) == list(dag.index) and len(new) > 0 and new["y_true"].isna().all()
    cols = [c for c in dag.columns if c.startswith("p_")]
    assert (new[cols] - dag[cols]).abs().to_numpy().max() <= 1e-6 and list(new["y_pred"]) == list(dag["y_pred"])
    attribution = pd.read_parquet(out / "attribution.parquet")
    assert len(attribution) and attribution["label"].isna().all() and attribution["correct"].isna().all()
    assert set(attribution["target_kind"]) == {"predicted"}
    log = (fresh / "out" / "results/logs/prepare_study/septal_flash.log").read_text(encoding="utf-8")
    assert "have no septal_flash label: scored, not judged" in log
    assert pd.read_parquet(out / "performance.parquet").empty   # nothing to judge: no metric, said on the terminal
    n_new = pd.read_parquet(out / "patient_predictions.parquet")["patient_key"].nunique()
    assert f"septal_flash: no patient with a label the bundle can be scored on, nothing scored ({n_new} unlabelled)" in proc.stdout


@pytest.mark.slow
def test_bundle_contents_and_manifest(trained, tmp_path):
    bundle = _bundle(trained)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert set(manifest["files"]) == set(FILES)
    assert all(sha256_file(bundle / f) == s for f, s in manifest["files"].items())
    assert verify_bundle(bundle) == sha256_file(bundle / "manifest.json")
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["names"] == ["flash", "none"] and cfg["prepare"]["representation"] == "mmode"
    assert cfg["prepare"]["modality"] == "US" and cfg["input"]["shape"] == [1, 32, 32]
    assert cfg["data"]["samples_sha256"] == sha256_file(trained / "results/prepare/septal_flash/samples.parquet")
    patients = set(pd.read_parquet(trained / "results/ingest/patients.parquet")["patient_key"])
    for f in FILES[1:]:
        if f.endswith(".npz"):
            continue
        text = (bundle / f).read_text()
        assert str(trained) not in text and "/tmp" not in text and not any(p in text for p in patients), f
    card = (bundle / "README.md").read_text()
    for heading in ("## What it predicts", "## Training data", "## Validation metrics", "## Intended use and limits"):
        assert heading in card
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    (copy / "metrics.json").write_text("{}")
    with pytest.raises(BundleError, match="metrics.json differs"):
        verify_bundle(copy)


def _fake_bundle(folder: Path, modality: str = "US", representation: str = "mmode") -> Path:
    """A bundle folder whose config is all the refusal checks read (they run before any weights load)."""
    folder.mkdir(parents=True)
    cfg = {"study": "septal_flash", "fold": 0, "seed": 7, "names": ["flash", "none"],
           "prepare": {"label": "septal_flash", "modality": modality, "representation": representation}}
    (folder / "config.json").write_text(json.dumps(cfg))
    for f in FILES[0], FILES[2], FILES[3], FILES[4]:
        (folder / f).write_text("x")
    write_manifest(folder)
    return folder


def test_predict_refuses_another_modality(tmp_path):
    bundle = _fake_bundle(tmp_path / "bundle")
    acdc = tmp_path / "acdc"
    acdc.mkdir()
    spec = tmp_path / "in.yaml"
    spec.write_text(yaml.safe_dump({"inputs": [{"name": "mr", "adapter": "acdc", "path": str(acdc)}]}))
    proc = subprocess.run([CLI, "predict", "--model", str(bundle), "--input", str(spec), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(bundle) in lines[0] and "modality 'US'" in lines[0] and "'MR'" in lines[0]
    assert not (tmp_path / "o").exists()


def test_predict_refuses_another_representation(tmp_path):
    from cardiolens.predict.setup import check_inputs, read_inputs

    bundle = _fake_bundle(tmp_path / "bundle")
    (tmp_path / "dicom").mkdir()
    spec = tmp_path / "in.yaml"
    spec.write_text(yaml.safe_dump({"representation": "clip",
                                    "inputs": [{"name": "echo", "adapter": "dicom", "path": "dicom"}]}))
    entries, declared = read_inputs(spec)
    assert entries[0]["path"] == str(tmp_path / "dicom")
    cfg = json.loads((bundle / "config.json").read_text())
    with pytest.raises(BundleError, match=r"representation 'mmode', the input declares 'clip'"):
        check_inputs(str(bundle), cfg, entries, declared)


def test_predict_refuses_a_dicom_folder_of_another_modality(tmp_path):
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from cardiolens.predict.setup import check_inputs, read_inputs

    folder = tmp_path / "mr"
    folder.mkdir()
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality, ds.SOPInstanceUID = "MR", ds.file_meta.MediaStorageSOPInstanceUID
    ds.save_as(folder / "IM1", enforce_file_format=True)
    bundle = _fake_bundle(tmp_path / "bundle")
    entries, declared = read_inputs(folder)
    with pytest.raises(BundleError, match=r"modality 'US', input source 'new' has 'MR'"):
        check_inputs(str(bundle), json.loads((bundle / "config.json").read_text()), entries, declared)


def test_a_changed_bundle_is_refused(tmp_path):
    bundle = _fake_bundle(tmp_path / "bundle")
    (bundle / "weights.pt").write_text("y")
    with pytest.raises(BundleError, match="weights.pt differs"):
        verify_bundle(bundle)
    (bundle / "manifest.json").unlink()
    with pytest.raises(BundleError, match="not a cardiolens model bundle"):
        verify_bundle(bundle)


def test_a_predict_run_prepares_any_subset_of_the_bundles_classes():
    """Training needs every class; new recordings for a trained model may hold one class only."""
    from cardiolens.config import validate_config
    from cardiolens.prepare.run import study_slice
    from cardiolens.prepare.samples import study_problem

    raw = {"cohort": {"source": "inputs"}, "inputs": [{"name": "new", "adapter": "dicom", "path": "/x"}],
           "studies": {"septal_flash": {"classes": ["flash", "none"]}}}
    recordings = pd.DataFrame({"septal_flash": ["flash"]})
    samples = pd.DataFrame({"label": ["flash"]})
    skipped = pd.DataFrame(columns=["recording_id", "reason"])
    training = study_slice(validate_config(raw), "septal_flash")
    assert "inference" not in training
    assert "no sample of class(es) ['none']" in study_problem(recordings, samples, skipped, "septal_flash", training)
    predicting = study_slice(validate_config({**raw, "predict": {"bundle": "/b"}}), "septal_flash")
    assert predicting["inference"] is True
    assert study_problem(recordings, samples, skipped, "septal_flash", predicting) is None
    assert "receives no sample" in study_problem(recordings, samples.iloc[:0], skipped, "septal_flash", predicting)


def test_the_run_configuration_holds_the_bundles_study_alone(tmp_path):
    from cardiolens.config import validate_config
    from cardiolens.predict.setup import run_config

    cfg = {"study": "cardiomyopathy", "fold": 1, "seed": 3, "names": ["DCM", "HCM", "NOR"],
           "prepare": {"label": "cardiomyopathy", "modality": "MR", "representation": "frames",
                       "frames": {"pixel_mm": 2.0, "crop_px": 64}, "views": ["SAX"]},
           "train": {"network": "densenet", "dual_input": True, "epochs": 2}, "attribute": {"methods": ["gradcam"]}}
    entries = [{"name": "new", "adapter": "acdc", "path": str(tmp_path)}]
    config = validate_config(run_config(str(tmp_path / "b"), cfg, entries, "MY_KEY"))
    assert config["predict"]["bundle"] == str(tmp_path / "b") and config["cohort"]["source"] == "inputs"
    assert [s for s, v in config["studies"].items() if v["enabled"]] == ["cardiomyopathy"]
    study = config["studies"]["cardiomyopathy"]
    assert study["frames"]["crop_px"] == 64 and study["train"]["dual_input"] and study["views"] == ["SAX"]
    assert not study.get("classes")  # any label is scored, the outputs stay the bundle's
    assert config["privacy"]["key_env"] == "MY_KEY" and config["seed"] == 3


def test_metrics_of_a_fold_without_validation_patients_are_its_training_patients():
    """A fold without validation patients monitored its training patients (never its test
    patients): metrics.json says role 'train' with their counts, and the model card says what
    the metrics then mean."""
    from cardiolens.predict.bundle import fold_metrics

    history = pd.DataFrame({"epoch": [0, 0, 1, 1], "stage": ["val"] * 4, "metric": ["auroc", "loss"] * 2,
                            "value": [0.6, 0.9, 0.8, 0.7]})
    test_only = pd.DataFrame({"role": ["test", "test"], "patient_key": ["p1", "p2"]})
    m = fold_metrics(history, test_only, "val/auroc", train_n=(12, 5))
    assert (m["role"], m["best_epoch"], m["n_samples"], m["n_patients"]) == ("train", 1, 12, 5)
    assert m["metrics"] == {"val/auroc": 0.8, "val/loss": 0.7}
    with_val = pd.concat([test_only, pd.DataFrame({"role": ["val"] * 3, "patient_key": ["p3", "p3", "p4"]})])
    m = fold_metrics(history, with_val, "val/auroc", train_n=(12, 5))
    assert (m["role"], m["n_samples"], m["n_patients"]) == ("val", 3, 2)


def test_an_out_folder_of_another_run_or_bundle_is_refused(tmp_path):
    """--out must be new, empty, or this bundle's own predict run: a training run's folder and a
    predict run of another bundle would be overwritten, a file is no folder."""
    from cardiolens.predict.setup import MARKER, check_out

    check_out(tmp_path / "new", "a" * 64)                       # created later
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", "a" * 64)
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / ".DS_Store").write_text("x")
    check_out(tmp_path / "hidden", "a" * 64)                    # hidden files only: as empty
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    with pytest.raises(BundleError, match="holds files but is not a cardiolens predict run"):
        check_out(run, "a" * 64)
    (run / MARKER).write_text(json.dumps({"bundle_sha256": "a" * 64}))
    check_out(run, "a" * 64)                                    # its own bundle: continued
    check_out(run, "b" * 64)                                    # another bundle, but no prediction yet to replace
    (run / "results" / "predict").mkdir()
    with pytest.raises(BundleError, match=r"a predict run of another bundle \(aaaaaaaaaaaa\)"):
        check_out(run, "b" * 64)
    old = tmp_path / "old"                                      # a predict run from before the marker
    (old / "results" / "predict").mkdir(parents=True)
    (old / "config.yaml").write_text("# Written by `cardiolens predict`; rerun with\n"
                                     + yaml.safe_dump({"predict": {"bundle": str(tmp_path / "b1")}}))
    check_out(old, "a" * 64, str(tmp_path / "b1"))
    with pytest.raises(BundleError, match="a predict run of another bundle"):
        check_out(old, "a" * 64, str(tmp_path / "b2"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(BundleError, match="is a file"):
        check_out(tmp_path / "afile", "a" * 64)


@pytest.mark.parametrize(("text", "says"), [
    ("inputs: [\n  {name: a", "not a readable YAML file (line"),
    ("inputs: [{name: a, adapter: dicom}]", "inputs[0] needs name, adapter and path"),
    ("inputs: [{name: a, adapter: dicom, path: x, clinical: c.csv}]", "inputs[0].clinical needs a path"),
])
def test_a_malformed_input_file_is_one_line_naming_it(tmp_path, text, says):
    from cardiolens.predict.setup import read_inputs

    spec = tmp_path / "new.yaml"
    spec.write_text(text)
    with pytest.raises(BundleError, match=re.escape(says)):
        read_inputs(spec)


def test_scores_count_what_they_cannot_judge():
    """Five patients: three labelled with the bundle's classes (2 right), one unlabelled, one of a
    class the bundle never learnt; only the three are scored (accuracy 2/3, Wilson), the two are
    counted, and the headline says so."""
    from cardiolens.predict.scores import headline, score_predictions

    pat = pd.DataFrame({"patient_key": [f"P{i}" for i in range(5)], "fold": 0, "role": "test", "study": "s",
                        "y_true": ["flash", "none", "flash", None, "borderline"],
                        "y_pred": ["flash", "none", "none", "none", "flash"],
                        "p_flash": [0.9, 0.2, 0.4, 0.3, 0.8], "p_none": [0.1, 0.8, 0.6, 0.7, 0.2]})
    perf, conf, left = score_predictions({"patient": pat}, "s", 200, 0.95, 0)
    acc = perf[(perf["metric"] == "accuracy") & perf["class"].isna()].iloc[0]
    assert acc["value"] == pytest.approx(2 / 3) and acc["n_patients"] == 3 and acc["ci_method"].startswith("Wilson")
    assert left["patient"] == {"unlabelled": 1, "other_class": 1, "scored": 3, "scored_patients": 3}
    assert int(conf["count"].sum()) == 3 * 2   # per fold and summed
    line = headline(perf, left, "s")
    assert line.startswith("s: accuracy 0.667 [") and line.endswith("on 3 patients; not scored: 1 unlabelled, 1 other class patients")


def test_a_file_added_to_a_bundle_is_refused_but_a_hidden_one_is_not(tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    for name in FILES:
        (bundle / name).write_text(name)
    write_manifest(bundle)
    (bundle / ".DS_Store").write_text("x")
    verify_bundle(bundle)
    (bundle / "extra.bin").write_text("x")
    with pytest.raises(BundleError, match=r"\['extra.bin'\] not listed in manifest.json"):
        verify_bundle(bundle)
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="manifest.json is not readable JSON"):
        verify_bundle(bundle)


def test_scores_of_a_regression_bundle_give_each_targets_mae():
    """A regression bundle (regional image-quality grades): the headline gives the MAE of each
    target with its patient-bootstrap CI (six patients) and never fails on the per-target rows."""
    from cardiolens.predict.scores import headline, score_predictions

    rows = {"patient_key": [f"P{i}" for i in range(6)], "fold": 0, "role": "test", "study": "q",
            "true_a": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0], "pred_a": [1.5, 2.0, 2.0, 1.0, 2.5, 3.0],
            "true_b": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0], "pred_b": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]}
    perf, _, left = score_predictions({"patient": pd.DataFrame(rows)}, "q", 200, 0.95, 0)
    line = headline(perf, left, "q")
    # MAE of a: (0.5 + 0 + 1 + 0 + 0.5 + 0) / 6 = 0.333; of b: 0, every replicate 0, so no CI
    assert line.startswith("q: mae[a] 0.333 [") and "mae[b] 0.000 (no CI: degenerate bootstrap" in line
    assert line.endswith("on 6 patients")
