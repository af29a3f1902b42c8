"""End to end: `snakemake` on a tiny synthetic config, as a user runs it (slow: the run takes ~4 min on 2 cores)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pydicom
import pytest

from cardiolens.hashing import list_files
from cardiolens.tables import read_provenance, read_table
from cardiolens.tables.registry import PATIENTS, RECORDINGS, REJECTED
from conftest import REPO
from tinyrun import SNAKEMAKE, snakemake

pytestmark = pytest.mark.slow

PHI_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "ReferringPhysicianName",
            "AccessionNumber", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyDate")


@pytest.fixture(scope="module")
def run_dir(tiny_run) -> Path:
    return tiny_run


def test_run_leaves_valid_ingest_tables(run_dir):
    rec = read_table(run_dir / "results/ingest/recordings.parquet", RECORDINGS)
    pat = read_table(run_dir / "results/ingest/patients.parquet", PATIENTS)
    rej = read_table(run_dir / "results/ingest/rejected.parquet", REJECTED)
    found = list_files(run_dir / "resources/synthetic/dicom")
    assert rec["source_files"].map(len).sum() + len(rej) == len(found)
    assert len(rej) == 2 and set(rej["reason"]) == {"truncated", "not_dicom"}
    assert set(rec["modality"]) == {"US", "MR"} and len(pat) == 4 + 4 + 3
    for path in rec["image_path"]:
        assert (run_dir / path).exists()
    prov = read_provenance(run_dir / "results/ingest/synthetic/recordings.parquet")
    assert prov["rule"] == "ingest_source" and len(prov["inputs"]) == len(found) + 1 + 2 * len(rec)
    assert prov["config"]["slice"]["source"]["name"] == "synthetic" and prov["packages"]["torch"].startswith("2.13.0")


def test_prepare_writes_samples_for_every_study(run_dir):
    from cardiolens.tables.registry import SAMPLES

    rec = read_table(run_dir / "results/ingest/recordings.parquet", RECORDINGS)
    for study, label in (("septal_flash", "septal_flash"), ("cardiomyopathy", "cardiomyopathy"), ("takotsubo_stemi", "takotsubo_stemi")):
        samples = read_table(run_dir / f"results/prepare/{study}/samples.parquet", SAMPLES)
        assert set(samples["recording_id"]) == set(rec.loc[rec[label].notna(), "recording_id"])
        for path in set(samples["array_path"]) | set(samples["roi_path"]):
            assert (run_dir / path).exists()
        prov = read_provenance(run_dir / f"results/prepare/{study}/samples.parquet")
        assert prov["rule"] == "prepare_study" and prov["config"]["slice"]["study"] == study
    # study 4: every echo recording (their ground truth grades each region), six targets each
    quality = read_table(run_dir / "results/prepare/regional_quality/samples.parquet", SAMPLES)
    assert set(quality["recording_id"]) == set(rec.loc[rec["modality"] == "US", "recording_id"])
    assert quality["targets"].map(len).eq(6).all() and set(quality["label"]) <= {"Poor", "Medium", "Good"}


def test_split_is_by_patient_and_the_audit_passes(run_dir):
    from cardiolens.tables.registry import LEAKAGE, SAMPLES, SPLITS

    for study, k in (("septal_flash", 1), ("cardiomyopathy", 3), ("takotsubo_stemi", 1), ("regional_quality", 1)):
        splits = read_table(run_dir / f"results/split/{study}/splits.parquet", SPLITS)
        samples = read_table(run_dir / f"results/prepare/{study}/samples.parquet", SAMPLES)
        leakage = read_table(run_dir / f"results/split/{study}/leakage.parquet", LEAKAGE)
        assert splits["fold"].nunique() == k and set(splits["patient_key"]) == set(samples["patient_key"])
        assert not splits.duplicated(["patient_key", "fold"]).any()
        assert set(leakage["status"]) == {"pass"}
        assert set(leakage["check"]) == {"patient_key", "study_key", "pixel_content", "normalisation_from_train_only"}
        assert (run_dir / f"results/split/{study}/normalisation.npz").exists()


def test_no_phi_anywhere_under_results(run_dir):
    values: set[str] = set()
    for path in list_files(run_dir / "resources/synthetic/dicom"):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        for tag in PHI_TAGS:
            v = str(ds.get(tag, "")).strip()
            if v:
                values.add(v)
                values.update(p for p in re.split(r"\^", v) if len(p) >= 4)
    clinical = pd.read_csv(run_dir / "resources/synthetic/clinical.csv", dtype=str)
    values.update(clinical["PatientID"])
    assert len(values) > 20
    # Path components below the cohort's root: patient folders are named after the patient
    # (<FAMILY>^<GIVEN>_<BIRTHDATE>), as exports are. Components shorter than 6 characters
    # (ST1, SE5) are generic and left out; the name parts are among the PHI values above.
    root = run_dir / "resources/synthetic/dicom"
    parts = {part for f in list_files(root) for part in f.relative_to(root).parts}
    assert any("^" in p for p in parts)
    values.update(p for p in parts if len(p) >= 6)
    needles = [v.encode() for v in values]
    for path in list_files(run_dir / "results"):
        name = str(path.relative_to(run_dir))
        assert not [v for v in values if v in name], f"{name}: a file name holds a source path component"
        blobs = [path.read_bytes()]
        if path.suffix in (".svg", ".html"):
            # Embedded images are base64 text, where a 4-letter name turns up by chance ("Yuki" in a
            # gallery SVG); their pixels are checked by the burned-in-text test, the rest of the page here.
            blobs = [re.sub(rb"base64,[A-Za-z0-9+/=\s]+", b"base64,", blobs[0])]
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            blobs.append(str(table.to_pylist()).encode())
            blobs.append(str(table.schema.metadata).encode())
        for blob in blobs:
            hits = [n.decode() for n in needles if n in blob]
            assert not hits, f"{path.relative_to(run_dir)} contains PHI {hits[:3]}"
    assert "cardiolens-synthetic-demo-key" not in "".join(p.read_text(errors="ignore") for p in list_files(run_dir / "results"))


def test_no_burned_in_text_reaches_an_image_or_a_prepared_clip(run_dir):
    """Issue 22: the synthetic echo files carry the patient's name, ID, birth date and institution
    as bright text in a band above their ultrasound region; ingest keeps the region only, so no
    canonical image, and nothing prepared from one, holds a pixel of the band."""
    import itk
    import numpy as np

    from cardiolens.tables.registry import SAMPLES

    rec = read_table(run_dir / "results/ingest/recordings.parquet", RECORDINGS)
    us = rec[rec["modality"] == "US"]
    assert len(us) and set(us["pixels_kept"]) == {"us_regions"} and us["burned_in_annotation"].all()
    from cardiolens.ingest.private import read_paths

    real = dict(zip(*read_paths(run_dir / "private", "synthetic")[["path_key", "path"]].T.values))  # data owner's mapping
    fov_mm = {}
    for row in us.itertuples():
        ds = pydicom.dcmread(run_dir / "resources/synthetic/dicom" / real[row.source_files[0]])
        px = ds.pixel_array
        r = ds.SequenceOfUltrasoundRegions[0]
        y0, y1, x0, x1 = r.RegionLocationMinY0, r.RegionLocationMaxY1, r.RegionLocationMinX0, r.RegionLocationMaxX1
        assert y0 > 0 and (px[:, :y0] == 255).sum() > 200  # the text band: bright glyph pixels above the region
        img = itk.array_from_image(itk.imread(str(run_dir / row.image_path)))
        assert np.array_equal(img, px[:, y0:y1 + 1, x0:x1 + 1])  # the region, pixel for pixel; the band left out
        assert list(row.source_crop_px) == [y0, y1, x0, x1] and row.pixels_blanked == y0 * px.shape[2]
        fov_mm[row.recording_id] = (img.shape[1] * row.spacing_y_mm, img.shape[2] * row.spacing_x_mm)
    samples = read_table(run_dir / "results/prepare/takotsubo_stemi/samples.parquet", SAMPLES)
    assert len(samples)
    for s in samples.itertuples():
        # A clip resamples the whole field of view of its canonical image: rows x spacing is the
        # region's depth (e.g. 96 x 1.4 = 134.4 mm), not the file's (96 + 38 band rows) x 1.4.
        assert s.shape[-2] * s.spacing[-2] == pytest.approx(fov_mm[s.recording_id][0], rel=1e-6)
        assert s.shape[-1] * s.spacing[-1] == pytest.approx(fov_mm[s.recording_id][1], rel=1e-6)
        clip = np.load(run_dir / s.array_path, mmap_mode="r")[s.array_index].astype(np.float32)
        # Top quarter, right fifth: outside the 75-degree sector (from the apex at mid-width, its
        # right edge reaches the fifth's first column, 31 % of the width away, only at
        # 0.31 / tan(37.5 deg) = 41 % of the depth) and away from the top-left marker: where the
        # band's text would be, were it kept; black in every frame.
        h, w = clip.shape[-2:]
        assert (clip[..., : h // 4, w - w // 5:] == 0).all()


def test_the_terminal_leads_with_progress_and_results_not_library_noise(run_dir):
    """Issue 20: at most 150 lines, no warning or deprecation line, no line twice, the summary at the end."""
    lines = [ln for ln in (run_dir / "terminal.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert len(lines) <= 150, f"{len(lines)} lines"
    # One warning the user must act on, and true of the tiny configuration: 3 cine-MR patients in 3
    # folds, so every fold's training role lacks the class of its test patient.
    lacking = [ln for ln in lines if ln.startswith("WARNING: split of cardiomyopathy: the training role lacks a "
                                                   "class in 3 of 3 folds")]
    assert len(lacking) == 1
    noisy = [ln for ln in lines if re.search(r"warning|deprecat", ln, re.IGNORECASE) and ln not in lacking]
    assert noisy == [], noisy[:5]
    repeated = sorted({ln for ln in lines if lines.count(ln) > 1})
    assert repeated == [], repeated[:5]
    # one progress line per job (the plan line names the job count), then the summary's table
    total = int(re.search(r"^(\d+) jobs: ", "\n".join(lines), re.MULTILINE).group(1))
    progress = [ln for ln in lines if re.match(r"^\d\d:\d\d:\d\d +\d+/\d+ ", ln)]
    assert len(progress) == total
    text = "\n".join(lines)
    assert "cardiolens results (results/summary.parquet" in text
    assert re.search(r"^septal_flash +image +patient +\d+p +accuracy \d\.\d{3}", text, re.MULTILINE), text[-3000:]
    assert re.search(r"^cardiomyopathy +indices +patient +\d+p +accuracy \d\.\d{3}", text, re.MULTILINE), text[-3000:]


def test_training_logs_one_line_per_epoch(run_dir):
    log = (run_dir / "results/logs/train_fold/septal_flash_b/fold0.log").read_text(encoding="utf-8")
    epochs = re.findall(r"epoch (\d+)/(\d+): train/loss [0-9.]+  val/loss [0-9.]+  val/acc [0-9.]+  val/auroc [0-9.]+", log)
    assert epochs == [("1", "2"), ("2", "2")], log[-2000:]


def test_summary_table_and_command(run_dir):
    from cardiolens.summary import read_summary

    summary = read_summary(run_dir / "results")
    assert set(summary["study"]) == {"septal_flash", "septal_flash_b", "cardiomyopathy", "takotsubo_stemi", "regional_quality"}
    sf = summary[(summary["study"] == "septal_flash") & (summary["level"] == "patient")].iloc[0]
    assert sf["model"] == "image"
    # the tiny config turns the indices on for cardiomyopathy only: its classifier and the soft vote get a row each
    assert summary.loc[summary["model"] != "image", ["study", "model", "level"]].values.tolist() == [
        ["cardiomyopathy", "indices", "patient"], ["cardiomyopathy", "combined", "patient"]]
    indices = summary[summary["model"] == "indices"]
    ind_perf = pd.read_parquet(run_dir / "results/stats/cardiomyopathy/indices/performance.parquet")
    ind_acc = ind_perf[(ind_perf["level"] == "patient") & (ind_perf["role"] == "test") & (ind_perf["scope"] == "pooled")
                       & (ind_perf["metric"] == "accuracy") & ind_perf["class"].isna()]
    assert indices.iloc[0]["value"] == ind_acc["value"].iloc[0] and indices.iloc[0]["n_scored"] == ind_acc["n_patients"].iloc[0]
    perf = pd.read_parquet(run_dir / "results/stats/septal_flash/performance.parquet")
    row = perf[(perf["level"] == "patient") & (perf["role"] == "test") & (perf["metric"] == "accuracy") & perf["class"].isna()]
    assert (sf["value"], sf["ci_low"], sf["ci_high"]) == tuple(row[["value", "ci_low", "ci_high"]].iloc[0])
    assert sf["attribution_method"] == "gradcampp" and sf["sanity_passed"] in (True, False)  # the gallery method
    assert summary.loc[summary["study"] == "septal_flash_b", "attribution_method"].isna().all()
    cli = str(Path(sys.executable).with_name("cardiolens"))
    out = subprocess.run([cli, "summary", str(run_dir / "results")], capture_output=True, text=True, check=True).stdout
    for study, model in zip(summary["study"], summary["model"]):  # every headline, with its CI where the bootstrap gives one
        assert re.search(rf"^{study} +{model} +patient +\d+p +(accuracy \d\.\d{{3}} \[\d\.\d{{3}}, \d\.\d{{3}}\]|mae \d+\.\d{{3}})",
                         out, re.MULTILINE), out


def test_rerun_with_nothing_changed_runs_no_job(run_dir):
    proc = snakemake(run_dir, "--configfile", "tiny.yaml", "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def describe_difference(a: Path, b: Path, tables: list[Path]) -> list[str]:
    """One line per differing table (its differing columns, rows and largest difference), then the
    trained weights that differ in the folds of the studies concerned: what a failure of the
    reproducibility test needs to be traced without the two working folders."""
    import torch

    lines = []
    for rel in tables:
        ta, tb = pd.read_parquet(a / rel), pd.read_parquet(b / rel)
        if ta.shape != tb.shape or list(ta.columns) != list(tb.columns):
            lines.append(f"{rel}: shape {ta.shape} vs {tb.shape}")
            continue
        cols = []
        for c in ta.columns:
            x, y = ta[c], tb[c]
            same = (x.astype(str) == y.astype(str)).to_numpy()
            if not same.all():
                num = pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y)
                worst = f", max |diff| {float((x - y).abs().max()):.3g}" if num else ""
                cols.append(f"{c} ({int((~same).sum())} of {len(x)} rows{worst})")
        lines.append(f"{rel}: " + (", ".join(cols) or "same values, different bytes"))
    studies = sorted({rel.parts[2] for rel in tables if len(rel.parts) > 3 and rel.parts[1] == "train"})
    for study in studies:
        for ckpt in sorted((a / "results/train" / study).glob("fold*/checkpoints/last.ckpt")):
            wa = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
            wb = torch.load(b / ckpt.relative_to(a), map_location="cpu", weights_only=False)["state_dict"]
            diff = [f"{k} ({int((wa[k] != wb[k]).sum())} of {wa[k].numel()})" for k in wa if not torch.equal(wa[k], wb[k])]
            lines.append(f"{ckpt.relative_to(a)}: weights differ in {', '.join(diff) or 'no tensor'}")
    return lines


def test_same_config_and_seed_give_byte_identical_tables(run_dir, resumed_run):
    """The second run is the session's killed-and-resumed run of the same configuration
    (`tinyrun.run_tiny_resumed`; test_reruns checks the kill itself): a run that was interrupted and
    finished later must still equal an uninterrupted run byte for byte, which a clean second run
    also would, so one second run serves both tests."""
    other = resumed_run.workdir
    tables = sorted(p.relative_to(run_dir) for p in (run_dir / "results").rglob("*.parquet"))
    # 3 ingest, 3 per-source, 5 samples, 5 x (splits, leakage, balance), 5 x 3 merged train tables, 7 folds x 2,
    # 4 x 3 merged attribute tables (attribution, sanity, summary), 6 folds x 2; stats: 5 x 4, 4 x 2 attribution,
    # 2 image quality, 1 comparisons; motion: 1 measure + 2 stats (Takotsubo/STEMI); the results summary;
    # indices (cardiomyopathy): 1 measure, 3 train, 4 stats (with the soft vote's performance);
    # segment: 2 models x (metrics, summary, history, folds), recordings, qc
    assert len(tables) == 3 + 3 + 5 + 15 + 15 + 14 + 12 + 12 + 20 + 8 + 2 + 1 + 3 + 1 + 8 + 10
    differing = [rel for rel in tables if (run_dir / rel).read_bytes() != (other / rel).read_bytes()]
    assert not differing, "tables that differ between two runs:\n" + "\n".join(describe_difference(run_dir, other, differing))
    images = sorted(p.relative_to(run_dir) for p in (run_dir / "results/ingest/synthetic/data").rglob("*.mha"))
    assert images and all((run_dir / p).read_bytes() == (other / p).read_bytes() for p in images)
    shards = sorted(p.relative_to(run_dir) for p in (run_dir / "results/prepare").rglob("*.npy"))
    assert shards and all((run_dir / p).read_bytes() == (other / p).read_bytes() for p in shards)
    maps = sorted(p.relative_to(run_dir) for p in (run_dir / "results/attribute").rglob("*.npy"))
    assert len(maps) == 12 and all((run_dir / p).read_bytes() == (other / p).read_bytes() for p in maps)
    # `cardiolens diff` compares the same files (and truth JSON, normalisation) in one call
    from cardiolens.rundiff import diff_runs

    assert diff_runs(run_dir / "results", other / "results") == []


def test_attribution_covers_every_test_sample_method_and_target(run_dir):
    import numpy as np

    from cardiolens.tables.registry import ATTRIBUTION, ATTRIBUTION_SUMMARY, SAMPLES, SANITY, SPLITS

    for study, methods, targets in [("septal_flash", 4, 1), ("cardiomyopathy", 4, 1), ("takotsubo_stemi", 4, 1),
                                    ("regional_quality", 1, 6)]:
        table = read_table(run_dir / f"results/attribute/{study}/attribution.parquet", ATTRIBUTION)
        samples = read_table(run_dir / f"results/prepare/{study}/samples.parquet", SAMPLES)
        splits = read_table(run_dir / f"results/split/{study}/splits.parquet", SPLITS)
        test = samples[samples["variant"] != "cropped"].merge(splits[splits["role"] == "test"], on="patient_key")
        assert len(table) == len(test) * methods * targets, study
        assert set(zip(table["sample_id"], table["fold"])) == set(zip(test["sample_id"], test["fold"]))
        for path, g in table.groupby("map_path"):
            maps = np.load(run_dir / path)  # paths are relative to the working directory
            assert maps.dtype == np.float16 and len(maps) == len(g) and sorted(g["map_index"]) == list(range(len(g)))
            assert float(maps.max()) <= 1.0 and float(maps.min()) >= 0.0
        sanity = read_table(run_dir / f"results/attribute/{study}/sanity.parquet", SANITY)
        assert len(sanity) and set(sanity["method"]) == set(table["method"])
        summary = read_table(run_dir / f"results/attribute/{study}/summary.parquet", ATTRIBUTION_SUMMARY)
        assert summary[summary["group"] == "all"]["n"].sum() == len(table)
        assert (run_dir / f"results/attribute/{study}/figures/gallery_gradcampp.png").stat().st_size > 1000
        prov = read_provenance(run_dir / f"results/attribute/{study}/fold0/attribution.parquet")
        assert prov["extra"]["checkpoint_weights_sha256"] == table["checkpoint_sha256"].iloc[0]
    clip = read_table(run_dir / "results/attribute/takotsubo_stemi/attribution.parquet", ATTRIBUTION)
    assert clip["temporal_profile"].map(len).eq(16).all() and clip["map_axes"].iloc[0].startswith("t_ms")
    dual = read_table(run_dir / "results/attribute/cardiomyopathy/attribution.parquet", ATTRIBUTION)
    assert dual["input_mass"].map(len).eq(2).all() and dual["layer"].iloc[0] == "ed.class_layers.relu,es.class_layers.relu"


def test_changing_an_attribution_key_reruns_only_attribution(run_dir):
    (run_dir / "attr.yaml").write_text("studies: {septal_flash: {attribute: {faithfulness_steps: 8}}}\n")
    proc = snakemake(run_dir, "--configfile", "tiny.yaml", "attr.yaml", "-n")
    jobs = re.findall(r"^rule (\w+):", proc.stdout, flags=re.M)
    # the bundle records the attribution settings `cardiolens predict` applies
    assert set(jobs) - {"all"} == {"attribute_fold", "attribute_merge", "bundle_fold", "stats_study", "stats_provenance",
                                   "summary"}, jobs
    assert proc.stdout.count("rule stats_study:") == 1  # septal_flash only


def test_changing_a_training_key_reruns_that_studys_model_and_what_depends_on_it(run_dir):
    """The rerun trains from scratch (`cardiolens.train.resume`; tests/test_train.py checks that
    the old checkpoint is not continued)."""
    (run_dir / "train.yaml").write_text("studies: {septal_flash: {train: {lr: 0.002}}}\n")
    proc = snakemake(run_dir, "--configfile", "tiny.yaml", "train.yaml", "-n")
    jobs = re.findall(r"^rule (\w+):", proc.stdout, flags=re.M)
    assert set(jobs) - {"all"} == {"train_fold", "train_merge", "bundle_fold", "attribute_fold", "attribute_merge",
                                   "stats_study", "stats_comparisons", "stats_provenance", "summary"}, jobs
    assert proc.stdout.count("rule train_fold:") == 1 and proc.stdout.count("rule stats_study:") == 1  # septal_flash only


def test_changing_a_statistics_key_reruns_only_statistics(run_dir):
    (run_dir / "stats.yaml").write_text("stats: {bootstrap: {confidence: 0.9}}\n")
    proc = snakemake(run_dir, "--configfile", "tiny.yaml", "stats.yaml", "-n")
    jobs = re.findall(r"^rule (\w+):", proc.stdout, flags=re.M)
    # the confidence level also sets the comparisons' DeLong interval
    assert set(jobs) - {"all"} == {"stats_study", "stats_comparisons", "stats_indices", "stats_provenance", "summary"}, jobs
    assert proc.stdout.count("rule stats_study:") == 5


def test_stats_tables_for_every_study_and_the_comparison(run_dir):
    from cardiolens.tables.registry import COHORT, COMPARISONS, CONFUSION, PERFORMANCE, QUALITY, QUALITY_CORRELATION, SUBGROUPS

    for study in ("septal_flash", "cardiomyopathy", "takotsubo_stemi", "regional_quality", "septal_flash_b"):
        d = run_dir / "results/stats" / study
        perf = read_table(d / "performance.parquet", PERFORMANCE)
        preds = pd.read_parquet(run_dir / f"results/train/{study}/predictions.parquet")
        test = preds[preds["role"] == "test"]
        assert set(perf["level"]) == {"sample", "patient"} and set(perf["role"]) == {"test"}
        fold_rows = perf[(perf["scope"] == "fold") & (perf["level"] == "sample")]
        assert fold_rows.groupby("fold")["n_samples"].first().sum() == len(test)
        ok = perf.dropna(subset=["value", "ci_low", "ci_high"])
        assert ((ok["ci_low"] <= ok["value"] + 1e-9) & (ok["value"] <= ok["ci_high"] + 1e-9)).all(), study
        cohort = read_table(d / "cohort.parquet", COHORT)
        samples = pd.read_parquet(run_dir / f"results/prepare/{study}/samples.parquet")  # Table 1: every patient of the study
        assert cohort[(cohort["variable"] == "n") & (cohort["group"] == "all")]["n"].item() == samples["patient_key"].nunique()
        read_table(d / "subgroups.parquet", SUBGROUPS)
        conf = read_table(d / "confusion.parquet", CONFUSION)
        if "y_true" in preds:
            summed = conf[conf["fold"].isna() & (conf["level"] == "sample")]
            assert summed["count"].sum() == len(test)
            assert summed[summed["true"] == summed["pred"]]["count"].sum() == (test["y_true"] == test["y_pred"]).sum()
            for fig in ("roc_sample", "confusion_patient", "subgroups"):
                for ext in ("png", "svg"):
                    assert (d / "figures" / f"{fig}.{ext}").stat().st_size > 1000, (study, fig, ext)
        assert (d / "tables.html").read_text().count("<table") >= 2
    q = read_table(run_dir / "results/stats/regional_quality/quality.parquet", QUALITY)
    assert len(q) and q["grade"].notna().all() and q["gcnr"].between(0, 1).all()
    qc = read_table(run_dir / "results/stats/regional_quality/quality_correlation.parquet", QUALITY_CORRELATION)
    assert set(qc["metric"]) == {"cr_db", "cnr", "gcnr"}
    comp = read_table(run_dir / "results/stats/comparisons.parquet", COMPARISONS)
    assert sorted(comp["test"]) == ["delong", "mcnemar"]
    # paired per patient (the unit); n_samples counts septal_flash's test M-modes behind those patients
    n_test = (pd.read_parquet(run_dir / "results/train/septal_flash/predictions.parquet")["role"] == "test").sum()
    n_test_patients = (pd.read_parquet(run_dir / "results/train/septal_flash/patient_predictions.parquet")["role"] == "test").sum()
    assert (comp["level"] == "patient").all() and (comp["unit"] == "patient").all()
    assert (comp["n_pairs"] == n_test_patients).all() and (comp["n_units"] == n_test_patients).all()
    assert (comp["n_samples"] == n_test).all() and comp.loc[comp["test"] == "mcnemar", "p_value"].between(0, 1).all()
    # DeLong needs two patients of each class; the tiny run's septal_flash test set has one of each
    # (2 patients), where the row has no p-value and ci_method says why
    delong = comp[comp["test"] == "delong"]
    assert (delong["p_value"].between(0, 1) | delong["ci_method"].str.startswith("none: fewer than two")).all()
    for name in ("performance", "subgroups"):  # every CI says how it was obtained, or why there is none
        assert read_table(run_dir / "results/stats/septal_flash" / f"{name}.parquet",
                          PERFORMANCE if name == "performance" else SUBGROUPS)["ci_method"].str.len().gt(0).all()


def test_indices_tables_one_row_per_patient_and_the_classifier_paired_with_the_image_model(run_dir):
    from cardiolens.tables.registry import (COMPARISONS, INDICES, INDICES_DIAGNOSES, INDICES_EXPLANATIONS, PERFORMANCE,
                                            SPLITS)

    indices = read_table(run_dir / "results/measure/cardiomyopathy/indices.parquet", INDICES)
    splits = read_table(run_dir / "results/split/cardiomyopathy/splits.parquet", SPLITS)
    assert set(indices["patient_key"]) == set(splits["patient_key"]) and (indices["mask_source"] == "expert").all()
    d = run_dir / "results/train/cardiomyopathy/indices"
    image = pd.read_parquet(run_dir / "results/train/cardiomyopathy/patient_predictions.parquet")
    preds = pd.read_parquet(d / "patient_predictions.parquet")
    assert list(preds.columns) == list(image.columns)  # the image model's format: the stats code scores both
    assert set(zip(preds["patient_key"], preds["fold"], preds["role"])) == set(zip(image["patient_key"], image["fold"], image["role"]))
    expl = read_table(d / "explanations.parquet", INDICES_EXPLANATIONS)
    diag = read_table(d / "diagnoses.parquet", INDICES_DIAGNOSES)
    assert len(diag) == len(preds) and diag["explanation"].str.match(r"^(NOR|HCM|DCM) \(p \d\.\d\d\): ").all()
    assert set(expl["feature"]) and expl.groupby(["patient_key", "fold", "target_kind"])["rank"].min().eq(1).all()
    s = run_dir / "results/stats/cardiomyopathy/indices"
    perf = read_table(s / "performance.parquet", PERFORMANCE)
    assert set(perf["level"]) == {"patient"} and "accuracy" in set(perf["metric"])
    comp = read_table(s / "comparison.parquet", COMPARISONS)
    mcnemar = comp[comp["test"] == "mcnemar"]
    assert sorted(mcnemar["comparison"]) == ["cardiomyopathy_image_vs_combined", "cardiomyopathy_image_vs_indices",
                                             "cardiomyopathy_indices_vs_combined"]
    assert (mcnemar["n_units"] == (image["role"] == "test").sum()).all()
    combined = read_table(s / "combined_performance.parquet", PERFORMANCE)
    assert set(combined["level"]) == {"patient"} and "accuracy" in set(combined["metric"])


def test_motion_tables_account_for_every_recording_and_join_the_saliency(run_dir):
    from cardiolens.measure.wall import SEGMENTS
    from cardiolens.tables.registry import MOTION, MOTION_GROUPS, MOTION_PATIENTS

    path = run_dir / "results/measure/takotsubo_stemi/motion.parquet"
    motion = read_table(path, MOTION)
    rec = pd.read_parquet(run_dir / "results/ingest/recordings.parquet")
    study = rec[rec["takotsubo_stemi"].notna()]
    skipped = json.loads(pq.read_schema(path).metadata[b"cardiolens.provenance"])["extra"]["skipped"]
    # Every recording of the study is measured or listed as skipped with a reason.
    assert motion["recording_id"].nunique() + len(skipped) == len(study) and motion["recording_id"].nunique() >= 1
    assert all(sorted(v) == sorted(SEGMENTS) for v in motion.groupby("recording_id")["segment"].apply(list))
    assert (motion["window"] == "r_peak_to_r_peak").all()
    basal = motion[motion["level"] == "basal"]
    assert (basal["peak_systolic_mm"] > 2.0).all()   # the generator moves the AV plane 5-14 mm
    per = read_table(run_dir / "results/stats/takotsubo_stemi/motion_patients.parquet", MOTION_PATIENTS)
    assert set(per["patient_key"]) == set(motion["patient_key"])
    attr = pd.read_parquet(run_dir / "results/attribute/takotsubo_stemi/attribution.parquet")
    tested = set(attr["patient_key"]) & set(per["patient_key"])
    joined = per[per["patient_key"].isin(tested)]
    assert len(tested) and (joined["n_attributed"] > 0).all() and joined["saliency_base"].between(0, 1).all()
    assert per.loc[~per["patient_key"].isin(tested), "saliency_base"].isna().all()
    groups = read_table(run_dir / "results/stats/takotsubo_stemi/motion_groups.parquet", MOTION_GROUPS)
    assert set(groups["segment"]) == set(SEGMENTS) and {"peak_systolic_mm", "peak_strain"} <= set(groups["measure"])
    for fig in ("motion_curves", "motion_peaks"):
        assert (run_dir / f"results/stats/takotsubo_stemi/motion_figures/{fig}.png").stat().st_size > 1000
    assert "Motion by class" in (run_dir / "results/stats/takotsubo_stemi/motion.html").read_text()


def test_changing_a_motion_key_reruns_only_the_motion_and_its_statistics(run_dir):
    (run_dir / "motion.yaml").write_text("studies: {takotsubo_stemi: {motion: {iterations: 10}}}\n")
    proc = snakemake(run_dir, "--configfile", "tiny.yaml", "motion.yaml", "-n")
    jobs = re.findall(r"^rule (\w+):", proc.stdout, flags=re.M)
    assert set(jobs) - {"all"} == {"measure_motion", "stats_motion", "stats_provenance"}, jobs


def _flip_byte(path: Path) -> bytes:
    data = path.read_bytes()
    k = len(data) // 2
    path.write_bytes(data[:k] + bytes([data[k] ^ 0x01]) + data[k + 1:])
    return data


def test_audit_is_clean_on_an_untouched_run_and_finds_one_flipped_byte_anywhere(run_dir, tmp_path):
    """`cardiolens audit` on a copy of the tiny run: clean; then one flipped byte, in turn, in a raw
    DICOM, in a checkpoint and in an intermediate table is found, named, and traced to the
    table whose provenance recorded it."""
    import shutil

    from cardiolens.audit import audit
    from cardiolens.cli import main as cli

    copy = tmp_path / "run"
    shutil.copytree(run_dir / "results", copy / "results")
    shutil.copytree(run_dir / "resources", copy / "resources")
    results = copy / "results"
    assert audit(results).empty
    assert cli(["audit", str(results)]) == 0
    record = json.loads(pq.read_schema(results / "ingest/synthetic/recordings.parquet").metadata[b"cardiolens.provenance"])
    # A raw DICOM is recorded by path key: the real path is in the private mapping.
    mapping = pd.read_csv(run_dir / "private/synthetic/paths.csv", dtype=str, keep_default_na=False)
    raw = mapping[mapping["root"] == "resources/synthetic/dicom"].iloc[0]
    raw_path, raw_entry = f"{raw['root']}/{raw['path']}", f"{raw['root']}/{raw['path_key']}"
    assert raw_entry in {i["path"] for i in record["inputs"]}
    targets = [
        (raw_path, "results/ingest/synthetic/recordings.parquet"),
        ("results/train/septal_flash/fold0/checkpoints/best.ckpt", "results/train/septal_flash/fold0/predictions.parquet"),
        ("results/prepare/septal_flash/samples.parquet", "results/split/septal_flash/splits.parquet"),
    ]
    for rel, recorded_by in targets:
        original = _flip_byte(copy / rel)
        found = audit(results, images=False)
        assert set(found["path"]) == {raw_entry if rel == raw_path else rel}, (rel, found.to_string())
        assert (found["kind"] == "changed").all() and recorded_by in found["referenced_by"].iloc[0].split(", "), found.to_string()
        assert cli(["audit", str(results), "--no-images"]) == 1
        (copy / rel).write_bytes(original)
    assert audit(results).empty


def test_audit_lineage_follows_one_recording_back_to_its_dicom(run_dir, capsys):
    from cardiolens.cli import main as cli

    motion = pd.read_parquet(run_dir / "results/measure/takotsubo_stemi/motion.parquet")
    rid = motion["recording_id"].iloc[0]
    assert cli(["audit", "--lineage", str(run_dir / "results/measure/takotsubo_stemi/motion.parquet"),
                "--where", f"recording_id={rid}"]) == 0
    out = capsys.readouterr().out
    rec = pd.read_parquet(run_dir / "results/ingest/recordings.parquet").set_index("recording_id").loc[rid]
    assert "results/ingest/recordings.parquet" in out and rec["source_sha256"] in out
    assert all(f"<- {f}" in out for f in rec["source_files"])


def test_report_opens_in_headless_chromium_with_every_figure(run_dir):
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian package chromium; .ci/run installs it)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    snakemake(run_dir, "--configfile", "tiny.yaml", "--report", "results/report.html")
    report = run_dir / "results/report.html"
    assert report.stat().st_size > 100_000
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        shown = 0
        page.goto(report.as_uri())  # the first page: the results summary, septal flash's patient accuracy and its CI
        page.wait_for_load_state("networkidle")
        front = page.inner_text("body")
        assert "Results summary" in front, front[:2000]
        assert re.search(r"septal_flash \(holdout, 1 fold\)\s+image\s+patient\s+\d+ patients\s+accuracy \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]",
                         front), front[:3000]

        def open_listing(category: str, study: str):
            page.goto(report.as_uri())
            page.wait_for_load_state("networkidle")
            page.get_by_text(category, exact=True).first.click()
            page.get_by_text(study, exact=True).first.click()
            return page.locator("tr", has_text=".png")

        for category, study in [("Study statistics", "septal_flash"), ("Study statistics", "cardiomyopathy"),
                                ("Attribution", "takotsubo_stemi")]:
            n = open_listing(category, study).count()
            assert n >= 2, (category, study)
            for i in range(n):
                row = open_listing(category, study).nth(i)
                name = row.inner_text().strip()
                row.locator("a").first.click()  # the eye: show the figure
                page.wait_for_function("Array.from(document.images).some(i => i.src.startsWith('data:image/png') && i.complete)")
                widths = page.evaluate("Array.from(document.images).filter(i => i.src.startsWith('data:image/png'))"
                                       ".map(i => i.naturalWidth)")
                assert widths and min(widths) > 100, name
                shown += 1
        browser.close()
    assert shown >= 6 and problems == [], problems


def test_invalid_config_stops_before_any_job(tmp_path):
    (tmp_path / "bad.yaml").write_text("cohort: {source: hospital}\n")
    proc = snakemake(tmp_path, "--configfile", "bad.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "cohort.source" in out and "['synthetic', 'inputs']" in out
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_missing_input_folder_stops_before_any_job(tmp_path):
    (tmp_path / "bad.yaml").write_text("inputs: [{name: site_a, adapter: dicom, path: /no/such/export}]\n")
    proc = snakemake(tmp_path, "--configfile", "bad.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "inputs[0].path" in out and "/no/such/export" in out and "does not exist" in out
    assert not (tmp_path / "results").exists()


def test_lint_is_clean_and_rules_are_snakefmt_formatted(run_dir):
    proc = snakemake(run_dir, "--configfile", "tiny.yaml", "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr
    snakefmt = str(Path(sys.executable).with_name("snakefmt"))
    fmt = subprocess.run([snakefmt, "--check", str(REPO / "Snakefile"), str(REPO / "workflow" / "rules")],
                         capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stderr


def test_cli_provenance_prints_the_record(run_dir):
    cli = str(Path(sys.executable).with_name("cardiolens"))
    proc = subprocess.run([cli, "provenance", str(run_dir / "results/ingest/recordings.parquet")],
                          capture_output=True, text=True, check=True)
    assert '"rule": "ingest_merge"' in proc.stdout and '"sha256"' in proc.stdout


def test_a_file_added_to_a_user_source_reruns_its_ingestion(tmp_path):
    from pydicom.data import get_testdata_file

    src = tmp_path / "export" / "case1"
    src.mkdir(parents=True)
    (src / "echo.dcm").write_bytes(Path(get_testdata_file("examples_ybr_color.dcm")).read_bytes())
    (tmp_path / "site.yaml").write_text(
        "cohort: {source: inputs}\n"
        "studies: {septal_flash: {enabled: false}, cardiomyopathy: {enabled: false}, takotsubo_stemi: {enabled: false},"
        " regional_quality: {enabled: false}}\n"
        f"inputs: [{{name: site_a, adapter: dicom, path: {tmp_path / 'export'}}}]\n"
    )
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--cores", "1", "--configfile", "site.yaml"]
    env = {**os.environ, "CARDIOLENS_PSEUDONYM_KEY": "a-secret-for-this-test-0123456789abcdef"}

    def run(*extra: str) -> str:
        proc = subprocess.run([*cmd, *extra], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    run()
    assert "Nothing to be done" in run("-n")
    (src / "notes.txt").write_text("added later")
    dry = run("-n")
    assert "ingest_source" in dry and "synth_cohort" not in dry
