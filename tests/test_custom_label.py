"""A study nobody built in, written in configuration alone: its label is a clinical-CSV column.

The tiny synthetic cohort is exported as one DICOM source whose clinical table gains a column no
seed study uses (``Amyloidosis``: ``present`` for the septal-flash patients with a flash,
``absent`` for those without, ``suspected`` for the Takotsubo/STEMI patients, empty for the
cine-MR ones). A study ``amyloid`` names it; the run goes end to end (ingest -> report summary).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cardiolens.config import ConfigError, validate_config

STUDY = {"label": "amyloid", "classes": ["present", "absent"], "modality": "US", "representation": "mmode",
         "mmode": {"samples": [64, 64], "size": [32, 32], "augment_offsets": 1},
         "split": {"scheme": "kfold", "k": 2}, "train": {"epochs": 1}}
KEY = "amyloid-study-key-" + "k" * 16  # real inputs need 32 characters; the truth sidecars are keyed with it
SEEDS_OFF = {name: {"enabled": False} for name in ("septal_flash", "cardiomyopathy", "takotsubo_stemi", "regional_quality")}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """The tiny synthetic cohort, generated with :data:`KEY` (its truth sidecars' names are keyed)."""
    from cardiolens.synth.generate import generate
    from conftest import tiny_config

    outdir = tmp_path_factory.mktemp("amyloid_cohort") / "synthetic"
    config = tiny_config(outdir)
    generate(config["cohort"]["synthetic"], config["seed"], outdir, key=KEY.encode(), workers=2)
    return outdir


def _source(outdir: Path, root: Path) -> dict:
    """The tiny cohort as one DICOM source with an ``Amyloidosis`` column in its clinical table."""
    clinical = pd.read_csv(outdir / "clinical.csv", dtype=str, keep_default_na=False)
    value = clinical["septal_flash"].map({"flash": "present", "none": "absent"}).fillna("")
    value[clinical["takotsubo_stemi"] != ""] = "suspected"
    clinical["Amyloidosis"] = value
    shutil.copytree(outdir / "dicom", root / "dicom")
    clinical.to_csv(root / "clinical.csv", index=False)
    return {"name": "hospital", "adapter": "dicom", "path": str(root / "dicom"),
            "clinical": {"path": str(root / "clinical.csv"), "id_column": "PatientID", "columns": {"amyloid": "Amyloidosis"}},
            "options": {"truth_dir": str(outdir / "truth")}}


def test_a_label_no_source_maps_is_refused_naming_the_key_and_the_fix():
    with pytest.raises(ConfigError) as err:
        validate_config({"studies": {"amyloid": STUDY}})
    message = str(err.value)
    assert "studies.amyloid.label" in message and "'amyloid' is not a label of this run" in message
    assert "inputs[].clinical.columns: {amyloid: <CSV column>}" in message


def test_where_and_a_predefined_split_may_name_a_clinical_column():
    source = {"name": "hospital", "adapter": "dicom", "path": "/nonexistent",
              "clinical": {"path": "/nonexistent.csv", "columns": {"amyloid": "Amyloidosis", "centre_split": "Split"}}}
    study = {**STUDY, "where": {"amyloid": ["present", "absent"]}, "split": {"scheme": "predefined", "column": "centre_split"}}
    config = validate_config({"inputs": [source], "studies": {**SEEDS_OFF, "amyloid": study}})
    assert config["studies"]["amyloid"]["label"] == "amyloid"
    with pytest.raises(ConfigError, match="min/max need a numeric column"):
        validate_config({"inputs": [source], "studies": {**SEEDS_OFF, "amyloid": {**STUDY, "where": {"amyloid": {"min": 1}}}}})


def test_with_label_reads_the_clinical_labels_cell():
    from cardiolens.prepare.select import with_label

    rec = pd.DataFrame({"recording_id": ["R1", "R2", "R3"], "septal_flash": ["flash", None, None],
                        "clinical_labels": ['{"amyloid": "present"}', "{}", '{"amyloid": "absent", "nyha": "II"}']})
    assert with_label(rec, "amyloid")["amyloid"].tolist() == ["present", None, "absent"]
    assert with_label(rec, "nyha")["nyha"].tolist() == [None, None, "II"]
    assert with_label(rec, "septal_flash") is rec  # a column of its own wins


def test_check_config_finds_a_misspelt_class_of_a_clinical_label(cohort, tmp_path):
    from cardiolens.config_check import clinical_class_problems

    source = _source(cohort, tmp_path / "export")
    config = validate_config({"privacy": {"key": KEY}, "cohort": {"source": "inputs"}, "inputs": [source],
                              "studies": {**SEEDS_OFF, "amyloid": {**STUDY, "classes": ["present", "absnt"]}}})
    problems = clinical_class_problems(config)
    assert len(problems) == 1 and "studies.amyloid.classes" in problems[0] and "'absnt'" in problems[0]
    assert "['absent', 'present', 'suspected']" in problems[0]


@pytest.mark.slow
def test_a_new_study_from_a_clinical_column_runs_end_to_end(cohort, tmp_path):
    from cardiolens.tables.registry import RECORDINGS, SAMPLES
    from cardiolens.tables.parquet import read_table
    from tinyrun import snakemake

    source = _source(cohort, tmp_path / "export")
    clinical = pd.read_csv(source["clinical"]["path"], dtype=str, keep_default_na=False)
    expected = clinical["Amyloidosis"].value_counts().to_dict()
    assert expected["present"] >= 2 and expected["absent"] >= 2 and expected["suspected"] >= 1
    work = tmp_path / "run"
    work.mkdir()
    config = {"seed": 7, "privacy": {"key": KEY}, "cohort": {"source": "inputs"}, "inputs": [source],
              "studies": {**SEEDS_OFF, "amyloid": STUDY}, "stats": {"bootstrap": {"resamples": 200}, "comparisons": []}}
    (work / "amyloid.yaml").write_text(yaml.safe_dump(config))
    snakemake(work, "--configfile", "amyloid.yaml")

    results = work / "results"
    recordings = read_table(results / "ingest/recordings.parquet", RECORDINGS)
    cells = [json.loads(c) for c in recordings["clinical_labels"]]
    assert {c.get("amyloid") for c in cells} == {"present", "absent", "suspected", None}
    samples = read_table(results / "prepare/amyloid/samples.parquet", SAMPLES)
    assert set(samples["label"]) == {"present", "absent"}
    assert samples["patient_key"].nunique() == expected["present"] + expected["absent"]
    log = (results / "logs/prepare_study/amyloid.log").read_text(encoding="utf-8")
    assert "have a value of amyloid outside classes ['present', 'absent'], left out: 'suspected'" in log
    perf = pd.read_parquet(results / "stats/amyloid/performance.parquet")
    assert len(perf) and set(perf["study"]) == {"amyloid"}
    summary = pd.read_parquet(results / "summary.parquet")
    assert set(summary["study"]) == {"amyloid"}
