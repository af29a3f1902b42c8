"""Training-throughput benchmark: the full pipeline against a raw PyTorch loop, same network, same run.

Pipeline: samples/splits tables -> SplitDataModule (memory-mapped float16 shard, normalisation,
MONAI online augmentation as configured) -> cardiolens' LightningModule -> Lightning Trainer.
Baseline: the same network, optimiser and batch size in a bare ``for x, y in batches`` loop over
tensors already in memory (normalised, no augmentation, no data loading). Both train for the same
epochs on the same samples; the first epoch of each is a warm-up and is not timed. Validation and
checkpointing are switched off in the pipeline so both measure training only.

Prints training samples per second of each and the ratio pipeline / raw (>= 0.9 is the target:
the platform must cost less than 10 % of throughput). Runs on the GPU as well when one is present
(``--device cuda``).

    python benchmarks/bench_train.py [--samples 512] [--epochs 4] [--size 64] [--batch 4]
                                     [--study septal_flash] [--device cpu|cuda] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

from cardiolens.config import load_config
from cardiolens.train.data import SplitDataModule
from cardiolens.train.module import System
from cardiolens.train.run import make_network


class EpochTimer(L.Callback):
    """Wall time of every training epoch after the first (the warm-up)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._t0)


def make_tables(n: int, shape: tuple[int, ...], folder: Path, seed: int = 0):
    """A study of ``n`` float16 samples in one shard, two classes, 16 patients, all in fold 0's training role."""
    rng = np.random.default_rng(seed)
    arrays = rng.normal(0.5, 0.2, size=(n, *shape)).astype(np.float16)
    path = folder / "arrays-000.npy"
    np.save(path, arrays)
    labels = np.where(np.arange(n) % 2 == 0, "a", "b")
    patients = [f"P{i % 16:02d}" for i in range(n)]
    samples = pd.DataFrame({"sample_id": [f"s{i:05d}" for i in range(n)], "patient_key": patients, "label": labels,
                            "representation": "mmode", "variant": "original", "array_path": str(path),
                            "array_index": np.arange(n), "shape": [list(shape)] * n})
    splits = pd.DataFrame({"patient_key": sorted(set(patients)), "fold": 0, "role": "train"})
    norm = {"fold0_mean": arrays.astype(np.float32).mean(axis=0), "fold0_sd": np.array(float(arrays.std()))}
    return samples, splits, norm


def run_pipeline(samples, splits, norm, cfg, epochs: int, device: str) -> float:
    classes = sorted(samples["label"].unique())
    dm = SplitDataModule(samples, splits, norm, 0, classes, cfg["batch_size"], cfg["augment"], 1, None, cfg["num_workers"])
    dm.setup()
    torch.manual_seed(0)
    model = System(make_network(cfg, tuple(samples["shape"].iloc[0]), len(classes), "mmode"), len(classes), "classification",
                   cfg["lr"], cfg["optimizer"])
    timer = EpochTimer()
    trainer = L.Trainer(max_epochs=epochs, accelerator="gpu" if device == "cuda" else "cpu", devices=1, logger=False,
                        enable_checkpointing=False, limit_val_batches=0, num_sanity_val_steps=0, callbacks=[timer],
                        enable_progress_bar=False, enable_model_summary=False, deterministic=device == "cpu")
    trainer.fit(model, train_dataloaders=dm.train_dataloader())
    return len(dm.datasets["train"]) * (epochs - 1) / sum(timer.times[1:])


def run_raw(samples, norm, cfg, epochs: int, device: str) -> float:
    classes = sorted(samples["label"].unique())
    arrays = np.load(samples["array_path"].iloc[0]).astype(np.float32)
    x_all = torch.from_numpy((arrays - norm["fold0_mean"]) / float(norm["fold0_sd"])).to(device)
    y_all = torch.as_tensor([classes.index(v) for v in samples["label"]], device=device)
    torch.manual_seed(0)
    net = make_network(cfg, tuple(samples["shape"].iloc[0]), len(classes), "mmode").to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    bs, n, times = cfg["batch_size"], len(x_all), []
    net.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad()
            loss = loss_fn(net(x_all[idx]), y_all[idx])
            loss.backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return n * (epochs - 1) / sum(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is a warm-up")
    ap.add_argument("--size", type=int, default=64, help="sample height and width")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the study's)")
    ap.add_argument("--study", default="septal_flash", help="study of config/config.yaml whose train settings are used")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="alternating pipeline/raw runs; the best of each is kept")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    torch.set_num_threads(args.threads)
    cfg = dict(load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")["studies"][args.study]["train"])
    if args.batch:
        cfg["batch_size"] = args.batch
    with tempfile.TemporaryDirectory() as tmp:
        samples, splits, norm = make_tables(args.samples, (1, args.size, args.size), Path(tmp))
        pipe, raw = [], []
        for _ in range(args.repeats):
            pipe.append(run_pipeline(samples, splits, norm, cfg, args.epochs, args.device))
            raw.append(run_raw(samples, norm, cfg, args.epochs, args.device))
    p, r = max(pipe), max(raw)
    print(f"training throughput, {args.device}, {args.samples} samples of 1x{args.size}x{args.size}, batch {cfg['batch_size']}, "
          f"network {cfg['network']} {cfg['network_params']}, augment {cfg['augment']}")
    print(f"  pipeline (tables -> DataModule -> MONAI transforms -> Lightning) {p:8.1f} samples/s  runs {[round(v, 1) for v in pipe]}")
    print(f"  raw PyTorch loop over in-memory tensors                          {r:8.1f} samples/s  runs {[round(v, 1) for v in raw]}")
    print(f"  ratio pipeline / raw {p / r:.3f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
