"""The ``indices`` table of one study (results/measure/<study>/indices.parquet), files at the edges.

A study's short-axis cine-MR stacks are the recordings its selection keeps (``sources``,
``views``, ``where``; then a value in its ``label``, one of its ``classes``; :mod:`cardiolens.prepare.select`)
of modality MR with more than one slice, a label map (``mask_path``: expert, or the segment
stage's prediction) and ED and ES frames. Predicted masks that failed the segment stage's quality
control are left out unless ``segment.qc.exclude`` is false, as in prepare.

One row per patient. A patient with several measurable stacks is measured on one, chosen in
this order: expert masks before predicted ones, then the most slices measured (labelled at both
ED and ES), then the smallest ``recording_id``; the stacks not used are listed in the
provenance (``not_used``). Every stack that cannot be measured is listed with its reason
(``skipped``), and so is every patient of the study left without a row (``patients_without_row``),
in the provenance and the job's log: nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import provenance
from cardiolens.prepare.select import SELECTION_KEYS, select_recordings, with_label
from cardiolens.tables import read_table, write_table
from cardiolens.tables.registry import INDICES, PATIENTS, RECORDINGS

log = logging.getLogger("cardiolens.measure")


def indices_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """Configuration one study's indices table depends on: its label, classes, modality and
    selection keys (when set), and whether failed-QC predicted masks are kept."""
    s = config["studies"][study]
    out: dict[str, Any] = {"study": study, "label": s["label"], "modality": s.get("modality")}
    out.update({k: s[k] for k in (*SELECTION_KEYS, "classes") if s.get(k)})
    if not config["segment"]["qc"]["exclude"]:
        out["keep_failed_qc"] = True
    return out


def candidate_stacks(recordings: pd.DataFrame, cslice: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stacks to measure, recordings of the study's patients left out with a reason).

    The study's labelled recordings (module docstring) are split into the short-axis cine-MR stacks
    with a mask and ED/ES frames, sorted by ``recording_id``, and the others with the reason
    (``reason``: not MR, a single slice, no mask, no ED/ES frame, predicted masks failed QC).
    """
    label = cslice["label"]
    rec, _ = select_recordings(with_label(recordings, label), cslice)
    rec = rec[rec[label].notna()] if label in rec.columns else rec.iloc[:0]
    if cslice.get("classes"):
        rec = rec[rec[label].isin(list(cslice["classes"]))]
    if cslice.get("modality"):
        rec = rec[rec["modality"] == cslice["modality"]]
    reason = pd.Series("", index=rec.index, dtype=object)
    checks = [
        (rec["modality"] != "MR", "not cine-MR (modality {modality})"),
        (rec["n_slices"] < 2, "not a short-axis stack (one slice)"),
        (rec["mask_path"].isna(), "no label map (no expert mask and none predicted)"),
        (rec["ed_frame"].isna() | rec["es_frame"].isna(), "no ED or ES frame"),
        (rec["qc_pass"].eq(False) & (not cslice.get("keep_failed_qc")), "predicted masks failed the segment stage's QC"),
    ]
    for bad, why in checks:
        # nullable columns (qc_pass is null for expert masks) compare to NA: not a reason
        fill = bad.fillna(False).to_numpy(dtype=bool) & (reason == "").to_numpy()
        reason[fill] = [why.format(**r) for r in rec[fill].to_dict("records")]
    ok = (reason == "").to_numpy()
    left_out = rec.loc[~ok, ["recording_id", "patient_key"]].assign(reason=reason[~ok].to_numpy())
    return rec[ok].sort_values("recording_id"), left_out.sort_values("recording_id").reset_index(drop=True)


