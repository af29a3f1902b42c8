"""Training one segmentation model (one fold) through Lightning: seeded and deterministic on CPU.

Training frames are augmented with MONAI's dictionary transforms, the same geometric transform
for image and label (rotation, scaling, translation; labels by nearest neighbour) plus
intensity (gamma contrast, Gaussian noise, and where configured Gaussian blur and a random
monotone grey-level curve). The checkpoint with the best validation Dice is kept.

Several sources in one training set (a synthetic cohort and a few real patients) are balanced
when ``balance_sources`` is set: each epoch draws as many frames as there are, with replacement,
each source equally likely (torch's ``WeightedRandomSampler``). Without it, two CAMUS training
patients (8 frames per fold) beside 256-268 synthetic frames were 3 % of what the network saw
(``benchmarks/segment_real_echo.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray

from cardiolens.logs import adopt_library_loggers
from cardiolens.segment.module import SegSystem, make_unet
from cardiolens.train.run import trainer_kwargs

log = logging.getLogger(__name__)


def _transforms(augment: dict[str, float], seed: int):
    from monai.transforms import (Compose, RandAdjustContrastd, RandAffined, RandGaussianNoised, RandGaussianSmoothd,
                                  RandHistogramShiftd)

    prob = augment["prob"]
    steps = [
        RandAffined(keys=("image", "label"), prob=prob, rotate_range=np.radians(augment["rotation_deg"]),
                    scale_range=augment["zoom"], translate_range=augment["shift_px"], mode=("bilinear", "nearest"),
                    padding_mode="zeros"),
        RandAdjustContrastd(keys="image", prob=prob, gamma=(0.7, 1.5)),
    ]
    if augment.get("smooth", 0) > 0:  # blur: a coarser probe or video (EchoNet's 112 px)
        sigma = (min(0.25, augment["smooth"]), augment["smooth"])
        steps.append(RandGaussianSmoothd(keys="image", prob=prob, sigma_x=sigma, sigma_y=sigma))
    if augment.get("grey_curve", False):  # another scanner's gain and compression curve
        steps.append(RandHistogramShiftd(keys="image", prob=prob, num_control_points=(5, 10)))
    steps.append(RandGaussianNoised(keys="image", prob=prob, std=augment["noise"]))
    t = Compose(steps)
    t.set_random_state(seed)
    return t


class _Frames(torch.utils.data.Dataset):
    """(image (1, H, W) float32, label (1, H, W) int64) pairs, augmented when ``transform`` is set."""

    def __init__(self, images: NDArray, labels: NDArray, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        item = {"image": self.images[i][None].astype(np.float32), "label": self.labels[i][None].astype(np.float32)}
        if self.transform is not None:
            item = self.transform(item)
        image = torch.as_tensor(np.asarray(item["image"]), dtype=torch.float32)
        label = torch.as_tensor(np.asarray(item["label"])).round().long()
        return image, label


def source_weights(groups: NDArray) -> NDArray[np.float64]:
    """(N,) sampling weights of N frames from the (N,) source of each: every source's weights sum
    to 1 / (number of sources)."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return 1.0 / (counts[inverse] * len(counts))


def _train_loader(frames: _Frames, batch_size: int, seed: int, num_workers: int,
                  weights: NDArray | None = None) -> torch.utils.data.DataLoader:
    """Training batches, shuffled, or drawn with ``weights`` (with replacement, as many frames
    per epoch as there are). ``num_workers`` 0 (the default): augmented in the training
    process, bit-reproducible on a CPU. More: MONAI's ``DataLoader`` augments in that many worker
    processes and gives each worker's transforms its own seed drawn from the seeded generator (a
    plain torch loader would hand every worker a copy of one random state, so the workers would
    repeat each other's augmentations); reproducible for a seed and a worker count, but not equal
    to the single-process stream. For GPU machines, where augmenting on one core starves the GPU."""
    g = torch.Generator().manual_seed(seed)
    order: dict[str, Any] = {"shuffle": True, "generator": g}
    if weights is not None:
        order = {"sampler": torch.utils.data.WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.float64),
                                                                   len(frames), replacement=True, generator=g)}
    if num_workers <= 0:
        return torch.utils.data.DataLoader(frames, batch_size=batch_size, num_workers=0, **order)
    from monai.data import DataLoader

    return DataLoader(frames, batch_size=batch_size, num_workers=num_workers, persistent_workers=True,
                      **({"generator": g} | order))


def train_model(images: NDArray, labels: NDArray, roles: NDArray, n_classes: int, cfg: dict[str, Any], seed: int,
                out_dir: str | Path, groups: NDArray | None = None) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train on frames with role 'train', pick the epoch by Dice on role 'val'.

    images (N, H, W) float32, labels (N, H, W) channel indices, roles (N,) 'train' / 'val' / other,
    groups (N,) the source of each frame (balanced with ``cfg['balance_sources']`` when the
    training frames come from more than one).
    Returns the best network (CPU, eval mode) and the history (epoch, stage, metric, value)."""
    adopt_library_loggers()
    L.seed_everything(seed, workers=True)
    train = roles == "train"
    val = roles == "val"
    if not train.any():
        raise ValueError("no training frame: no patient of this model has annotated frames in the train role")
    if not val.any():  # a tiny cohort: monitor on the training frames rather than not at all
        val = train
    net = make_unet(n_classes, cfg["channels"], cfg["num_res_units"])
    system = SegSystem(net, n_classes + 1, cfg["lr"], cfg["weight_decay"], cfg.get("lr_schedule", "constant"), cfg["epochs"])
    weights = None
    if cfg.get("balance_sources") and groups is not None and len(np.unique(groups[train])) > 1:
        weights = source_weights(groups[train])
        log.info("training frames balanced over sources: %s", ", ".join(
            f"{g} {n}" for g, n in zip(*np.unique(groups[train], return_counts=True))))
    train_dl = _train_loader(_Frames(images[train], labels[train], _transforms(cfg["augment"], seed)), cfg["batch_size"],
                             seed, int(cfg.get("num_workers") or 0), weights)
    val_dl = torch.utils.data.DataLoader(_Frames(images[val], labels[val]), batch_size=cfg["batch_size"] * 2,
                                         shuffle=False, num_workers=0)
    ckpt_dir = Path(out_dir) / "checkpoints"
    best = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/dice", mode="max",
                                               enable_version_counter=False)
    trainer = L.Trainer(max_epochs=cfg["epochs"], logger=False, callbacks=[best], enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(out_dir),
                        **trainer_kwargs(cfg))
    trainer.fit(system, train_dataloaders=train_dl, val_dataloaders=val_dl)
    history = pd.DataFrame(system.history, columns=["epoch", "stage", "metric", "value"])
    state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)["state_dict"]
    system.load_state_dict(state)
    net = system.net.to("cpu").float().eval()
    for p in ckpt_dir.glob("*.ckpt"):  # the weights are kept as model.pt by the caller
        p.unlink()
    return net, history
