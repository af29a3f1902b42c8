"""The ingest stage for one input source: files in, canonical recordings and three tables out.

Every file under the source root ends up in exactly one place: in a recording's
``source_files``, or in the rejected table with a reason code (``ancillary`` for dataset
metadata that was read but is not an image). The invariant is checked, on the real relative
paths, before anything is returned. The returned tables and provenance entries identify a file by
its path key (:func:`cardiolens.privacy.path_key`) and sha256 only, since folder names may name
patients; ``SourceResult.paths`` is the way back, for the data owner's private folder
(:mod:`cardiolens.ingest.private`). Work is spread over processes: hashing and headers per file, then decoding and
writing per recording, so one job handles a whole source on all requested cores (a cluster
sees one job per source, not one per recording).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import privacy
from cardiolens.hashing import entry_problem, list_files, sha256_file, sha256_of_hashes
from cardiolens.ingest import adapters, blanking, canonical, reuse
from cardiolens.ingest.model import Discovery, Loaded, Reject, Rejection, Unit
from cardiolens.ingest.reasons import Reason
from cardiolens.ingest.clinical import CANONICAL
from cardiolens.labels import SEED_LABELS
from cardiolens.provenance import describe_inputs, stage_code_hash
from cardiolens.tables.registry import PATIENTS, RECORDINGS, REJECTED

log = logging.getLogger(__name__)

ANCILLARY_MESSAGE = "dataset metadata file: read by the adapter, not an image (not an error)"


@dataclass
class SourceResult:
    recordings: pd.DataFrame
    patients: pd.DataFrame
    rejected: pd.DataFrame
    inputs: list[dict[str, Any]]   # provenance entries of every file read (path keys, see input_entry)
    n_files: int
    notes: dict[str, Any]
    reused: int = 0   # recordings linked from the reuse store instead of decoded (not in any table)
    # root, path_key, path, sha256 of every hashed file: private, never written under results/
    paths: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["root", "path_key", "path", "sha256"], dtype=object))


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


def _hash_job(path: str) -> str:
    try:
        return sha256_file(path)
    except OSError:
        return ""


def _write_truth(path: Path, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


QUALITY_GRADES = {1: "Poor", 2: "Medium", 3: "Good"}


def truth_quality_grade(meta: dict[str, Any] | None) -> str | None:
    """Recording-level quality from ground-truth regional grades (1 poor .. 3 good): the rounded
    mean grade in CAMUS's words (Poor/Medium/Good), or None without regional grades."""
    grades = list(((meta or {}).get("quality") or {}).values())
    if not grades:
        return None
    return QUALITY_GRADES[int(np.clip(np.floor(np.mean(grades) + 0.5), 1, 3))]


def _blank(rec: Loaded, keep_region: list[int] | None) -> None:
    """Blank the pixels of a recording its adapter left as decoded (:mod:`cardiolens.ingest.blanking`:
    ``keep_region``, else the sector found from the image for ultrasound, else all)."""
    try:
        rec.array, rec.kept, _ = blanking.protect(rec.array, rec.modality, None, keep_region)
    except ValueError as exc:
        raise Reject(Reason.BAD_METADATA, str(exc)) from None


def _names_by_folder(rels: list[str], pkeys: dict[str, str]) -> dict[str, dict[str, str]]:
    """{folder: {file name: path key}} of the files under a source root (relative paths)."""
    out: dict[str, dict[str, str]] = {}
    for rel in rels:
        out.setdefault(str(Path(rel).parent), {})[Path(rel).name] = pkeys[rel]
    return out


def name_files_by_key(message: str, rel: str, names: dict[str, dict[str, str]]) -> str:
    """``message`` with the names of files in ``rel``'s folder that it quotes replaced by their
    path keys: adapters name a file and its companions as the user knows them, and an export
    may name them after the patient (``MRN12345_echo.avi``). Only names with an extension, as
    whole words, in one pass: a file named ``30`` in a folder of numbered DICOM files is not
    the 30 of "30 frames", and an inserted key is never read again. Metadata files in other
    folders (FileList.csv beside Videos/) keep their names."""
    here = {n: k for n, k in names.get(str(Path(rel).parent), {}).items() if "." in n.strip(".")}
    quoted = sorted((n for n in here if n in message), key=len, reverse=True)
    if not quoted:
        return message
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, quoted)) + r")(?![\w-]|\.\w)")
    return pattern.sub(lambda m: here[m.group(1)], message)


