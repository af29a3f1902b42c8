"""What a study's samples give a network, without Lightning (the attribute stage imports this
alone: ``import lightning`` costs ~4 s per job): the item dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from monai.data import set_track_meta
from monai.utils import convert_to_tensor
from torch.utils.data import Dataset

from cardiolens.train.targets import target_names  # noqa: F401 (re-exported)


class SampleDataset(Dataset):
    """Samples of one role: (x, y) with x (C, *spatial) float32 and y the class index (long) or,
    when ``classes`` is None (regression), the row's ``targets`` as float32 (n_targets,)."""

    def __init__(self, rows: pd.DataFrame, classes: list[str] | None, mean: np.ndarray | None = None, sd: float | None = None,
                 transform=None, seed: int = 0, add_channel: bool = False):
        self.rows = rows.reset_index(drop=True)
        # Per-item fields as plain lists: a pandas row lookup costs 0.5 ms per item.
        self._paths = self.rows["array_path"].tolist()
        self._index = self.rows["array_index"].astype(int).tolist()
        if classes is None:
            self._y = [torch.as_tensor(np.asarray(t, np.float32)) for t in self.rows["targets"]]
        else:
            self._y = [torch.tensor(classes.index(v), dtype=torch.long) for v in self.rows["label"]]
        self.add_channel = add_channel  # clips are stored (T, H, W); 3-D networks want (1, T, H, W)
        self.seed, self.epoch = seed, 0
        self.classes = classes
        self.mean = None if mean is None or mean.size == 0 else torch.as_tensor(np.asarray(mean, np.float32))
        self.sd = float(sd) if sd else 1.0
        self.transform = transform
        self._state = np.random.RandomState(seed)
        if transform is not None:
            # Compose.set_random_state would give each transform its own generator, seeded from
            # Compose's: hand the one shared state to every transform instead.
            for t in getattr(transform, "transforms", [transform]):
                t.set_random_state(state=self._state)
            # Plain tensors through the transforms: MONAI's metadata tracking doubles the cost of
            # RandAffine on a 64 px frame (3.1 vs 1.5 ms) and cardiolens never reads the metadata.
            set_track_meta(False)
        self._shards: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def _array(self, path: str, index: int) -> np.ndarray:
        if path not in self._shards:
            self._shards[path] = np.load(path, mmap_mode="r")
        return np.asarray(self._shards[path][index], dtype=np.float32)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self._array(self._paths[i], self._index[i]))
        if self.mean is not None:
            x = (x - self.mean) / self.sd
        if self.add_channel:
            x = x[None]
        if self.transform is not None:
            # Each (epoch, item) draws from its own stream: reproducible and resumable. Every
            # transform shares one RandomState, reseeded per item (0.003 ms; set_random_state
            # builds a new RandomState per sub-transform, 0.7 ms per item).
            self._state.seed(int(np.random.default_rng([self.seed, self.epoch, i]).integers(2**31)))
            # A plain tensor, not MONAI's MetaTensor: metadata tracking through the network costs
            # ~40 % of a CPU training step (measured with cProfile) and is never used.
            x = convert_to_tensor(self.transform(x), dtype=torch.float32, track_meta=False)
        return x, self._y[i]
