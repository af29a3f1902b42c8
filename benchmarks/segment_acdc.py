"""ACDC segmentation benchmark: train on patients 001-080, Dice/HD95 on 081-100 at ED and ES.

The recordings come from an ingest run of the ACDC training folder (`config/acdc.yaml`'s input);
patient numbers are read back from the data owner's private path mapping (private/acdc/paths.csv),
the way a data owner would define a split by patient. Published reference (ACDC challenge test
set): nnU-Net 0.95 / 0.90 / 0.93 for LV / myocardium / RV (Isensee et al., Nature Methods 2021).

    python benchmarks/segment_acdc.py RUN_DIR [--epochs 50] [--spacing 1.5] [--size 160] [--from-checkpoint CKPT]

RUN_DIR holds results/ingest/recordings.parquet and private/acdc/paths.csv of that ingest run.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from pathlib import Path

import pandas as pd


def roles_by_patient(run: Path, recordings: pd.DataFrame) -> pd.Series:
    """'train' for ACDC patients 001-080, 'test' for 081-100, per recording."""
    paths = pd.read_csv(run / "private" / "acdc" / "paths.csv")
    number = {k: int(m.group(1)) for k, p in zip(paths["path_key"], paths["path"])
              if (m := re.match(r"patient(\d{3})/", p))}
    out = []
    for files in recordings["source_files"]:
        n = {number[f] for f in files if f in number}
        out.append("train" if max(n) <= 80 else "test")
    return pd.Series(out, index=recordings.index)


def evaluate_checkpoint(rec: pd.DataFrame, model: dict, cfg: dict, seed: int, checkpoint: Path) -> pd.DataFrame:
    """Held-out metrics of a Lightning checkpoint of ``fit_model``'s training (same pool, same
    split, same evaluation on the source grid), without training."""
    import torch

    from cardiolens.segment.fit import evaluation_rows, patient_folds, training_pool
    from cardiolens.segment.module import make_unet

    pool, _ = training_pool(rec, model)
    roles = patient_folds(pool, cfg["split"], seed).set_index("patient_key")["role"]
    net = make_unet(len(model["classes"]), cfg["train"]["channels"], cfg["train"]["num_res_units"])
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
    test = [v for v in pool if roles.get(v.row["patient_key"]) == "test"]
    return pd.DataFrame(evaluation_rows(net.eval(), test, model, "acdc_sax", 0, cfg["frames_per_recording"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--spacing", type=float, default=1.5)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--channels", default="16,32,64,128")
    ap.add_argument("--res-units", type=int, default=1)
    ap.add_argument("--lr-schedule", choices=["constant", "poly"], default="constant")
    ap.add_argument("--out", type=Path, default=Path("/tmp/segment_acdc"))
    ap.add_argument("--from-checkpoint", type=Path, default=None,
                    help="evaluate this training's checkpoint (fold0/checkpoints/best.ckpt of an earlier --out, e.g. a "
                         "run stopped before its last epoch: the best epoch by validation Dice so far) instead of training; give the "
                         "same --channels, --res-units, --size and --spacing as that training")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from cardiolens.segment import evaluate as E
    from cardiolens.segment.fit import fit_model

    rec = pd.read_parquet(args.run / "results" / "ingest" / "recordings.parquet")
    rec = rec.assign(acdc_role=roles_by_patient(args.run, rec),
                     image_path=[str(args.run / p) for p in rec["image_path"]],
                     mask_path=[str(args.run / p) if p else None for p in rec["mask_path"]])
    model = {"modality": "MR", "views": ["SAX", "unknown"], "classes": ["rv_cavity", "myocardium", "lv_cavity"],
             "size": [args.size, args.size], "spacing_mm": args.spacing, "keep_largest": True}
    cfg = {"split": {"scheme": "predefined", "column": "acdc_role", "val_fraction": 0.1, "k": 5, "test_fraction": 0.2},
           "frames_per_recording": 2,
           "train": {"epochs": args.epochs, "batch_size": 16, "lr": 2e-3, "weight_decay": 1e-5, "lr_schedule": args.lr_schedule,
                     "channels": [int(c) for c in args.channels.split(",")], "num_res_units": args.res_units,
                     "augment": {"prob": 0.5, "rotation_deg": 15, "zoom": 0.15, "shift_px": 10, "noise": 0.03},
                     "accelerator": "auto"}}
    t0 = time.time()
    if args.from_checkpoint is None:
        out = fit_model(rec, "acdc_sax", model, cfg, 20261122, args.out)
    else:
        out = {"metrics": evaluate_checkpoint(rec, model, cfg, 20261122, args.from_checkpoint)}
    seconds = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    out["metrics"].to_parquet(args.out / "metrics.parquet")
    summary = E.summarise(E.all_phases(out["metrics"]))
    print(summary.to_string())
    print("3-D Dice (the challenge's metric: every slice of a patient's ED or ES stack pooled), mean over patients:")
    print(summary.pivot(index="structure", columns="phase", values="dice_volume_mean").round(3).to_string())
    what = "evaluate" if args.from_checkpoint else "train + evaluate"
    print(f"{what}: {seconds:.0f} s; held-out patients {out['metrics']['patient_key'].nunique()}")


if __name__ == "__main__":
    main()