def _geometry_problem(rec: Loaded) -> str | None:
    """Why the recording's spacing or frame time cannot be written (zero, negative, infinite or
    not a number: a FrameTime of 0, an FPS of inf), or None."""
    values = {"pixel spacing": rec.spacing[:-1], "frame spacing": rec.spacing[-1:],
              "frame time": () if rec.frame_time_ms is None else (rec.frame_time_ms,)}
    for name, vals in values.items():
        if not all(np.isfinite(v) and v > 0 for v in vals):
            return f"{name} {tuple(float(v) for v in vals)} is not a positive number"
    return None


def _build_job(args: tuple[Unit, dict[str, Any], bytes, str, str | None, str]) -> dict[str, Any] | list[Rejection]:
    """Load one unit with its adapter, write image/mask/truth, and return its table row.

    With a reuse store (``store`` not None), a unit whose inputs are unchanged since an earlier
    run is taken from the store instead (:mod:`cardiolens.ingest.reuse`); a unit built anew is
    added to it. ``row["_reused"]`` says which.
    """
    unit, source, key, data_dir, store, digest = args
    data = Path(data_dir)
    if store is not None:
        row = reuse.fetch(Path(store), digest, data)
        if row is not None:  # the digest covers the unit's files, so they are the stored row's
            return {**row, "source_files": list(unit.files), "_reused": True}
    try:
        rec: Loaded = adapters.get(source["adapter"]).load(unit, source, key)
        if rec.kept is None:
            _blank(rec, (source.get("options") or {}).get("keep_region"))
    except Reject as exc:
        return [Rejection(f, "", exc.reason, exc.message) for f in unit.files]
    except Exception as exc:  # a broken file must not stop the source; the message says what happened
        log.warning("unexpected %s while loading a recording of %d file(s)", type(exc).__name__, len(unit.files))
        return [Rejection(f, "", Reason.UNREADABLE, f"unexpected {type(exc).__name__} while decoding") for f in unit.files]
    if (problem := _geometry_problem(rec)) is not None:  # a value ITK would refuse when writing the image
        return [Rejection(f, "", Reason.BAD_METADATA, problem) for f in unit.files]
    for name in ("masks", "evidence"):  # an adapter that crops must match its masks to the cropped image
        arr = getattr(rec, name)
        if arr is not None and arr.shape != rec.array.shape:
            raise RuntimeError(f"adapter {source['adapter']}: {name} of shape {arr.shape} do not match the image {rec.array.shape}")
    rid = privacy.recording_id(key, unit.uid)
    array = np.ascontiguousarray(rec.array)
    final = data.with_name("data")  # the folder's name once every recording is done
    image_path = data / "images" / f"{rid}.mha"
    canonical.write_image(canonical.make_image(array, rec.spacing, rec.origin, rec.direction), image_path)
    written = [image_path]
    mask_path = truth_path = None
    if rec.masks is not None:
        mask_path = data / "masks" / f"{rid}.mha"
        canonical.write_image(canonical.make_image(rec.masks, rec.spacing, rec.origin, rec.direction), mask_path)
        written.append(mask_path)
    if rec.evidence is not None:
        evidence_path = data / "masks" / f"{rid}_evidence.mha"
        canonical.write_image(canonical.make_image(rec.evidence, rec.spacing, rec.origin, rec.direction), evidence_path)
        written.append(evidence_path)
    if rec.truth_meta is not None:
        truth_path = data / "truth" / f"{rid}.json"
        _write_truth(truth_path, {**rec.truth_meta, "recording_id": rid,
                                  "evidence_path": str(final / "masks" / f"{rid}_evidence.mha") if rec.evidence is not None else None})
        written.append(truth_path)
    t = array.shape[0]
    known = rec.spacing_known
    row = {
        "recording_id": rid,
        "source": source["name"],
        "patient_key": privacy.patient_key(key, unit.patient_id),
        "study_key": privacy.study_key(key, unit.study_uid),
        "modality": rec.modality,
        "view": rec.view,
        "n_frames": int(t),
        "n_slices": int(rec.n_slices),
        "rows": int(array.shape[-2]),
        "cols": int(array.shape[-1]),
        "frame_time_ms": rec.frame_time_ms,
        "spacing_x_mm": float(rec.spacing[0]) if known else None,
        "spacing_y_mm": float(rec.spacing[1]) if known else None,
        "spacing_z_mm": rec.spacing_z,
        "heart_rate_bpm": float(rec.heart_rate) if rec.heart_rate else None,
        "r_peak_frames": [int(f) for f in rec.r_peak_frames],
        "ed_frame": rec.ed_frame,
        "es_frame": rec.es_frame,
        "mvc_frame": rec.mvc_frame,
        "avo_frame": rec.avo_frame,
        "source_frames": [int(f) for f in (rec.source_frames if rec.source_frames is not None else range(t))],
        "quality": rec.quality or truth_quality_grade(rec.truth_meta),
        "ef_percent": rec.ef_percent,
        "split": rec.split,
        "image_path": str(image_path),
        "mask_path": str(mask_path) if mask_path else None,
        "truth_path": str(truth_path) if truth_path else None,
        "pixel_type": "uint8" if array.dtype == np.uint8 else "float32",
        "pixel_sha256": canonical.array_sha256(array),
        "pixels_kept": rec.kept.rule,
        "pixels_blanked": int(rec.kept.blanked),
        "pixels_blanked_fraction": float(rec.kept.blanked_fraction),
        "source_crop_px": rec.kept.crop.as_list(),
        "burned_in_annotation": rec.burned_in,
        "source_files": list(unit.files),
        "_truth_files": list(rec.truth_files),
    }
    if store is not None:
        reuse.keep(Path(store), digest, row, written, data)
    return {**row, "_reused": False}