def read_stack(mask_path: str, ed_frame: int, es_frame: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(ED mask (S, H, W), ES mask (S, H, W), (dx, dy, dz) mm) of a canonical (T, S, H, W) label map."""
    import itk

    img = itk.imread(mask_path)
    masks = itk.array_from_image(img)
    if masks.ndim != 4:
        raise ValueError(f"label map is {masks.ndim}-D {masks.shape}, not (T, S, H, W)")
    for name, f in (("ED", ed_frame), ("ES", es_frame)):
        if not 0 <= f < masks.shape[0]:
            raise ValueError(f"{name} frame {f} outside the {masks.shape[0]} frames of the label map")
    spacing = tuple(float(s) for s in tuple(img.GetSpacing())[:3])
    return masks[ed_frame], masks[es_frame], spacing  # type: ignore[return-value]


def measure_stacks(stacks: pd.DataFrame, patients: pd.DataFrame, n_rays: int = 90) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """(``indices`` rows of the stacks that could be measured, the others with their reason)."""
    from cardiolens.measure.indices_table import patient_row

    body = patients.set_index("patient_key")[["height_cm", "weight_kg"]]
    rows, failed = [], []
    for r in stacks.to_dict("records"):
        h, w = (body.loc[r["patient_key"]].tolist() if r["patient_key"] in body.index else (None, None))
        try:
            ed, es, spacing = read_stack(r["mask_path"], int(r["ed_frame"]), int(r["es_frame"]))
            rows.append(patient_row(patient_key=r["patient_key"], recording_id=r["recording_id"], mask_source=r["mask_source"] or "expert",
                                    ed_frame=int(r["ed_frame"]), es_frame=int(r["es_frame"]), ed_mask=ed, es_mask=es,
                                    spacing_mm=spacing, height_cm=h, weight_kg=w, n_rays=n_rays))
        except (ValueError, RuntimeError) as exc:
            failed.append({"recording_id": r["recording_id"], "patient_key": r["patient_key"], "reason": f"{type(exc).__name__}: {exc}"})
    return rows, pd.DataFrame(failed, columns=["recording_id", "patient_key", "reason"])


def one_per_patient(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(one row per patient, the stacks not used): expert masks first, then the most slices
    measured, then the smallest recording_id."""
    order = sorted(rows, key=lambda r: (r["patient_key"], r["mask_source"] != "expert", -r["n_slices"], r["recording_id"]))
    kept: dict[str, dict[str, Any]] = {}
    not_used = []
    for r in order:
        if r["patient_key"] in kept:
            not_used.append({"recording_id": r["recording_id"], "patient_key": r["patient_key"],
                             "reason": f"patient measured on {kept[r['patient_key']]['recording_id']}"})
        else:
            kept[r["patient_key"]] = r
    return [kept[k] for k in sorted(kept)], not_used


def study_indices(recordings: pd.DataFrame, patients: pd.DataFrame, cslice: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(``indices`` table of the study, what was left out: ``skipped`` stacks, ``not_used`` stacks,
    ``patients_without_row``, each a list of {recording_id, patient_key, reason})."""
    from cardiolens.measure.indices_table import indices_table

    study = cslice["study"]
    stacks, left_out = candidate_stacks(recordings, cslice)
    log.info("indices %s: %d short-axis stacks with masks and ED/ES of %d patients; %d recordings not measurable",
             study, len(stacks), stacks["patient_key"].nunique(), len(left_out))
    rows, failed = measure_stacks(stacks, patients)
    table_rows, not_used = one_per_patient(rows)
    skipped = pd.concat([left_out, failed], ignore_index=True).sort_values("recording_id")
    measured = {r["patient_key"] for r in table_rows}
    without = []
    for key, g in skipped[~skipped["patient_key"].isin(measured)].groupby("patient_key", sort=True):
        without.append({"patient_key": key, "reason": "; ".join(f"{r.recording_id}: {r.reason}" for r in g.itertuples())})
    for r in skipped.itertuples():
        log.warning("indices %s: %s (%s) not measured: %s", study, r.recording_id, r.patient_key, r.reason)
    for r in without:
        log.warning("indices %s: patient %s has no row: %s", study, r["patient_key"], r["reason"])
    table = indices_table(table_rows)
    log.info("indices %s: %d patients measured (%s masks), %d stacks not used, %d patients without a row", study, len(table),
             ", ".join(f"{k} {v}" for k, v in table["mask_source"].value_counts().sort_index().items()) or "none",
             len(not_used), len(without))
    return table, {"skipped": json.loads(skipped.to_json(orient="records")), "not_used": not_used,
                   "patients_without_row": without}


def run_study(recordings_path: str, patients_path: str, cslice: dict[str, Any], out_path: str,
              rule: str = "measure_indices") -> Path:
    """Write ``indices.parquet`` of one study; what was left out goes to the provenance and the log."""
    recordings = read_table(recordings_path, RECORDINGS)
    patients = read_table(patients_path, PATIENTS)
    table, left_out = study_indices(recordings, patients, cslice)
    prov = provenance.build(rule, provenance.describe_inputs([recordings_path, patients_path]), cslice, left_out)
    return write_table(table, out_path, INDICES, prov)
