"""The ingest stage for one input source: files in, canonical recordings and three tables out.

Every file under the source root ends up either in a recording (``n_files`` counts them) or in
the rejected table with a reason code; the invariant is checked before anything is returned.
Work is spread over processes (headers per file, then decoding and writing per recording).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import privacy
from cardiolens.hashing import list_files, sha256_of_hashes
from cardiolens.ingest import canonical
from cardiolens.ingest.clinical import read_clinical
from cardiolens.ingest.dicom_pixels import DecodeError, read_mr_image, read_ultrasound
from cardiolens.ingest.dicom_scan import Header, Rejection, read_header, slice_normal
from cardiolens.ingest.dicom_series import Candidate, group
from cardiolens.ingest.reasons import Reason
from cardiolens.ingest.truth import Truth, TruthMismatch, load_truth
from cardiolens.labels import STUDY_CLASSES
from cardiolens.provenance import describe_inputs
from cardiolens.tables.registry import PATIENTS, RECORDINGS, REJECTED

log = logging.getLogger(__name__)

#: A cine-MR stack whose first TriggerTime is below this is taken to start at the R wave (ED).
ED_TRIGGER_MS = 60.0


@dataclass
class SourceResult:
    recordings: pd.DataFrame
    patients: pd.DataFrame
    rejected: pd.DataFrame
    inputs: list[dict[str, Any]]   # provenance entries of every file read
    n_files: int


def _map(fn: Callable, items: list, workers: int, label: str) -> list:
    """Map with a process pool (or in-process for one worker), logging progress."""
    out = []
    step = max(1, len(items) // 10)
    if workers > 1 and len(items) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for k, res in enumerate(pool.map(fn, items, chunksize=max(1, len(items) // (8 * workers))), 1):
                out.append(res)
                if k % step == 0 or k == len(items):
                    log.info("%s: %d/%d", label, k, len(items))
    else:
        for k, item in enumerate(items, 1):
            out.append(fn(item))
            if k % step == 0 or k == len(items):
                log.info("%s: %d/%d", label, k, len(items))
    return out


def _header_job(args: tuple[str, str]) -> Header | Rejection:
    path, root = args
    return read_header(Path(path), Path(root))


def _rejections(cand: Candidate, reason: str, message: str) -> list[Rejection]:
    return [Rejection(h.path, h.sha256, Reason(reason), message) for h in cand.headers]


def _build_job(args: tuple[Candidate, bytes, str, str, str | None]) -> dict[str, Any] | list[Rejection]:
    """Decode one candidate, join its ground truth, write image/mask/truth; return its table row."""
    cand, key, source, data_dir, truth_dir = args
    first = cand.headers[0]
    rid = privacy.recording_id(key, cand.uid)
    try:
        if cand.kind == "us_multiframe":
            us = read_ultrasound(first.abspath)
            array = us.frames
            spacing = (us.spacing_mm[0], us.spacing_mm[1], us.frame_time_ms)
            origin, direction = None, None
            frame_time, r_frames, hr = us.frame_time_ms, us.r_wave_frames, us.heart_rate or first.heart_rate
            spacing_z, n_slices = None, 1
            ed = r_frames[0] if r_frames else None
        else:
            n_s, n_p = len(cand.grid), len(cand.grid[0])
            if n_p < 2:
                return _rejections(cand, "unsupported", "single-phase MR series is not a cine")
            array = np.empty((n_p, n_s, first.rows, first.cols), np.float32)
            for s, row in enumerate(cand.grid):
                for p, h in enumerate(row):
                    array[p, s] = read_mr_image(h.abspath)
            times = np.array([h.trigger_time for h in cand.grid[0]], dtype=np.float64)
            frame_time = float(np.median(np.diff(times)))
            row_dir = np.asarray(first.orientation[:3])
            col_dir = np.asarray(first.orientation[3:])
            normal = slice_normal(first.orientation)
            direction = np.eye(4)
            direction[:3, 0], direction[:3, 1], direction[:3, 2] = row_dir, col_dir, normal
            dz = cand.slice_spacing or 1.0
            spacing = (first.pixel_spacing[1], first.pixel_spacing[0], dz, frame_time)
            origin = (*cand.grid[0][0].position, 0.0)
            spacing_z, n_slices = cand.slice_spacing, n_s
            r_frames = [0] if times[0] < ED_TRIGGER_MS else []
            ed = 0 if r_frames else None
            hr = first.heart_rate
    except DecodeError as exc:
        return _rejections(cand, exc.reason, str(exc))
    try:
        truth: Truth | None = load_truth(truth_dir, first.series_uid, array.shape)
    except TruthMismatch as exc:
        return _rejections(cand, "truth_mismatch", str(exc))
    data = Path(data_dir)
    image_path = data / "images" / f"{rid}.mha"
    canonical.write_image(canonical.make_image(array, spacing, origin, direction), image_path)
    mask_path = truth_path = None
    events: dict[str, int | None] = {"es_frame": None, "mvc_frame": None, "avo_frame": None}
    if truth is not None:
        mask_path = data / "masks" / f"{rid}.mha"
        canonical.write_image(canonical.make_image(truth.masks, spacing, origin, direction), mask_path)
        if truth.evidence is not None:
            canonical.write_image(canonical.make_image(truth.evidence, spacing, origin, direction),
                                  data / "masks" / f"{rid}_evidence.mha")
        truth_path = data / "truth" / f"{rid}.json"
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**truth.meta, "recording_id": rid, "evidence_path": str(data / "masks" / f"{rid}_evidence.mha")}
        tmp = truth_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, truth_path)
        for k in events:
            if truth.meta.get(k) is not None:
                events[k] = int(truth.meta[k])
        if ed is None and truth.meta.get("ed_frame") is not None:
            ed = int(truth.meta["ed_frame"])
    t = array.shape[0]
    return {
        "recording_id": rid,
        "source": source,
        "patient_key": privacy.patient_key(key, first.patient_id),
        "study_key": privacy.study_key(key, first.study_uid),
        "modality": first.modality,
        "view": first.view,
        "n_frames": int(t),
        "n_slices": int(n_slices),
        "rows": int(array.shape[-2]),
        "cols": int(array.shape[-1]),
        "frame_time_ms": float(frame_time),
        "spacing_x_mm": float(spacing[0]),
        "spacing_y_mm": float(spacing[1]),
        "spacing_z_mm": spacing_z,
        "heart_rate_bpm": float(hr) if hr else None,
        "r_peak_frames": [int(f) for f in r_frames],
        "ed_frame": ed,
        **events,
        "image_path": str(image_path),
        "mask_path": str(mask_path) if mask_path else None,
        "truth_path": str(truth_path) if truth_path else None,
        "pixel_type": "uint8" if array.dtype == np.uint8 else "float32",
        "n_files": len(cand.headers),
        "source_sha256": sha256_of_hashes(h.sha256 for h in cand.headers),
        "_truth_files": list(truth.files) if truth else [],
    }


def _patients(clinical: pd.DataFrame | None, recordings: pd.DataFrame, key: bytes, source: str,
              max_age: int) -> pd.DataFrame:
    rows = []
    counts = recordings.groupby("patient_key").size().to_dict() if len(recordings) else {}
    keys_in_table = set()
    if clinical is not None:
        for source_id, row in clinical.iterrows():
            pk = privacy.patient_key(key, str(source_id))
            keys_in_table.add(pk)
            age = row["age"]
            rows.append({
                "patient_key": pk, "source": source, "sex": row["sex"],
                "age": None if age is None or pd.isna(age) else float(min(age, max_age)),
                "height_cm": row["height_cm"], "weight_kg": row["weight_kg"],
                **{name: row[name] for name in STUDY_CLASSES},
                "n_recordings": int(counts.get(pk, 0)), "in_clinical_table": True,
            })
    for pk in sorted(set(counts) - keys_in_table):
        rows.append({"patient_key": pk, "source": source, "sex": None, "age": None, "height_cm": None,
                     "weight_kg": None, **{name: None for name in STUDY_CLASSES},
                     "n_recordings": int(counts[pk]), "in_clinical_table": False})
    df = pd.DataFrame(rows, columns=PATIENTS.names)
    return df.sort_values("patient_key", kind="stable").reset_index(drop=True)


def ingest_source(source: dict[str, Any], key: bytes, out_dir: str | os.PathLike[str], workers: int = 1,
                  max_age: int = 90) -> SourceResult:
    """Ingest one source (``config.sources()`` entry) into ``out_dir/data`` and return its tables.

    Images are written under ``out_dir/data.partial`` and the folder is renamed to ``data`` only
    when every recording is done.
    """
    if source["adapter"] != "dicom":
        raise ValueError(f"source {source['name']!r}: adapter {source['adapter']!r} is not available")
    root = Path(source["path"])
    files = list_files(root)
    log.info("ingest %s: %d files under %s", source["name"], len(files), root)
    out_dir = Path(out_dir)
    final, partial = out_dir / "data", out_dir / "data.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    scanned = _map(_header_job, [(str(f), str(root)) for f in files], workers, f"ingest {source['name']}: headers")
    headers = [h for h in scanned if isinstance(h, Header)]
    rejected: list[Rejection] = [r for r in scanned if isinstance(r, Rejection)]
    candidates, bad = group(headers)
    rejected += bad
    truth_dir = (source.get("options") or {}).get("truth_dir")
    jobs = [(c, key, source["name"], str(partial), truth_dir) for c in candidates]
    built = _map(_build_job, jobs, workers, f"ingest {source['name']}: recordings")
    rows = []
    for res in built:
        if isinstance(res, list):
            rejected += res
        else:
            rows.append(res)
    truth_files = sorted({f for r in rows for f in r.pop("_truth_files")})
    # Paths point at the final folder name.
    for r in rows:
        for k in ("image_path", "mask_path", "truth_path"):
            if r[k]:
                r[k] = str(final / Path(r[k]).relative_to(partial))
    recordings = pd.DataFrame(rows, columns=RECORDINGS.names)
    clinical = None
    clinical_cfg = source.get("clinical")
    if clinical_cfg:
        clinical = read_clinical(clinical_cfg["path"], clinical_cfg.get("id_column", "PatientID"), clinical_cfg.get("columns", {}))
    patients = _patients(clinical, recordings, key, source["name"], max_age)
    if len(recordings):
        labels = patients.set_index("patient_key")[list(STUDY_CLASSES)]
        for name in STUDY_CLASSES:
            recordings[name] = recordings["patient_key"].map(labels[name]).astype(object)
            recordings[name] = recordings[name].where(recordings[name].notna(), None)
    recordings = recordings.sort_values("recording_id", kind="stable").reset_index(drop=True)
    rej = pd.DataFrame(
        [{"source": source["name"], "path": r.path, "sha256": r.sha256, "reason": r.reason.value, "message": r.message}
         for r in rejected], columns=REJECTED.names,
    ).sort_values("path", kind="stable").reset_index(drop=True)
    accounted = int(recordings["n_files"].sum()) + len(rej)
    if accounted != len(files):
        raise RuntimeError(f"ingest {source['name']}: {len(files)} files found but {accounted} accounted for")
    inputs = _dedupe(
        [{"path": str(root / h.path), "bytes": os.path.getsize(h.abspath), "sha256": h.sha256} for h in headers]
        + [{"path": str(root / r.path), "bytes": os.path.getsize(root / r.path), "sha256": r.sha256} for r in rejected]
    )
    if clinical_cfg:
        inputs += describe_inputs([clinical_cfg["path"]])
    if truth_files:
        inputs += describe_inputs(truth_files)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    log.info("ingest %s: %d recordings (%d files), %d files rejected, %d patients", source["name"], len(recordings),
             int(recordings["n_files"].sum()), len(rej), len(patients))
    return SourceResult(recordings, patients, rej, sorted(inputs, key=lambda i: i["path"]), len(files))


def _dedupe(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in entries:
        seen.setdefault(e["path"], e)
    return list(seen.values())


def merge_sources(recordings: list[pd.DataFrame], patients: list[pd.DataFrame], rejected: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Concatenate per-source tables; a patient seen in several sources becomes one row."""
    rec = pd.concat(recordings, ignore_index=True) if recordings else pd.DataFrame(columns=RECORDINGS.names)
    if rec["recording_id"].duplicated().any():
        dup = rec.loc[rec["recording_id"].duplicated(), "recording_id"].tolist()[:5]
        raise ValueError(f"the same recording was ingested from two sources: {dup}")
    rec = rec.sort_values("recording_id", kind="stable").reset_index(drop=True)
    pat = pd.concat(patients, ignore_index=True) if patients else pd.DataFrame(columns=PATIENTS.names)
    if pat["patient_key"].duplicated().any():
        n = pat.groupby("patient_key")["n_recordings"].transform("sum")
        pat = pat.assign(n_recordings=n)
        pat = pat.sort_values(["patient_key", "in_clinical_table"], ascending=[True, False], kind="stable")
        pat = pat.drop_duplicates("patient_key", keep="first")
    pat = pat.sort_values("patient_key", kind="stable").reset_index(drop=True)
    rej = pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame(columns=REJECTED.names)
    rej = rej.sort_values(["source", "path"], kind="stable").reset_index(drop=True)
    return rec, pat, rej