def clinical_labels_json(row: pd.Series, names: list[str]) -> str:
    """The ``clinical_labels`` cell of one clinical row: its ``names`` columns with a value, as a
    JSON object sorted by name (``'{"amyloid": "yes"}'``)."""
    return json.dumps({n: str(row[n]) for n in sorted(names) if row[n] is not None and not pd.isna(row[n])}, sort_keys=True)


def _patients(clinical: pd.DataFrame | None, recordings: pd.DataFrame, key: bytes, source: str, max_age: int,
              header_covariates: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int]:
    """(the ``patients`` table of a source, how many of its patients took a covariate from the
    images' headers). A patient's sex, age, height and weight come from its clinical-table row;
    where the row has none (or there is no row), from ``header_covariates`` (DICOM headers)."""
    rows = []
    counts = recordings.groupby("patient_key").size().to_dict() if len(recordings) else {}
    headers = {privacy.patient_key(key, str(sid)): r for sid, r in header_covariates.iterrows()} \
        if header_covariates is not None else {}
    keys_in_table = set()
    if clinical is not None:
        for source_id, row in clinical.iterrows():
            pk = privacy.patient_key(key, str(source_id))
            keys_in_table.add(pk)
            rows.append({
                "patient_key": pk, "source": source, "sex": row["sex"], "age": row["age"],
                "height_cm": row["height_cm"], "weight_kg": row["weight_kg"],
                **{name: row[name] for name in SEED_LABELS},
                "clinical_labels": clinical_labels_json(row, [c for c in clinical.columns if c not in CANONICAL]),
                "n_recordings": int(counts.get(pk, 0)), "in_clinical_table": True,
            })
    for pk in sorted(set(counts) - keys_in_table):
        rows.append({"patient_key": pk, "source": source, "sex": None, "age": None, "height_cm": None,
                     "weight_kg": None, **{name: None for name in SEED_LABELS}, "clinical_labels": "{}",
                     "n_recordings": int(counts[pk]), "in_clinical_table": False})
    from_headers = 0
    for r in rows:
        header = headers.get(r["patient_key"])
        filled = False
        for col in ("sex", "age", "height_cm", "weight_kg"):
            if (r[col] is None or pd.isna(r[col])) and header is not None and header[col] is not None and not pd.isna(header[col]):
                r[col], filled = header[col], True
        from_headers += filled
        r["age"] = None if r["age"] is None or pd.isna(r["age"]) else float(min(r["age"], max_age))
    df = pd.DataFrame(rows, columns=PATIENTS.names)
    return df.sort_values("patient_key", kind="stable").reset_index(drop=True), from_headers


