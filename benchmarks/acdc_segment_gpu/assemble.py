"""Step 3 (README.md): the segment stage's run_fit with the folds' training done on the device.

    python benchmarks/acdc_segment_gpu/assemble.py RUN_DIR DIR DEVICE_OUT
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("folder", type=Path, help="prep.py's output (cslice.json)")
    ap.add_argument("device", type=Path, help="drive.py's $OUT (fold<k>.pt, history.parquet)")
    args = ap.parse_args()
    import logging

    import pandas as pd
    import torch

    import cardiolens.segment.fit as fit
    from cardiolens.segment.module import make_unet
    from cardiolens.segment.stage import run_fit

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cslice = json.loads((args.folder / "cslice.json").read_text())
    device = args.device.resolve()
    history = pd.read_parquet(device / "history.parquet")

    def trained(images, labels, roles, n_classes, cfg, seed, out_dir, groups=None):
        """train_model's contract, from the device: fold k = seed - the run's seed (fit_model's seeds)."""
        k = seed - cslice["seed"]
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        net = make_unet(n_classes, cfg["channels"], cfg["num_res_units"])
        net.load_state_dict(torch.load(device / f"fold{k}.pt", map_location="cpu"))
        print(f"fold {k}: {int((roles == 'train').sum())} train and {int((roles == 'val').sum())} validation frames, "
              "weights from the device", flush=True)
        return net.eval(), history[history["fold"] == k].drop(columns="fold").reset_index(drop=True)

    fit.train_model = trained
    os.chdir(args.run)
    name = cslice["model"]["name"]
    run_fit("results/ingest/recordings.parquet", cslice, f"results/segment/{name}")


if __name__ == "__main__":
    main()
