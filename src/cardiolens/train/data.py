"""Samples and splits -> PyTorch datasets and a LightningDataModule (reads the tables; no random_split).

Each item is read from its memory-mapped shard, cast to float32, normalised with the fold's
training-role statistics (``normalisation.npz`` of the split stage: mean image subtracted, then
divided by the training SD), and augmented online for the training role only:
- contrast factor f in [0.5, 2] around the sample mean (MONAI RandScaleIntensityFixedMean with
  factors (-0.5, 1.0), i.e. scale 1 + v, v in [-0.5, 1]), as in the septal-flash paper;
- rotation, zoom and shift (MONAI RandAffine), as in the cardiomyopathy paper (20 deg, 0.15, 15 %);
- flips only when the study allows them (anatomy is not mirror-symmetric in A4C views).
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
from torch.utils.data import DataLoader, Sampler

from cardiolens.train.dataset import SampleDataset


class EpochSampler(Sampler[int]):
    """Shuffles with a permutation that depends only on (seed, epoch).

    Lightning calls ``set_epoch`` at every epoch (as for DistributedSampler), so a run resumed
    from a checkpoint sees exactly the order, and the augmentation draws, of an uninterrupted
    one; the epoch is passed on to the dataset, which seeds each item's augmentation from it.
    """

    def __init__(self, dataset: "SampleDataset", seed: int, shuffle: bool = True):
        self.dataset, self.seed, self.shuffle, self.epoch = dataset, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.dataset.epoch = epoch

    def __iter__(self):
        n = len(self.dataset)
        if not self.shuffle:
            return iter(range(n))
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(n).tolist())

    def __len__(self) -> int:
        return len(self.dataset)


def build_augment(cfg: dict[str, Any], spatial_shape: tuple[int, ...], seed: int):
    from monai.transforms import Compose, RandAffine, RandFlip, RandScaleIntensityFixedMean

    ops = []
    lo, hi = cfg.get("contrast", [1.0, 1.0])
    if (lo, hi) != (1.0, 1.0):
        ops.append(RandScaleIntensityFixedMean(prob=1.0, factors=(lo - 1.0, hi - 1.0)))
    rot, zoom, shift = cfg.get("rotation_deg", 0.0), cfg.get("zoom", 0.0), cfg.get("shift", 0.0)
    if rot or zoom or shift:
        dims = len(spatial_shape)
        ops.append(RandAffine(prob=1.0, rotate_range=[math.radians(rot)] * (1 if dims == 2 else 3),
                              scale_range=[zoom] * dims, translate_range=[shift * s for s in spatial_shape],
                              padding_mode="zeros"))
    if cfg.get("flip", False):
        ops.append(RandFlip(prob=0.5, spatial_axis=len(spatial_shape) - 1))
    transform = Compose(ops)
    transform.set_random_state(seed=seed)
    return transform if ops else None


class SplitDataModule(L.LightningDataModule):
    """Datasets of one fold from the samples, splits and normalisation of a study."""

    def __init__(self, samples: pd.DataFrame, splits: pd.DataFrame, normalisation: dict[str, np.ndarray], fold: int,
                 classes: list[str] | None, batch_size: int, augment: dict[str, Any], seed: int,
                 variants: list[str] | None = None, num_workers: int = 0):
        super().__init__()
        self.samples, self.splits, self.norm = samples, splits, normalisation
        self.fold, self.classes, self.batch_size, self.augment, self.seed = fold, classes, batch_size, augment, seed
        self.variants, self.num_workers = variants, num_workers

    def setup(self, stage: str | None = None) -> None:
        roles = self.splits[self.splits["fold"] == self.fold][["patient_key", "role"]]
        rows = self.samples.merge(roles, on="patient_key")
        if self.variants:
            rows = rows[rows["variant"].isin(self.variants)]
        mean = self.norm.get(f"fold{self.fold}_mean")
        sd = float(self.norm.get(f"fold{self.fold}_sd", 1.0))
        clip = rows["representation"].iloc[0] == "clip"
        shape = tuple(rows["shape"].iloc[0]) if clip else tuple(rows["shape"].iloc[0])[1:]
        augment = build_augment(self.augment, shape, self.seed)
        self.roles = {role: rows[rows["role"] == role].sort_values("sample_id") for role in ("train", "val", "test")}
        self.datasets = {role: SampleDataset(r, self.classes, mean, sd, augment if role == "train" else None, self.seed, clip)
                         for role, r in self.roles.items()}
        # What the checkpoint is chosen on: the validation role, or, in a fold without validation
        # patients, the training patients unaugmented. Never the test role: its predictions would
        # no longer be independent of the model's selection.
        self.monitor_role = "val" if len(self.datasets["val"]) else "train"
        self.datasets["monitor"] = (self.datasets["val"] if self.monitor_role == "val" else
                                    SampleDataset(self.roles["train"], self.classes, mean, sd, None, self.seed, clip))

    def _loader(self, role: str, shuffle: bool) -> DataLoader:
        ds = self.datasets[role]
        # Workers get a copy of the dataset, so its epoch travels with each epoch's new workers
        # (persistent workers would keep a stale epoch and break resumable augmentation).
        return DataLoader(ds, batch_size=self.batch_size, sampler=EpochSampler(ds, self.seed, shuffle),
                          num_workers=self.num_workers, persistent_workers=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("monitor", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