def _check_partition(disc: Discovery, rels: list[str], name: str, key: bytes) -> None:
    """Every file in exactly one unit, rejection or the ancillary list (an adapter bug otherwise;
    the error names files by path key, since the job log is under results/)."""
    seen: dict[str, int] = {}
    for f in [f for u in disc.units for f in u.files] + [r.path for r in disc.rejections] + disc.ancillary:
        seen[f] = seen.get(f, 0) + 1
    twice = [f for f, n in seen.items() if n > 1]
    missing = sorted(set(rels) - set(seen))
    extra = sorted(set(seen) - set(rels))
    if twice or missing or extra:
        def keys(files: list[str]) -> list[str]:
            return [privacy.path_key(key, f) for f in files[:3]]

        raise RuntimeError(f"adapter {name}: files assigned twice {keys(twice)}, unassigned {keys(missing)}, "
                           f"unknown {keys(extra)} (path keys: see the private mapping)")


def _distinct_units(units: list[Unit], key: bytes) -> tuple[list[Unit], list[Rejection]]:
    """The units with distinct identities, and the files of the others as ``duplicate_instance``.

    A recording's id is the hash of its unit's ``uid`` (an EchoNet file name, a DICOM series),
    so two units with one uid (the same video in two folders) would write one image file over
    the other. The first by path is kept; the others' messages name its first file by path key."""
    kept: dict[str, Unit] = {}
    rejected: list[Rejection] = []
    for unit in sorted(units, key=lambda u: u.files[0]):
        first = kept.setdefault(unit.uid, unit)
        if first is not unit:
            rejected += [Rejection(f, "", Reason.DUPLICATE, f"the same recording as {privacy.path_key(key, first.files[0])} "
                                   "(one identifier, two places): only the first by path is used") for f in unit.files]
    return [u for u in units if kept[u.uid] is u], rejected


def _drop_duplicate_content(rows: list[dict[str, Any]], key: bytes) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Keep the first recording (by source file path) of each decoded pixel content; the others'
    messages name the kept one's first file by its path key."""
    kept, rejected, seen = [], [], {}
    for r in sorted(rows, key=lambda r: r["source_files"][0]):
        first = seen.get(r["pixel_sha256"])
        if first is None:
            seen[r["pixel_sha256"]] = r["source_files"][0]
            kept.append(r)
            continue
        for path in (r["image_path"], r["mask_path"]):
            if path:
                Path(path).unlink(missing_ok=True)
        first_key = privacy.path_key(key, first)
        rejected += [Rejection(f, "", Reason.DUPLICATE_CONTENT, f"same pixels as {first_key}") for f in r["source_files"]]
    return kept, rejected


