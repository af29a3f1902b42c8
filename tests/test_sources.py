"""Sources as a user points at them: symbolic links, empty folders, studies their data cannot feed.

Each case ends in a result or in one message naming the source or study and the problem, never
in a Python traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cardiolens.hashing import list_files
from cardiolens.ingest.stage import ingest_source
from conftest import SHARED_DATA, TEST_KEY
from tinyrun import snakemake

CAMUS = SHARED_DATA / "camus"
needs_camus = pytest.mark.skipif(not CAMUS.is_dir(), reason=f"real data folder {CAMUS} is absent")
#: A key long enough for real data (the demo key is refused for it).
REAL_KEY = "a-test-key-of-more-than-thirty-two-characters"


def _symlinked_camus(root: Path) -> Path:
    """``root/export`` whose patient folders are symbolic links into ../shared/data/camus, plus a
    link back to ``export`` itself (a loop) and a dangling link."""
    export = root / "export"
    export.mkdir(parents=True)
    for pid in ("patient0001", "patient0002"):
        (export / pid).symlink_to(CAMUS / pid, target_is_directory=True)
    (export / "again").symlink_to(export, target_is_directory=True)
    (export / "gone.mhd").symlink_to(root / "nowhere.mhd")
    return export


@needs_camus
def test_symlinked_patient_folders_are_ingested_and_loops_rejected(tmp_path):
    export = _symlinked_camus(tmp_path)
    entries = list_files(export)
    # 2 patients x 19 files (2 cfg, 16 images, 1 citation note) + the loop link + the dangling link
    n_patient = len(list_files(CAMUS / "patient0001"))
    assert len(entries) == 2 * n_patient + 2
    source = {"name": "camus", "adapter": "camus", "path": str(export), "clinical": None, "options": {}}
    res = ingest_source(source, TEST_KEY, tmp_path / "out")
    assert len(res.recordings) == 4  # two views of each linked patient
    assert res.recordings["source_files"].map(len).sum() + len(res.rejected) == len(entries)
    errors = res.rejected[res.rejected["reason"] != "ancillary"]
    assert sorted(errors["reason"]) == ["unreadable", "unreadable"]
    assert any("loop" in m for m in errors["message"]) and any("broken symbolic link" in m for m in errors["message"])


def _config(tmp_path: Path, inputs: list[dict], studies: dict) -> Path:
    off = {name: {"enabled": False} for name in ("septal_flash", "cardiomyopathy", "takotsubo_stemi", "regional_quality")}
    cfg = {"privacy": {"key": REAL_KEY}, "cohort": {"source": "inputs"}, "inputs": inputs,
           "studies": {**off, **studies}, "stats": {"comparisons": []}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_an_empty_source_stops_the_run_before_any_job(tmp_path):
    empty = tmp_path / "empty_export"
    (empty / "PATIENT_FOLDER").mkdir(parents=True)  # folders, but not one file
    _config(tmp_path, [{"name": "hospital_a", "adapter": "dicom", "path": str(empty)}],
            {"septal_flash": {"enabled": True}})
    proc = snakemake(tmp_path, "--configfile", "config.yaml", check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "'hospital_a' yields no file" in out and str(empty) in out
    assert "Traceback" not in out and not (tmp_path / "results").exists()


@needs_camus
def test_a_study_without_samples_stops_at_its_first_rule_naming_study_label_and_values(tmp_path):
    export = _symlinked_camus(tmp_path)
    _config(tmp_path, [{"name": "camus", "adapter": "camus", "path": str(export)}],
            {"takotsubo_stemi": {"enabled": True}})
    proc = snakemake(tmp_path, "--configfile", "config.yaml", check=False, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    # ingest ran (the symlinked source is read), then the study's first rule stopped with one message
    assert (tmp_path / "results/ingest/recordings.parquet").is_file()
    assert "study 'takotsubo_stemi' receives no sample (label 'takotsubo_stemi', modality US, classes ['takotsubo', 'stemi'])" in out
    assert "values of 'takotsubo_stemi' in the recordings: missing 4" in out
    assert "Traceback" not in out
    assert not (tmp_path / "results/prepare/takotsubo_stemi/samples.parquet").exists()


def test_a_study_missing_a_class_is_refused_with_the_values_found():
    import pandas as pd

    from cardiolens.prepare.samples import study_problem

    recordings = pd.DataFrame({"septal_flash": ["none", "none", None], "modality": ["US"] * 3})
    samples = pd.DataFrame({"label": ["none", "none"]})
    skipped = pd.DataFrame(columns=["recording_id", "reason"])
    cfg = {"label": "septal_flash", "modality": "US", "classes": ["flash", "none"]}
    msg = study_problem(recordings, samples, skipped, "my_study", cfg)
    assert msg == ("study 'my_study' has no sample of class(es) ['flash'] (label 'septal_flash', modality US, "
                   "classes ['flash', 'none']); values of 'septal_flash' in the recordings: 'none' 2, missing 1")
    cfg.pop("classes")
    assert "one class only, ['none']" in study_problem(recordings, samples, skipped, "my_study", cfg)
    assert study_problem(recordings, pd.DataFrame({"label": ["none", "flash"]}), skipped, "my_study", cfg) is None
    # a measurement mapped as the label (weights of 12 patients, all different): refused, naming the fix
    weights = pd.DataFrame({"label": [f"{60 + 1.5 * i:.1f}" for i in range(12)], "patient_key": [f"P{i}" for i in range(12)]})
    msg = study_problem(recordings, weights, skipped, "lvmass", {"label": "lvmass"})
    assert msg.startswith("study 'lvmass': its label 'lvmass' has 12 different values among 12 patients")
    assert "'studies.lvmass.classes'" in msg and "60.0" not in msg
    # ten classes among 40 patients is a classification
    many = pd.DataFrame({"label": [f"c{i % 10}" for i in range(40)], "patient_key": [f"P{i}" for i in range(40)]})
    assert study_problem(recordings, many, skipped, "s", {"label": "lvmass"}) is None
    assert "no recording has a 'age_group' column" in study_problem(
        recordings, samples.iloc[:0], skipped, "s", {"label": "age_group"})
