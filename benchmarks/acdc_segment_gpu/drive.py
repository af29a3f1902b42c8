"""Step 2 (README.md), on the GPU machine: every fold's U-Net trained in its own process.

    PYTHONPATH=src:$PYTHONPATH python benchmarks/acdc_segment_gpu/drive.py DIR [--max-time 00:00:06:20]

Writes $OUT/fold<k>.pt (state dict), $OUT/history.parquet and $OUT/logs.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def train_fold(folder: Path, k: int, out: Path, max_time: str | None) -> str:
    """Train fold ``k`` with cardiolens.segment.train.train_model on the frames of prep.py."""
    import numpy as np
    import pandas as pd
    import torch

    import cardiolens.segment.train as T
    from cardiolens.segment import labels as SL

    torch.set_num_threads(2)
    if max_time:
        trainer_kwargs = T.trainer_kwargs
        T.trainer_kwargs = lambda cfg: {**trainer_kwargs(cfg), "max_time": max_time}
    cslice = json.loads((folder / "cslice.json").read_text())
    z = np.load(folder / "frames.npz")
    meta = json.loads((folder / "meta.json").read_text())
    folds = pd.DataFrame(meta["folds"])
    roles = folds[folds["fold"] == k].set_index("patient_key")["role"]
    frame_roles = pd.Series(meta["patient_key"]).map(roles).to_numpy()
    keep = np.isin(frame_roles, ["train", "val"])
    t0 = time.time()
    net, history = T.train_model(z["images"][keep].astype(np.float32) / 255.0, z["labels"][keep], frame_roles[keep],
                                 len(SL.class_codes(cslice["model"]["classes"])), cslice["model"]["train"],
                                 cslice["seed"] + k, f"/tmp/segment_gpu/fold{k}")
    torch.save(net.state_dict(), out / f"fold{k}.pt")
    history.assign(fold=k).to_parquet(f"/tmp/segment_gpu/history{k}.parquet")
    epochs = int(history["epoch"].max()) + 1 if len(history) else 0
    return f"fold {k}: {int(keep.sum())} frames, {epochs} epochs in {time.time() - t0:.0f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--max-time", default=None, help="DD:HH:MM:SS, Lightning's max_time per fold")
    ap.add_argument("--fold", type=int, default=None, help=argparse.SUPPRESS)  # one fold's process
    args = ap.parse_args()
    out = Path(os.environ.get("OUT", "segment_gpu_out"))
    out.mkdir(parents=True, exist_ok=True)
    Path("/tmp/segment_gpu").mkdir(exist_ok=True)
    if args.fold is not None:
        print(train_fold(args.folder, args.fold, out, args.max_time), flush=True)
        return
    import pandas as pd

    k = len({f["fold"] for f in json.loads((args.folder / "meta.json").read_text())["folds"]})
    extra = ["--max-time", args.max_time] if args.max_time else []
    t0 = time.time()
    procs = [subprocess.Popen([sys.executable, __file__, str(args.folder), "--fold", str(f), *extra],
                              stdout=open(f"/tmp/segment_gpu/log{f}.txt", "w"), stderr=subprocess.STDOUT)
             for f in range(k)]
    logs = []
    for f, p in enumerate(procs):
        p.wait()
        lines = Path(f"/tmp/segment_gpu/log{f}.txt").read_text().splitlines()
        logs += lines
        print(f"fold {f} exit {p.returncode}: " + "; ".join(l for l in lines if l.startswith("fold") or "Error" in l), flush=True)
    hist = [pd.read_parquet(f"/tmp/segment_gpu/history{f}.parquet") for f in range(k)
            if Path(f"/tmp/segment_gpu/history{f}.parquet").exists()]
    if hist:
        pd.concat(hist, ignore_index=True).to_parquet(out / "history.parquet")
    (out / "logs.txt").write_text("\n".join(l for l in logs if "warn" not in l.lower())[-200_000:])
    print(f"all folds {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