def ingest_source(source: dict[str, Any], key: bytes, out_dir: str | os.PathLike[str], workers: int = 1,
                  max_age: int = 90, reuse_store: bool = True) -> SourceResult:
    """Ingest one source (``config.sources()`` entry) into ``out_dir/data`` and return its tables.

    Images are written under ``out_dir/data.partial``; the folder is renamed to ``data`` only
    when every recording is done. With ``reuse_store``, recordings whose inputs did not change
    since the last run are linked from ``out_dir/reuse`` instead of being decoded again
    (:mod:`cardiolens.ingest.reuse`); the tables are the same either way.
    """
    adapter = adapters.get(source["adapter"])
    name = source["name"]
    root = Path(source["path"])
    entries = list_files(root)
    problems = {str(f.relative_to(root)): problem for f in entries if (problem := entry_problem(f))}
    files = [f for f in entries if str(f.relative_to(root)) not in problems]
    rels = [str(f.relative_to(root)) for f in files]
    log.info("ingest %s (%s): %d files under %s%s", name, source["adapter"], len(entries), root,
             f" ({len(problems)} cannot be read)" if problems else "")
    out_dir = Path(out_dir)
    final, partial = out_dir / "data", out_dir / "data.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)

    def mapper(fn: Callable, items: list, label: str) -> list:
        return _map(fn, items, workers, f"ingest {name}: {label}")

    hashes = dict(zip(rels, mapper(_hash_job, [str(f) for f in files], "sha256")))
    disc = adapter.discover(source, files, mapper)
    _check_partition(disc, rels, source["adapter"], key)
    units, clashes = _distinct_units(disc.units, key)
    store = out_dir / reuse.STORE if reuse_store else None
    code = stage_code_hash("ingest")
    digests = [reuse.unit_digest(u, hashes, source, code, str(partial), key) for u in units]
    built = mapper(_build_job, [(u, source, key, str(partial), None if store is None else str(store), d)
                                for u, d in zip(units, digests)], "recordings")
    rejected: list[Rejection] = list(disc.rejections) + clashes
    rejected += [Rejection(rel, "", Reason.EMPTY_FILE if problem == "zero-byte file" else Reason.UNREADABLE, problem)
                 for rel, problem in problems.items()]
    rows = []
    for res in built:
        if isinstance(res, list):
            rejected += res
        else:
            rows.append(res)
    n_reused = sum(r.pop("_reused") for r in rows)
    if store is not None:
        log.info("ingest %s: %d recordings reused from %s (inputs unchanged), %d decoded", name, n_reused, store,
                 len(rows) - n_reused)
    rows, dupes = _drop_duplicate_content(rows, key)
    rejected += dupes
    rejected += [Rejection(f, "", Reason.ANCILLARY, ANCILLARY_MESSAGE) for f in disc.ancillary]
    truth_files = sorted({f for r in rows for f in r.pop("_truth_files")})
    truth_dir = (source.get("options") or {}).get("truth_dir")
    n_sidecars = len(list(Path(truth_dir).glob("T*.json"))) if truth_dir and rows and not truth_files else 0
    if n_sidecars:  # sidecars are named by a keyed hash of the series UID: another key matches none of them
        log.warning("ingest %s: options.truth_dir holds %d ground-truth sidecars but none belongs to a recording of this "
                    "source: they are named with the pseudonymisation key, so this run's key differs from the one they "
                    "were written with (or they belong to other recordings)", name, n_sidecars)
    for r in rows:  # paths point at the final folder name
        for k in ("image_path", "mask_path", "truth_path"):
            if r[k]:
                r[k] = str(final / Path(r[k]).relative_to(partial))
        r["source_sha256"] = sha256_of_hashes(hashes[f] for f in r["source_files"])
        # What the segment stage may add (cardiolens.segment.apply): ingest knows only the source's.
        r.update(mask_source="expert" if r["mask_path"] else None, segment_model=None, qc_pass=None, qc_reasons=None,
                 ed_es_source="source" if r["ed_frame"] is not None else None,
                 cycle_frames=list(r["r_peak_frames"]) if len(r["r_peak_frames"]) >= 2 else [])
    recordings = pd.DataFrame(rows, columns=RECORDINGS.names)
    patients, from_headers = _patients(disc.clinical, recordings, key, name, max_age, disc.header_covariates)
    if from_headers:
        log.info("ingest %s: sex, age, height or weight from the DICOM headers for %d patients (where the clinical "
                 "table has no value)", name, from_headers)
    imaged = patients[patients["n_recordings"] > 0]
    if source.get("clinical") and len(imaged) and not imaged["in_clinical_table"].all():
        log.warning("ingest %s: %d of %d patients with recordings have no row in the clinical table (no labels or covariates "
                    "for them); check its id_column and how it writes the IDs", name,
                    int((~imaged["in_clinical_table"]).sum()), len(imaged))
    if len(recordings):
        labels = patients.set_index("patient_key")[[*SEED_LABELS, "clinical_labels"]]
        for label in SEED_LABELS:
            values = recordings["patient_key"].map(labels[label]).astype(object)
            recordings[label] = values.where(values.notna(), None)
        recordings["clinical_labels"] = recordings["patient_key"].map(labels["clinical_labels"]).fillna("{}")
    recordings = recordings.sort_values("recording_id", kind="stable").reset_index(drop=True)
    accounted = sum(len(f) for f in recordings["source_files"]) + len(rejected)
    if accounted != len(entries) or len({r.path for r in rejected}) != len(rejected):
        raise RuntimeError(f"ingest {name}: {len(entries)} files found but {accounted} accounted for")
    # The table boundary: from here on a source file is its path key (the partition above used real paths).
    entry_rels = [str(f.relative_to(root)) for f in entries]
    pkeys = {rel: privacy.path_key(key, rel) for rel in entry_rels}
    if len(set(pkeys.values())) != len(pkeys):
        raise RuntimeError(f"ingest {name}: two file paths share a path key (a 64-bit collision); rename one file")
    recordings["source_files"] = [[pkeys[f] for f in fs] for fs in recordings["source_files"]]
    names = _names_by_folder(entry_rels, pkeys)
    rej = pd.DataFrame(
        [{"source": name, "path": pkeys[r.path], "sha256": hashes.get(r.path, ""), "reason": r.reason.value,
          "message": name_files_by_key(r.message, r.path, names)} for r in rejected], columns=REJECTED.names,
    ).sort_values("path", kind="stable").reset_index(drop=True)
    folders = [str(root)] + [str(Path(source["options"][o])) for o in EXTRA_FOLDERS if (source.get("options") or {}).get(o)]
    paths = [{"root": str(root), "path_key": pkeys[rel], "path": rel, "sha256": hashes.get(rel, "")} for rel in entry_rels]
    inputs = [input_entry(str(root), rel, pkeys[rel], os.path.getsize(root / rel), hashes[rel]) for rel in rels]
    for entry in describe_inputs(disc.clinical_files + truth_files):
        folder = _folder_of(entry["path"], folders)
        if folder is None:  # a configured file (a clinical table): its path is the user's own setting
            inputs.append(entry)
            continue
        rel = Path(entry["path"]).relative_to(folder).as_posix()
        pk = privacy.path_key(key, rel)
        inputs.append(input_entry(folder, rel, pk, entry["bytes"], entry["sha256"]))
        paths.append({"root": folder, "path_key": pk, "path": rel, "sha256": entry["sha256"]})
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    if store is not None:
        removed = reuse.prune(store, set(digests))
        if removed:
            log.info("ingest %s: %d stored recordings the source no longer has were removed from %s", name, removed, store)
    counts = rej["reason"].value_counts().to_dict()
    kept = recordings["pixels_kept"].value_counts().sort_index().to_dict()
    log.info("ingest %s: %d recordings (%d files), %d files rejected %s, %d patients%s; pixels kept by rule %s", name,
             len(recordings), accounted - len(rej), len(rej), counts, len(patients),
             f", notes {disc.notes}" if disc.notes else "", kept)
    if recordings.empty:
        log.warning("ingest %s: no recording: all %d files rejected %s; `cardiolens rejected` lists them with their reasons",
                    name, len(rej), counts)
    # Sorted and deduplicated in Python, kept as object: a file name that is not valid UTF-8 (surrogate
    # escapes) cannot become an Arrow string, which pandas' own sort would make of it.
    unique = {(p["root"], p["path"]): p for p in paths}
    paths_df = pd.DataFrame([unique[k] for k in sorted(unique)], columns=["root", "path_key", "path", "sha256"], dtype=object)
    return SourceResult(recordings, patients, rej, _dedupe(inputs), len(entries), disc.notes, n_reused, paths_df)


