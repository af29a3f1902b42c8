"""Write the synthetic cohort to disk: DICOM files, a clinical CSV, ground truth beside them.

Layout under ``outdir`` (patient folders named after the patient, as clinical exports often are)::

    dicom/<FAMILY>^<GIVEN>_<BIRTHDATE>/ST1/SE1/IM00001     multi-frame US (one file per echo recording)
    dicom/<FAMILY>^<GIVEN>_<BIRTHDATE>/ST1/SE5/IM00001..   single-frame MR (one file per slice and phase)
    clinical.csv                      PatientID, sex, age, height_cm, weight_kg, labels
    truth/T<digest>.json              events, landmarks, curves, quality, marker, true class
    truth/T<digest>.npz               masks and evidence maps, (T, H, W) or (P, S, H, W)
                                      (<digest>: cardiolens.ingest.truth.sidecar_stem of the SeriesInstanceUID,
                                      keyed with the key ingestion uses)
    manifest.json                     counts and the configuration used

PHI is in the DICOM headers, the patient folder names, the clinical CSV and, as on real consoles,
burned into the echo pixels (a text band above the imaging area, :mod:`cardiolens.synth.burn_in`;
the files say ``BurnedInAnnotation = YES`` and their ultrasound region covers only the rendered
frames) — never in truth/ — so the folder behaves like a hospital export plus an annotation set,
and a run on it checks that none of it reaches results/. The ground truth describes the rendered
frames, which is what ingest keeps (it crops to the region).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom

from cardiolens.ingest.truth import sidecar_stem
from cardiolens.synth.burn_in import header_band, header_lines
from cardiolens.synth.cmr_case import SLICE_THICKNESS_MM, build_cmr_case
from cardiolens.synth.cohort import PatientSpec, sample_patients
from cardiolens.synth.dicom_write import StudyInfo, det_uid, write_mr_slice, write_us_multiframe
from cardiolens.synth.echo_case import build_echo_case, jitter_probe, sample_anatomy
from cardiolens.synth.echo_render import Scanner
from cardiolens.synth.phi import PatientPHI, accession_number, make_phi

log = logging.getLogger(__name__)

POSITIVE = {"septal_flash": "flash", "takotsubo_stemi": "takotsubo", "cardiomyopathy": "HCM"}


def _save_truth(truth_dir: Path, key: bytes, series_uid: str, truth: dict[str, Any], masks: np.ndarray,
                evidence: np.ndarray) -> None:
    truth_dir.mkdir(parents=True, exist_ok=True)
    stem = sidecar_stem(key, series_uid)
    with open(truth_dir / f"{stem}.json", "w", encoding="utf-8") as fh:
        json.dump(truth, fh, indent=1, sort_keys=True)
    np.savez_compressed(truth_dir / f"{stem}.npz", masks=masks, evidence=evidence)


def patient_folders(phis: list[PatientPHI]) -> list[str]:
    """Folder name of each patient: ``<FAMILY>^<GIVEN>_<BIRTHDATE>`` as exports name them, with
    ``_<PatientID>`` added where two patients would share a folder (names repeat in large cohorts)."""
    names = [f"{phi.name}_{phi.birth_date}" for phi in phis]
    return [n if names.count(n) == 1 else f"{n}_{phi.patient_id}" for n, phi in zip(names, phis)]


def _patient_job(args: tuple[PatientSpec, dict[str, Any], int, str, bytes, str]) -> list[dict[str, Any]]:
    """Render and write every recording of one patient; return one summary row per recording."""
    spec, cfg, seed, outdir_s, key, folder_name = args
    outdir = Path(outdir_s)
    rng = np.random.default_rng([seed, spec.index, 2])
    phi = make_phi(rng, spec.index, spec.age)
    shortcut = cfg["shortcut"]
    rows = []
    folder = outdir / "dicom" / folder_name
    for r in range(spec.n_recordings):
        study_uid = det_uid(seed, spec.index, "study", r)
        series_uid = det_uid(seed, spec.index, "series", r)
        st = StudyInfo(phi, spec.sex, spec.age, study_uid, accession_number(rng),
                       phi.study_date + pd.Timedelta(days=30 * r).to_pytimedelta())
        marker = (shortcut["study"] == spec.study and spec.true_class == POSITIVE[spec.study]
                  and shortcut["fraction"] > 0 and rng.random() < shortcut["fraction"])
        if spec.modality == "echo":
            echo_cfg = cfg["echo"]
            if r == 0:
                sc = Scanner(echo_cfg["rows"], echo_cfg["cols"], echo_cfg["spacing_mm"], echo_cfg["sector_angle_deg"], 20.0)
                base_anat = sample_anatomy(np.random.default_rng([seed, spec.index, 3]), sc)
            anat = base_anat if r == 0 else jitter_probe(base_anat, rng)
            case = build_echo_case(rng, anat, spec.true_class, spec.study, echo_cfg, bool(marker))
            path = folder / f"ST{r + 1}" / "SE1" / "IM00001"
            write_us_multiframe(path, case.frames, echo_cfg["spacing_mm"], case.frame_time_ms, case.heart_rate_bpm,
                                case.r_wave_frames, st, series_uid, det_uid(seed, spec.index, "sop", r, 0), 1,
                                header=header_band(header_lines(phi), echo_cfg["cols"]))
            truth, masks, evidence, n_files = case.truth, case.masks, case.evidence, 1
        else:
            cmr_cfg = cfg["cmr"]
            case = build_cmr_case(rng, spec.true_class, cmr_cfg)
            images = case.images
            if marker:
                images = images.copy()
                images[:, :, 4:14, 4:8] = 4095
                images[:, :, 10:14, 4:14] = 4095
                case.truth["marker"] = {"present": True, "box_rows_cols": [4, 14, 4, 14]}
            n_p, n_s = images.shape[:2]
            frame_of_ref = det_uid(seed, spec.index, "for", r)
            order = rng.permutation(n_p * n_s)  # file names do not follow slice/phase order
            for p in range(n_p):
                for s in range(n_s):
                    k = p * n_s + s
                    write_mr_slice(
                        folder / f"ST{r + 1}" / "SE5" / f"IM{int(order[k]) + 1:05d}", images[p, s], cmr_cfg["spacing_mm"],
                        SLICE_THICKNESS_MM, case.positions[s], case.row_dir, case.col_dir, float(case.trigger_ms[p]),
                        case.heart_rate_bpm, st, series_uid, det_uid(seed, spec.index, "sop", r, k), int(order[k]) + 1,
                        frame_of_ref,
                    )
            truth, masks, evidence, n_files = case.truth, case.masks, case.evidence, n_p * n_s
        truth = {**truth, "patient_index": spec.index, "clinical_label": spec.clinical_label,
                 "label_flipped": spec.clinical_label != spec.true_class, "recording_index": r}
        _save_truth(outdir / "truth", key, series_uid, truth, masks, evidence)
        rows.append({"patient_index": spec.index, "series_uid": series_uid, "study": spec.study,
                     "true_class": spec.true_class, "n_files": n_files, "marker": bool(marker)})
    return rows


def _write_broken(outdir: Path, n: int) -> list[str]:
    """Broken files real exports contain: a truncated DICOM and a stray non-DICOM file."""
    written = []
    src = sorted((outdir / "dicom").rglob("IM00001"))
    for k in range(n):
        if k % 2 == 0 and src:
            ds = pydicom.dcmread(src[0])
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = det_uid("broken", k, "sop")
            ds.SeriesInstanceUID = det_uid("broken", k, "series")
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            data = buf.getvalue()
            path = outdir / "dicom" / "EXPORT" / f"IM{k + 1:05d}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[: len(data) // 2])  # header intact, pixel data cut
        else:
            path = outdir / "dicom" / f"README{k + 1}.TXT"
            path.write_text("Exported by PACS. Do not edit.\n", encoding="utf-8")
        written.append(str(path.relative_to(outdir / "dicom")))
    return written


def generate(cfg: dict[str, Any], seed: int, outdir: str | os.PathLike[str], *, key: bytes, workers: int = 1
             ) -> dict[str, Any]:
    """Generate the cohort described by ``cohort.synthetic`` (validated) into ``outdir``.

    ``key`` is the pseudonymisation key ingestion will use (:func:`cardiolens.config.pseudonym_key`):
    ground-truth sidecars are named by keyed hashes, so ingestion finds them only under that key.
    The folder is built under a temporary name and renamed when complete. Returns the manifest.
    """
    outdir = Path(outdir)
    tmp = outdir.with_name(outdir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    patients = sample_patients(cfg, seed)
    log.info("synthetic cohort: %d patients (seed %d), %d workers", len(patients), seed, workers)
    phis = [make_phi(np.random.default_rng([seed, p.index, 2]), p.index, p.age) for p in patients]
    jobs = [(p, cfg, seed, str(tmp), key, folder) for p, folder in zip(patients, patient_folders(phis))]
    rows: list[dict[str, Any]] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for k, res in enumerate(pool.map(_patient_job, jobs), 1):
                rows.extend(res)
                if k % 10 == 0 or k == len(jobs):
                    log.info("synthetic cohort: %d/%d patients written", k, len(jobs))
    else:
        for k, job in enumerate(jobs, 1):
            rows.extend(_patient_job(job))
            if k % 10 == 0 or k == len(jobs):
                log.info("synthetic cohort: %d/%d patients written", k, len(jobs))
    clinical = pd.DataFrame(
        {
            "PatientID": [phi.patient_id for phi in phis],
            "sex": [p.sex for p in patients],
            "age": [p.age for p in patients],
            "height_cm": [p.height_cm for p in patients],
            "weight_kg": [p.weight_kg for p in patients],
            "septal_flash": [p.clinical_label if p.study == "septal_flash" else "" for p in patients],
            "takotsubo_stemi": [p.clinical_label if p.study == "takotsubo_stemi" else "" for p in patients],
            "cardiomyopathy": [p.clinical_label if p.study == "cardiomyopathy" else "" for p in patients],
        }
    )
    clinical.to_csv(tmp / "clinical.csv", index=False)
    broken = _write_broken(tmp, cfg["broken_files"])
    manifest = {
        "seed": seed,
        "patients": len(patients),
        "recordings": len(rows),
        "dicom_files": sum(r["n_files"] for r in rows) + len(broken),
        "broken_files": broken,
        "by_class": pd.DataFrame(rows).groupby(["study", "true_class"]).size().rename("n").reset_index().to_dict("records") if rows else [],
        "markers": int(sum(r["marker"] for r in rows)),
        "config": cfg,
    }
    with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    if outdir.exists():
        shutil.rmtree(outdir)
    os.replace(tmp, outdir)
    log.info("synthetic cohort: %d recordings, %d DICOM files in %s", manifest["recordings"], manifest["dicom_files"], outdir)
    return manifest
