"""Step 1 (README.md): a segment model's training frames, folds and configuration slice, for drive.py.

    python benchmarks/acdc_segment_gpu/prep.py RUN_DIR DIR --configfile config/config.yaml config/acdc.yaml config/acdc_predicted.yaml
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import yaml


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run directory with results/ingest/recordings.parquet")
    ap.add_argument("out", type=Path)
    ap.add_argument("--configfile", nargs="+", required=True, help="the run's configuration files, in order")
    ap.add_argument("--model", default="cmr_sax")
    args = ap.parse_args()
    from snakemake.utils import update_config

    from cardiolens.config import validate_config
    from cardiolens.segment import labels as SL
    from cardiolens.segment.fit import patient_folds, training_pool
    from cardiolens.segment.frames import training_frames
    from cardiolens.segment.stage import segment_slice
    from cardiolens.tables.parquet import read_table
    from cardiolens.tables.registry import RECORDINGS

    config: dict = {}
    for f in args.configfile:
        update_config(config, yaml.safe_load(Path(f).read_text()))
    cslice = segment_slice(validate_config(config), args.model)
    model = cslice["model"]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(args.run)   # the recordings table's paths are relative to the run directory
    pool, left = training_pool(read_table("results/ingest/recordings.parquet", RECORDINGS), model)
    for r in left:
        print(f"left out of training: {r['recording_id']}: {r['reason']}")
    folds = patient_folds(pool, cslice["split"], cslice["seed"])
    images, labels, meta = training_frames(pool, SL.class_codes(model["classes"]), tuple(model["size"]),
                                           model["spacing_mm"], cslice["frames_per_recording"])
    q = np.round(images * 255).astype(np.uint8)
    np.savez_compressed(out / "frames.npz", images=q, labels=labels)
    (out / "meta.json").write_text(json.dumps({
        "patient_key": meta["patient_key"].astype(str).tolist(),
        "folds": folds.astype({"patient_key": str, "role": str}).to_dict("records")}))
    (out / "cslice.json").write_text(json.dumps(cslice))
    print(f"{len(images)} frames of {meta['patient_key'].nunique()} patients, {folds['fold'].nunique()} folds; "
          f"8-bit error at most {np.abs(q / 255 - images).max():.4f}")


if __name__ == "__main__":
    main()
