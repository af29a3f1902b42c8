"""The measure stage with files at the edges: the motion table of one study (results/measure/<study>/)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens import provenance
from cardiolens.prepare.select import SELECTION_KEYS, select_recordings, with_label
from cardiolens.tables import read_table, write_table
from cardiolens.tables.registry import MOTION, RECORDINGS

log = logging.getLogger("cardiolens.measure")


def motion_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """Configuration one study's motion table depends on: its label and modality, and its
    selection keys and classes only when set (so the slices of studies without them keep their hash)."""
    s = config["studies"][study]
    out = {"study": study, "label": s["label"], "modality": s.get("modality"), "motion": s["motion"]}
    out.update({k: s[k] for k in (*SELECTION_KEYS, "classes") if s.get(k)})
    return out


def study_recordings(recordings: pd.DataFrame, label: str, modality: str | None,
                     selection: dict[str, Any] | None = None) -> pd.DataFrame:
    """The study's echo recordings, sorted: those its selection keys keep (``sources``, ``views``,
    ``where``; :mod:`cardiolens.prepare.select`), with a value in ``label`` (one of its ``classes``
    when set), of its modality, ultrasound. The same recordings its samples come from."""
    selection = selection or {}
    rec, _ = select_recordings(with_label(recordings, label), selection)
    rec = rec[rec[label].notna()] if label in rec else rec.iloc[:0]
    if selection.get("classes"):
        rec = rec[rec[label].isin(list(selection["classes"]))]
    if modality:
        rec = rec[rec["modality"] == modality]
    return rec[rec["modality"] == "US"].sort_values("recording_id")


def _job(args: tuple[dict[str, Any], dict[str, Any], int]) -> tuple[str, pd.DataFrame | str, float]:
    from cardiolens.measure.motion import MotionSkip, measure_row

    row, cfg, threads = args
    import itk

    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(threads)
    t0 = time.perf_counter()
    try:
        return row["recording_id"], measure_row(row, cfg), time.perf_counter() - t0
    except (MotionSkip, ValueError, RuntimeError) as exc:
        return row["recording_id"], f"{type(exc).__name__}: {exc}", time.perf_counter() - t0


def measure_study(recordings: pd.DataFrame, study: str, label: str, modality: str | None, cfg: dict[str, Any],
                  workers: int = 1, selection: dict[str, Any] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(motion table, skipped recordings with reasons) of one study (``selection``: its selection
    keys and classes, see :func:`study_recordings`); logs progress per recording."""
    rec = study_recordings(recordings, label, modality, selection)
    rows = rec.to_dict("records")
    log.info("motion %s: %d echo recordings with a %s label, %d worker(s)", study, len(rows), label, workers)
    # ITK runs single-threaded in every case: the demons stop on an RMS change summed over threads in
    # the order of the thread split, and the same configuration must give the same table whatever
    # the cores a scheduler grants.
    jobs = [(r, cfg, 1) for r in rows]
    results: list[tuple[str, Any, float]] = []

    def note(i: int, res: tuple[str, Any, float]) -> None:
        rid, out, dt = res
        what = f"skipped: {out}" if isinstance(out, str) else f"{len(out.iloc[0]['frames'])} frames, {out.iloc[0]['window']}"
        log.info("motion %s: %d/%d %s (%s) %.1f s", study, i + 1, len(jobs), rid, what, dt)

    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for i, res in enumerate(pool.map(_job, jobs)):
                note(i, res)
                results.append(res)
    else:
        for i, j in enumerate(jobs):
            results.append(_job(j))
            note(i, results[-1])
    by_id = {r["recording_id"]: r for r in rows}
    parts, skipped = [], []
    for rid, out, _ in results:
        if isinstance(out, str):
            skipped.append({"recording_id": rid, "reason": out})
            continue
        r = by_id[rid]
        parts.append(out.assign(study=study, recording_id=rid, patient_key=r["patient_key"], label=r[label], view=r["view"]))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=MOTION.names)
    log.info("motion %s: %d recordings measured, %d skipped", study, len(parts), len(skipped))
    return table.reindex(columns=MOTION.names), pd.DataFrame(skipped, columns=["recording_id", "reason"])


def run_study(recordings_path: str, cslice: dict[str, Any], out_path: str, workers: int, rule: str = "measure_motion") -> Path:
    """Write ``motion.parquet`` of one study; skipped recordings go to the provenance and the log."""
    import json

    recordings = read_table(recordings_path, RECORDINGS)
    table, skipped = measure_study(recordings, cslice["study"], cslice["label"], cslice["modality"], cslice["motion"], workers,
                                   selection=cslice)
    for r in skipped.itertuples():
        log.warning("motion %s: %s skipped: %s", cslice["study"], r.recording_id, r.reason)
    prov = provenance.build(rule, provenance.describe_inputs([recordings_path]), cslice,
                            {"skipped": json.loads(skipped.to_json(orient="records"))})
    return write_table(table, out_path, MOTION, prov)
