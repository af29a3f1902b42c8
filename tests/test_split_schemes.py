"""Split schemes that take the test set as given: external (by source) and predefined (by column)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cardiolens.config import ConfigError, validate_config
from cardiolens.split.run import split_slice
from cardiolens.split.stage import disagreements, patient_table, patient_roles, run_split, split_patients

CFG = {"stratify_by": [], "age_bins": [50, 65], "val_fraction": 0.25}
SOURCE_B = {"name": "hospital_b", "adapter": "dicom", "path": "/nonexistent"}


def _cohort(n: int = 24) -> pd.DataFrame:
    return pd.DataFrame({"patient_key": [f"P{i:03d}" for i in range(n)], "label": ["a", "b"] * (n // 2),
                         "sex": ["F", "F", "M", "M"] * (n // 4), "age": [40.0 + i for i in range(n)],
                         "source": ["hospital_a"] * (n - 8) + ["hospital_b"] * 8, "predefined": None})


def test_external_tests_exactly_the_named_sources_and_stratifies_the_rest():
    patients = _cohort()
    splits = split_patients(patients, {**CFG, "scheme": "external", "test_sources": ["hospital_b"]}, seed=3)
    assert splits["patient_key"].is_unique and set(splits["fold"]) == {0}
    roles = splits.merge(patients, on="patient_key")
    assert set(roles.loc[roles["role"] == "test", "patient_key"]) == set(patients.loc[patients["source"] == "hospital_b", "patient_key"])
    rest = roles[roles["role"] != "test"]
    assert set(rest["source"]) == {"hospital_a"}
    for _, group in rest.groupby("label"):  # 8 patients per label: 2 to val (0.25), 6 to train
        assert group["role"].value_counts().to_dict() == {"train": 6, "val": 2}
    assert split_patients(patients, {**CFG, "scheme": "external", "test_sources": ["hospital_b"]}, seed=3).equals(splits)


def test_external_refuses_an_empty_test_or_training_set():
    patients = _cohort()
    with pytest.raises(ValueError, match=r"no patient of the study comes from test_sources \['hospital_c'\].*\['hospital_a', 'hospital_b'\]"):
        split_patients(patients, {**CFG, "scheme": "external", "test_sources": ["hospital_c"]}, 0)
    with pytest.raises(ValueError, match="none is left to train on"):
        split_patients(patients, {**CFG, "scheme": "external", "test_sources": ["hospital_a", "hospital_b"]}, 0)


def test_external_configuration_errors_name_the_key_and_the_sources():
    def problems(split: dict, **study) -> str:
        with pytest.raises(ConfigError) as err:
            validate_config({"inputs": [SOURCE_B], "studies": {"septal_flash": {"split": split, **study}}})
        return str(err.value)

    assert "'studies.septal_flash.split.test_sources': 'hospital_c' is not a source of this run; sources: ['synthetic', 'hospital_b']" \
        in problems({"scheme": "external", "test_sources": ["hospital_c"]})
    assert "scheme external needs the sources" in problems({"scheme": "external"})
    assert "test_sources are for scheme external" in problems({"scheme": "holdout", "test_sources": ["hospital_b"]})
    assert "the test set would be empty" in problems({"scheme": "external", "test_sources": ["hospital_b"]}, sources=["synthetic"])
    assert "no patient is left to train on" in problems({"scheme": "external", "test_sources": ["hospital_b"]}, sources=["hospital_b"])
    assert "did you mean 'quality'" in problems({"scheme": "predefined", "column": "qualty"})
    config = validate_config({"inputs": [SOURCE_B], "studies": {"septal_flash": {"split": {"scheme": "external", "test_sources": ["hospital_b"]}}}})
    assert split_slice(config, "septal_flash")["split"]["test_sources"] == ["hospital_b"]


def test_split_slices_of_existing_studies_keep_their_keys():
    config = validate_config({})
    for study in config["studies"]:
        assert set(split_slice(config, study)["split"]) == {"scheme", "k", "test_fraction", "val_fraction", "stratify_by", "age_bins", "anchor"}


# --- predefined from any recordings column ---------------------------------------------------


def _tables(roles: list[str | None]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    keys = ["A", "A", "B", "C", "D"]
    samples = pd.DataFrame({"patient_key": keys, "recording_id": [f"r{i}" for i in range(5)], "label": ["x", "x", "y", "x", "y"]})
    patients = pd.DataFrame({"patient_key": ["A", "B", "C", "D"], "sex": "F", "age": 50.0, "source": "s"})
    recordings = pd.DataFrame({"recording_id": [f"r{i}" for i in range(5)], "split": None, "cohort_role": roles})
    return samples, patients, recordings


def test_predefined_reads_roles_from_the_configured_column():
    samples, patients, recordings = _tables(["Training", "training", "VALIDATION", "test", "Valid"])
    table = patient_table(samples, patients, recordings, "cohort_role")
    splits = split_patients(table, {**CFG, "scheme": "predefined", "column": "cohort_role"}, 0)
    assert dict(zip(splits["patient_key"], splits["role"])) == {"A": "train", "B": "val", "C": "test", "D": "val"}
    assert patient_table(samples, patients, recordings)["predefined"].isna().all()  # the default column, split, is empty here
    with pytest.raises(ValueError, match=r"column 'cohort_role'.*\['holdout'\]"):
        split_patients(patient_table(samples, patients, recordings.assign(cohort_role=["train", "train", "val", "holdout", "val"]),
                                     "cohort_role"), {**CFG, "scheme": "predefined", "column": "cohort_role"}, 0)


def test_predefined_refuses_a_patient_whose_recordings_disagree():
    samples, patients, recordings = _tables(["train", "test", "val", "test", "val"])
    values = patient_roles(samples, recordings, "cohort_role")
    assert disagreements(values, "cohort_role") == ("predefined split (column 'cohort_role'): the recordings of 1 patient(s) "
                                                   "disagree on their role: A ['test', 'train']")
    with pytest.raises(ValueError, match=r"split of s1: .*A \['test', 'train'\]"):
        run_split("s1", samples, patients, recordings, {**CFG, "scheme": "predefined", "column": "cohort_role"}, 0)
    assert disagreements(patient_roles(*_tables(["train", "train", "val", "test", "val"])[::2], "cohort_role"), "cohort_role") is None


# --- external validation on the synthetic cohort exported as two sources ---------------------


def _patient_ids(folder: Path) -> str:
    import pydicom

    first = next(f for f in sorted(folder.rglob("*")) if f.is_file())
    return str(pydicom.dcmread(first, stop_before_pixels=True).PatientID)


def _two_sources(outdir: Path, root: Path) -> tuple[dict, dict]:
    """The tiny cohort's patient folders split into two DICOM roots (septal-flash patients
    alternately, the others to the first), each with its own clinical table."""
    clinical = pd.read_csv(outdir / "clinical.csv", dtype=str)
    flash = set(clinical.loc[clinical["septal_flash"].notna(), "PatientID"])
    folders = {_patient_ids(f): f for f in sorted((outdir / "dicom").iterdir()) if f.is_dir() and f.name != "EXPORT"}
    second = set(sorted(pid for pid in folders if pid in flash)[1::2])
    entries = []
    for name, ids in (("hospital_a", set(folders) - second), ("hospital_b", second)):
        for pid in ids:
            shutil.copytree(folders[pid], root / name / "dicom" / folders[pid].name)
        clinical[clinical["PatientID"].isin(ids)].to_csv(root / name / "clinical.csv", index=False)
        entries.append({"name": name, "adapter": "dicom", "path": str(root / name / "dicom"),
                        "clinical": {"path": str(root / name / "clinical.csv"), "id_column": "PatientID", "columns": {}},
                        "options": {"truth_dir": str(outdir / "truth")}})
    return entries[0], entries[1]


def test_external_validation_on_the_synthetic_cohort_as_two_sources(tiny_cohort, tmp_path):
    from cardiolens.config import sources
    from cardiolens.ingest.stage import ingest_source, merge_sources
    from cardiolens.prepare.run import study_slice
    from cardiolens.prepare.samples import prepare_study
    from conftest import TEST_KEY

    _, outdir = tiny_cohort
    a, b = _two_sources(outdir, tmp_path / "raw")
    config = validate_config({"seed": 7, "privacy": {"key": "k" * 32}, "cohort": {"source": "inputs"}, "inputs": [a, b],
                              "studies": {"septal_flash": {"mmode": {"samples": [64, 64], "size": [16, 16], "augment_offsets": 0},
                                                           "split": {"scheme": "external", "test_sources": ["hospital_b"],
                                                                     "val_fraction": 0.0}}}})
    results = [ingest_source(s, TEST_KEY, tmp_path / "ingest" / s["name"]) for s in sources(config)]
    recordings, patients, _ = merge_sources(*([getattr(r, t) for r in results] for t in ("recordings", "patients", "rejected")))
    samples, _ = prepare_study(recordings, "septal_flash", study_slice(config, "septal_flash"), tmp_path / "prepare")
    assert set(samples["source"]) == {"hospital_a", "hospital_b"}
    cslice = split_slice(config, "septal_flash")
    splits, leakage, balance, _ = run_split("septal_flash", samples, patients, recordings, cslice["split"], cslice["seed"])
    external = set(samples.loc[samples["source"] == "hospital_b", "patient_key"])
    assert set(splits.loc[splits["role"] == "test", "patient_key"]) == external
    assert splits["patient_key"].is_unique and set(splits["role"]) == {"train", "test"}  # one role per patient
    assert set(leakage["status"]) == {"pass"}
    test_rows = balance[balance["role"] == "test"]
    assert set(test_rows["variable"]) == {"label", "sex", "age"} and test_rows["n"].sum() > 0
    assert test_rows.loc[test_rows["variable"] == "label", "smd_vs_train"].notna().all()
