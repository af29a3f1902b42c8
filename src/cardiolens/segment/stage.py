"""The segment stage's file edges: fit one model (rule segment_fit), apply all (rule segment_apply).

Outputs, under ``results/segment/``:

- ``<model>/fold<k>/model.pt`` (weights), ``<model>/metrics.parquet`` (held-out Dice and HD95 per
  frame and structure), ``<model>/summary.parquet`` (per phase and structure, patient-level
  means), ``<model>/history.parquet``, ``<model>/folds.parquet`` (patient roles per fold) and
  ``<model>/left_out.parquet`` (recordings with masks not used for training, and why);
- ``recordings.parquet``: the ingest table with predicted masks, ED/ES and QC filled in (every
  later stage reads this one), ``qc.parquet``, ``masks/<recording_id>.mha`` and
  ``figures/<recording_id>_lv_curve.png``.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import provenance
from cardiolens.segment import evaluate as E
from cardiolens.tables.parquet import read_table, write_table
from cardiolens.tables.registry import HISTORY, RECORDINGS, SEGMENT_METRICS, SEGMENT_QC, SEGMENT_SUMMARY, SPLITS

log = logging.getLogger(__name__)


def segment_slice(config: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """The configuration the segment stage depends on (one model's, or all of it)."""
    seg = config["segment"]
    out = {k: v for k, v in seg.items() if k != "models"}
    out["seed"] = config["seed"]
    if model is not None:
        out["model"] = {"name": model, **model_config(seg, model)}
    else:
        out["models"] = {m: model_config(seg, m) for m in sorted(seg["models"]) if seg["models"][m].get("enabled", True)}
    return out


def model_config(seg: dict[str, Any], name: str) -> dict[str, Any]:
    """A model's settings: its own block over the stage-wide ``train`` (``augment`` key by key) and
    ``keep_largest``."""
    m = dict(seg["models"][name])
    own = m.get("train") or {}
    m["train"] = {**seg["train"], **own, "augment": {**seg["train"].get("augment", {}), **(own.get("augment") or {})}}
    m.setdefault("keep_largest", seg["keep_largest"])
    m.setdefault("size", [128, 128])
    m.setdefault("spacing_mm", None)
    m.pop("enabled", None)
    return m


def run_fit(recordings_path: str, cslice: dict[str, Any], out_dir: str, rule: str = "segment_fit") -> None:
    """Fit model ``cslice['model']`` on the ingest recordings; write its tables and weights."""
    from cardiolens.segment.fit import family, fit_model

    recordings = read_table(recordings_path, RECORDINGS)
    model = cslice["model"]
    name = model["name"]
    out = Path(out_dir)
    for old in out.glob("fold*"):   # the folds' weights of an earlier fit, not folds.parquet
        if old.is_dir():
            shutil.rmtree(old)
    covered = family(recordings, model)
    needed = cslice["masks"] == "predicted" or (~covered["mask_path"].fillna("").astype(bool)).any()
    if not cslice["enabled"] or (cslice["train_when"] == "needed" and not needed):
        log.info("segment: model %s not trained: %s", name, "segment.enabled is false" if not cslice["enabled"] else
                 f"every one of its {len(covered)} recordings has masks (segment.train_when: always trains it anyway, "
                 "for held-out metrics on your masks)")
        tables = {"folds": pd.DataFrame(), "metrics": pd.DataFrame(), "history": pd.DataFrame(), "left_out": pd.DataFrame()}
    else:
        cfg = {"split": cslice["split"], "frames_per_recording": cslice["frames_per_recording"], "train": model["train"]}
        tables = fit_model(recordings, name, model, cfg, cslice["seed"], out)
    weights = sorted(out.glob("fold*/model.pt"))
    prov = provenance.build(rule, provenance.describe_inputs([recordings_path, *weights]), cslice,
                            {"left_out": json.loads(tables["left_out"].to_json(orient="records") or "[]")})
    metrics = tables["metrics"].reindex(columns=SEGMENT_METRICS.names)
    write_table(metrics, out / "metrics.parquet", SEGMENT_METRICS, prov)
    summary = E.summarise(E.all_phases(metrics)) if len(metrics) else pd.DataFrame()
    write_table(summary.reindex(columns=SEGMENT_SUMMARY.names), out / "summary.parquet", SEGMENT_SUMMARY, prov)
    history = tables["history"].assign(study=f"segment_{name}") if len(tables["history"]) else pd.DataFrame()
    write_table(history.reindex(columns=HISTORY.names), out / "history.parquet", HISTORY, prov)
    folds = tables["folds"].assign(study=f"segment_{name}") if len(tables["folds"]) else pd.DataFrame()
    write_table(folds.reindex(columns=SPLITS.names), out / "folds.parquet", SPLITS, prov)
    for _, r in summary[summary["phase"] == "all"].iterrows() if len(summary) else []:
        log.info("segment %s: held-out %s Dice %.3f (median %.3f), HD95 %.1f mm, %d patients", name, r["structure"],
                 r["dice_mean"], r["dice_median"], r["hd95_mean_mm"], r["patients"])


def _write_mask(masks: np.ndarray, image_path: str, path: Path) -> None:
    """Write (T, S, H, W) masks (S = 1: 2D+t) with the canonical image's geometry."""
    import itk

    from cardiolens.ingest.canonical import write_image

    ref = itk.imread(image_path)
    arr = masks[:, 0] if itk.array_from_image(ref).ndim == 3 else masks
    img = itk.image_from_array(np.ascontiguousarray(arr, dtype=np.uint8))
    img.CopyInformation(ref)
    write_image(img, path)


def run_apply(recordings_path: str, cslice: dict[str, Any], model_dirs: dict[str, str], out_dir: str,
              rule: str = "segment_apply") -> None:
    """Predicted masks, ED/ES and QC for the recordings that need them; writes ``recordings.parquet``,
    ``qc.parquet``, ``masks/`` and ``figures/`` under ``out_dir`` (see the module docstring)."""
    from cardiolens.plotting import save_figure
    from cardiolens.segment.apply import load_models, nets_for, needs_prediction, segment_recording
    from cardiolens.segment.figures import area_curve_figure
    from cardiolens.hashing import sha256_file
    from cardiolens.segment.fit import family

    recordings = read_table(recordings_path, RECORDINGS)
    out = Path(out_dir)
    masks_dir, fig_dir = out / "masks", out / "figures"
    for d in (masks_dir, fig_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    mode = cslice["masks"]
    rows = recordings.sort_values("recording_id").to_dict("records")
    by_id = {r["recording_id"]: i for i, r in enumerate(rows)}
    qc_rows, inputs = [], [recordings_path]
    done: set[str] = set()
    for name, model in cslice["models"].items() if cslice["enabled"] else []:
        model_dir = Path(model_dirs[name])
        nets = load_models(model_dir, model)
        members = family(recordings, model)
        todo = [rows[by_id[r]] for r in members["recording_id"] if r not in done and needs_prediction(rows[by_id[r]], mode)]
        if not todo:
            continue
        if not nets:
            # the user must act: studies that need anatomy will find none in these recordings
            log.warning("segment %s: %d recordings need masks but no model was trained (no recording with masks of %s): "
                        "they stay without masks. Add annotated recordings of this kind to train on (an acdc or camus "
                        "input, or cohort.source: synthetic, whose recordings all have masks)", name, len(todo),
                        ", ".join(model["classes"]))
            continue
        folds = read_table(model_dir / "folds.parquet", SPLITS)
        hashes = {k: sha256_file(model_dir / f"fold{k}" / "model.pt")[:16] for k in nets}
        inputs += [model_dir / f"fold{k}" / "model.pt" for k in sorted(nets)]
        log.info("segment %s: predicting masks of %d recordings (masks: %s)", name, len(todo), mode)
        for n, row in enumerate(todo):
            chosen, how = nets_for(row, nets, folds, mode)
            try:
                masks, update, area, (phases, qc) = segment_recording(row, chosen, model, cslice["qc"]["thresholds"])
            except (ValueError, RuntimeError) as exc:
                log.info("segment %s: %s could not be segmented (%s): left without predicted masks", name,
                         row["recording_id"], exc)
                continue
            rid = row["recording_id"]
            path = masks_dir / f"{rid}.mha"
            _write_mask(masks, row["image_path"], path)
            tag = ":".join([name, how, hashes[int(how[4:])] if how.startswith("fold") else
                            provenance_hash(hashes)])
            update.update(mask_path=str(path), segment_model=tag)
            figure = None
            if n < cslice["figures"] or not qc.passed:
                frame_ms = None if pd.isna(row["frame_time_ms"]) else float(row["frame_time_ms"])
                fig = area_curve_figure(area, phases, frame_ms, f"{rid} ({name})",
                                        unit="ml" if masks.shape[1] > 1 else ("mm²" if not pd.isna(row["spacing_x_mm"]) else "px²"))
                figure = str(save_figure(fig, fig_dir / f"{rid}_lv_curve")[0])
            rows[by_id[rid]].update(update)
            done.add(rid)
            qc_rows.append({"recording_id": rid, "patient_key": row["patient_key"], "source": row["source"], "model": tag,
                            "phase_method": phases.method, "ed_frames": [int(e) for e in phases.ed],
                            "es_frames": [int(e) for e in phases.es],
                            "period_ms": None if phases.period_ms is None else float(phases.period_ms),
                            "qc_pass": qc.passed, "qc_reasons": json.dumps([list(f) for f in qc.failures]),
                            "metrics": json.dumps(qc.metrics, sort_keys=True, default=float), "figure": figure})
    table = pd.DataFrame(rows, columns=RECORDINGS.names)
    failed = table[table["qc_pass"].eq(False)]
    log.info("segment: %d recordings got predicted masks, %d failed quality control%s", len(done), len(failed),
             " (left out of the studies, see results/segment/qc.parquet)" if len(failed) and cslice["qc"]["exclude"] else "")
    prov = provenance.build(rule, provenance.describe_inputs(inputs), cslice, {})
    write_table(pd.DataFrame(qc_rows, columns=SEGMENT_QC.names), out / "qc.parquet", SEGMENT_QC, prov)
    write_table(table, out / "recordings.parquet", RECORDINGS, prov)


def provenance_hash(hashes: dict[int, str]) -> str:
    """One 16-hex digest for an ensemble of folds' weights."""
    import hashlib

    return hashlib.sha256("|".join(hashes[k] for k in sorted(hashes)).encode()).hexdigest()[:16]