#: Source options that name folders of further input files (their paths are hashed like the source's).
EXTRA_FOLDERS = ("truth_dir", "contours_dir")


def input_entry(root: str, rel: str, pkey: str, size: int, sha256: str) -> dict[str, Any]:
    """Provenance entry of a file below a configured folder: ``path`` is the folder (as configured)
    joined with the file's path key, never the file's own path below the folder."""
    return {"path": f"{root}/{pkey}", "root": root, "path_key": pkey, "bytes": size, "sha256": sha256}


def _folder_of(path: str, folders: list[str]) -> str | None:
    """The configured folder ``path`` lies under (the deepest one), or None."""
    inside = [f for f in folders if Path(path).is_relative_to(f)]
    return max(inside, key=len) if inside else None


def _dedupe(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in entries:
        seen.setdefault(e["path"], e)
    return sorted(seen.values(), key=lambda e: e["path"])


def merge_sources(recordings: list[pd.DataFrame], patients: list[pd.DataFrame], rejected: list[pd.DataFrame]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Concatenate per-source tables (in configuration order).

    A patient already ingested from an earlier source, or a recording whose decoded pixels an
    earlier source already holds, is moved to the rejected table (``duplicate_patient``,
    ``duplicate_content``) with every one of its source files. A patient listed by several
    sources' clinical tables keeps one row: the one of the source with its recordings.
    """
    seen_patients: set[str] = set()
    seen_pixels: dict[str, str] = {}
    keep_rec, keep_pat, extra_rej = [], [], []
    for rec, pat in zip(recordings, patients):
        src_patients = set(rec["patient_key"])
        clash = src_patients & seen_patients
        moved = rec["patient_key"].isin(clash) | rec["pixel_sha256"].isin(seen_pixels)
        for _, row in rec[moved].iterrows():
            dup_pat = row["patient_key"] in clash
            reason = Reason.DUPLICATE_PATIENT if dup_pat else Reason.DUPLICATE_CONTENT
            message = ("patient already ingested from an earlier source" if dup_pat
                       else f"same pixels as a recording of source {seen_pixels[row['pixel_sha256']]}")
            for f in row["source_files"]:
                extra_rej.append({"source": row["source"], "path": f, "sha256": "", "reason": reason.value, "message": message})
        keep = rec[~moved]
        keep_rec.append(keep)
        keep_pat.append(pat[~pat["patient_key"].isin(clash)])
        seen_patients |= set(pat["patient_key"][pat["n_recordings"] > 0])
        for sha, source in zip(keep["pixel_sha256"], keep["source"]):
            seen_pixels.setdefault(sha, source)
    rec = pd.concat(keep_rec, ignore_index=True) if keep_rec else pd.DataFrame(columns=RECORDINGS.names)
    rec = rec.sort_values("recording_id", kind="stable").reset_index(drop=True)
    pat = pd.concat(keep_pat, ignore_index=True) if keep_pat else pd.DataFrame(columns=PATIENTS.names)
    # One clinical table for several sources lists each source's patients in all of them: a row
    # without recordings stands aside for the source that holds the patient's recordings, and of
    # rows without recordings anywhere the first source's stays.
    with_recordings = set(pat.loc[pat["n_recordings"] > 0, "patient_key"])
    pat = pat[(pat["n_recordings"] > 0) | ~pat["patient_key"].isin(with_recordings)].drop_duplicates("patient_key")
    pat = pat.sort_values("patient_key", kind="stable").reset_index(drop=True)
    rej = pd.concat([*rejected, pd.DataFrame(extra_rej, columns=REJECTED.names)], ignore_index=True) if rejected else pd.DataFrame(columns=REJECTED.names)
    rej = rej.sort_values(["source", "path"], kind="stable").reset_index(drop=True)
    return rec, pat, rej
