"""Training one fold: seeded, deterministic on CPU, resumable from its last checkpoint.

Writes ``checkpoints/best.ckpt`` (by the monitored validation metric) and ``last.ckpt``; when
``last.ckpt`` exists (a killed job rerun), training resumes from it. Returns the per-epoch
history (epoch, stage, metric, value) and the predictions of the validation and test roles
(sample_id, patient_key, fold, role, y_true, p_<class>..., y_pred) of the best checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch

from cardiolens.train.data import SplitDataModule
from cardiolens.train.module import Classifier
from cardiolens.train.networks import build_dual, build_network, load_pretrained


class History(L.Callback):
    """Epoch metrics as rows; kept in the checkpoint so a resumed run has the whole history."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for key, value in sorted(trainer.callback_metrics.items()):
            stage, _, metric = key.partition("/")
            self.rows.append({"epoch": int(trainer.current_epoch), "stage": stage, "metric": metric, "value": float(value)})

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state["rows"])


def make_network(cfg: dict[str, Any], sample_shape: tuple[int, ...], n_classes: int, representation: str):
    """The configured network for samples of ``sample_shape``, with local pretrained weights if given."""
    spatial_dims = 3 if representation == "clip" else 2
    channels = 1 if representation == "clip" else sample_shape[0]
    if cfg.get("dual_input"):
        net = build_dual(cfg["network"], spatial_dims, channels // 2, n_classes, cfg.get("network_params"))
    else:
        net = build_network(cfg["network"], spatial_dims, channels, n_classes, cfg.get("network_params"))
    if cfg.get("pretrained"):
        load_pretrained(net, cfg["pretrained"])
    return net


def train_fold(samples: pd.DataFrame, splits: pd.DataFrame, normalisation: dict[str, np.ndarray], fold: int,
               cfg: dict[str, Any], out_dir: str | Path, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = Path(out_dir)
    ckpt_dir = out / "checkpoints"
    L.seed_everything(seed + fold, workers=True)
    classes = sorted(samples["label"].unique())
    representation = samples["representation"].iloc[0]
    dm = SplitDataModule(samples, splits, normalisation, fold, classes, cfg["batch_size"], cfg.get("augment", {}),
                         seed + fold, cfg.get("variants"))
    dm.setup()
    shape = tuple(samples["shape"].iloc[0])
    model = Classifier(make_network(cfg, shape, len(classes), representation), len(classes), cfg["lr"], cfg["optimizer"])
    history = History()
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=cfg["monitor"], mode="max",
                                                     save_last=True, enable_version_counter=False)
    callbacks: list[L.Callback] = [checkpoint, history]
    if cfg.get("patience"):
        callbacks.append(L.pytorch.callbacks.EarlyStopping(monitor=cfg["monitor"], mode="max", patience=cfg["patience"]))
    trainer = L.Trainer(max_epochs=cfg["epochs"], accelerator="cpu", deterministic=True, logger=False,
                        callbacks=callbacks, enable_progress_bar=sys.stderr.isatty(),
                        enable_model_summary=False, default_root_dir=str(out))
    last = ckpt_dir / "last.ckpt"
    trainer.fit(model, datamodule=dm, ckpt_path=str(last) if last.exists() else None)
    if not (checkpoint.best_model_path or last.exists()):
        raise RuntimeError(f"fold {fold}: no checkpoint was written (no validation or test samples to monitor {cfg['monitor']})")
    best = Classifier.load_from_checkpoint(checkpoint.best_model_path or str(last), net=model.net, weights_only=False)
    best.eval()
    rows = []
    for role in ("val", "test"):
        ds = dm.datasets[role]
        if not len(ds):
            continue
        with torch.no_grad():
            probs = torch.cat([best(x).softmax(dim=1) for x, _ in dm._loader(role, False)]).numpy()
        meta = dm.roles[role]
        for (_, r), p in zip(meta.iterrows(), probs):
            rows.append({"sample_id": r["sample_id"], "patient_key": r["patient_key"], "fold": fold, "role": role,
                         "y_true": r["label"], **{f"p_{c}": float(v) for c, v in zip(classes, p)},
                         "y_pred": classes[int(np.argmax(p))]})
    return pd.DataFrame(history.rows), pd.DataFrame(rows)
