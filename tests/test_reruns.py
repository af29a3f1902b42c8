"""Partial reruns (issue 10, item 3): one more patient, and a run killed mid-way.

The statistics-, attribution- and motion-key reruns are in test_workflow.py; the rerun policy
they check is in docs/reruns-and-provenance.md ("Rerun policy").
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.uid import generate_uid

from tinyrun import ran_rules, snakemake

pytestmark = pytest.mark.slow


def _dry_rules(workdir: Path, *configs: str) -> list[str]:
    proc = snakemake(workdir, "--configfile", *configs, "-n")
    return [r for r in re.findall(r"^rule (\w+):", proc.stdout, flags=re.M) if r != "all"]


def _add_patient(dicom_root: Path, truth_dir: Path, clinical: Path, donor: str, new_id: str) -> int:
    """Copy patient folder ``donor`` as a new patient ``new_id``: new PatientID and UIDs, one pixel
    changed (so its content is new too), its ground-truth sidecars and clinical row copied.
    Returns the number of series (recordings) added."""
    from cardiolens.config import DEMO_KEY
    from cardiolens.ingest.truth import sidecar_stem

    key = DEMO_KEY.encode()  # the tiny run's key: sidecar stems are keyed

    files = sorted(p for p in (dicom_root / donor).rglob("*") if p.is_file())
    study, series = {}, {}
    for src in files:
        ds = pydicom.dcmread(src)
        old_series = ds.SeriesInstanceUID
        ds.PatientID = new_id
        ds.PatientName = "Added^Patient"
        ds.StudyInstanceUID = study.setdefault(ds.StudyInstanceUID, generate_uid(entropy_srcs=[new_id, ds.StudyInstanceUID]))
        ds.SeriesInstanceUID = series.setdefault(old_series, generate_uid(entropy_srcs=[new_id, old_series]))
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[new_id, ds.SOPInstanceUID])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        pixels = bytearray(ds.PixelData)
        pixels[len(pixels) // 2] ^= 0x01
        ds.PixelData = bytes(pixels)
        dst = dicom_root / new_id / src.relative_to(dicom_root / donor)
        dst.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(dst, enforce_file_format=True)
        for ext in (".json", ".npz"):
            old = truth_dir / f"{sidecar_stem(key, old_series)}{ext}"
            if old.exists():
                shutil.copy2(old, truth_dir / f"{sidecar_stem(key, ds.SeriesInstanceUID)}{ext}")
    table = pd.read_csv(clinical, dtype=str, keep_default_na=False)
    donor_id = pydicom.dcmread(files[0], stop_before_pixels=True).PatientID
    row = table[table["PatientID"] == donor_id].assign(PatientID=new_id)
    pd.concat([table, row]).to_csv(clinical, index=False)
    return len(series)


def test_adding_one_patient_reruns_its_ingestion_and_what_depends_on_it(tiny_run, tmp_path):
    """A new septal-flash patient in the cohort folder: the cohort is not regenerated; ingestion,
    and every study's chain after it, rerun. Why every study: each study's samples are selected
    from the one merged recordings table, and a study's split (stratified k-fold / holdout over
    all its patients) changes for every patient when one is added, so every model and everything
    computed from models is stale. docs/reruns-and-provenance.md ("Rerun policy") says the same."""
    work = tmp_path / "run"
    shutil.copytree(tiny_run, work, symlinks=True)
    assert _dry_rules(work, "tiny.yaml") == []
    synthetic = work / "resources/synthetic"
    donor = next(p.name for p in sorted((synthetic / "dicom").iterdir()) if p.is_dir() and "^" in p.name)  # a patient folder
    added = _add_patient(synthetic / "dicom", synthetic / "truth", synthetic / "clinical.csv", donor, "P99999")
    assert added >= 1
    rules = _dry_rules(work, "tiny.yaml")
    assert "synth_cohort" not in rules
    assert rules.count("ingest_source") == 1 and rules.count("ingest_merge") == 1
    studies = 5
    for rule in ("prepare_study", "split_study", "train_merge", "stats_study"):
        assert rules.count(rule) == studies, (rule, rules)
    assert rules.count("train_fold") == 1 + 3 + 1 + 1 + 1  # every fold of every study

    # The ingest job itself decodes only the new patient's recording(s); the rest come from its store.
    snakemake(work, "--configfile", "tiny.yaml", "--until", "ingest_merge")
    log = (work / "results/logs/ingest_source/synthetic.log").read_text()
    n_before = len(pd.read_parquet(tiny_run / "results/ingest/synthetic/recordings.parquet"))
    assert f"{n_before} recordings reused" in log and f"(inputs unchanged), {added} decoded" in log, log[-2000:]
    after = pd.read_parquet(work / "results/ingest/recordings.parquet")
    assert len(after) == n_before + added


def test_a_run_killed_mid_training_reruns_cleanly_to_the_same_tables(resumed_run):
    """SIGKILL to Snakemake and its job (power loss, OOM killer) while a model trains
    (`tinyrun.run_tiny_resumed`, the whole tiny configuration). What is left never looks complete;
    `--unlock` and a rerun (the profiles add --rerun-incomplete) finish the run without redoing what
    had finished, and the tables equal those of an uninterrupted run (the byte-for-byte comparison
    of every table is `test_workflow.test_same_config_and_seed_give_byte_identical_tables`)."""
    r = resumed_run
    # the killed fold wrote no table, and no temporary file (every writer uses a ".tmp" or
    # ".partial" name) was left looking like an output
    assert "predictions.parquet" not in r.killed_fold and "history.parquet" not in r.killed_fold, r.killed_fold
    assert r.leftovers == []
    assert any(f.startswith("split/septal_flash/") for f in r.finished)
    assert r.locked.returncode != 0 and "--unlock" in r.locked.stdout + r.locked.stderr
    rules = set(ran_rules(r.rerun)) - {"all"}
    assert "train_fold" in rules and not rules & {"synth_cohort", "ingest_source", "ingest_merge", "segment_fit"}, rules
    assert r.finished_after == r.finished  # every table finished before the kill is untouched
