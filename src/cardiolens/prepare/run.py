"""Entry point of the prepare stage with files at the edges (used by Snakemake)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from cardiolens import provenance
from cardiolens.errors import StudyInputError
from cardiolens.prepare.samples import ROI_BITS, prepare_study, study_problem
from cardiolens.prepare.select import SELECTION_KEYS
from cardiolens.tables import read_table, write_table
from cardiolens.tables.registry import RECORDINGS, SAMPLES


def study_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """The configuration one study's samples depend on (only its own representation block)."""
    cfg = config["studies"][study]
    rep = cfg["representation"]
    out = {"study": study, "label": cfg["label"], "modality": cfg.get("modality"), "representation": rep,
           rep: cfg[rep], "shard_size": config["prepare"]["shard_size"]}
    # Only when set, so the slices (and the hashes that decide reruns) of existing studies keep their value.
    out.update({k: cfg[k] for k in ("classes", "targets", *SELECTION_KEYS) if cfg.get(k)})
    if not config["segment"]["qc"]["exclude"]:
        out["keep_failed_qc"] = True
    if (config.get("predict") or {}).get("bundle"):
        out["inference"] = True  # new recordings for a trained model: any subset of its classes will do
    return out


def run_study(recordings_path: str, cslice: dict[str, Any], out_dir: str, workers: int, rule: str = "prepare_study") -> Path:
    """Prepare one study into ``out_dir`` (shards/ and samples.parquet); shards are swapped in atomically."""
    recordings = read_table(recordings_path, RECORDINGS)
    out = Path(out_dir)
    partial, final = out / "shards.partial", out / "shards"
    if partial.exists():
        shutil.rmtree(partial)
    samples, skipped = prepare_study(recordings, cslice["study"], cslice, partial, cslice["shard_size"], workers)
    problem = study_problem(recordings, samples, skipped, cslice["study"], cslice)
    if problem:
        shutil.rmtree(partial, ignore_errors=True)
        raise StudyInputError(problem)
    if len(samples):
        for col in ("array_path", "roi_path"):
            samples[col] = [str(final / Path(p).name) for p in samples[col]]
    if final.exists():
        shutil.rmtree(final)
    partial.mkdir(parents=True, exist_ok=True)
    os.replace(partial, final)
    inputs = provenance.describe_inputs([recordings_path, *sorted(final.glob("*.npy"))])
    prov = provenance.build(rule, inputs, cslice, {"roi_bits": ROI_BITS, "skipped": json.loads(skipped.to_json(orient="records"))})
    return write_table(samples.reindex(columns=SAMPLES.names), out / "samples.parquet", SAMPLES, prov)
