"""Training one fold: seeded, deterministic on CPU, resumable from its last checkpoint.

Writes ``checkpoints/best.ckpt`` (by the monitored validation metric) and ``last.ckpt``; when
``last.ckpt`` exists and belongs to this job (a killed job rerun; `cardiolens.train.resume`),
training resumes from it, otherwise it starts from scratch. Returns the per-epoch
history (epoch, stage, metric, value) and the predictions of the validation and test roles of
the best checkpoint: (sample_id, patient_key, fold, role, y_true, p_<class>..., y_pred) for
classification, (sample_id, patient_key, fold, role, true_<target>..., pred_<target>...) for
regression.

Hardware comes from the configuration: ``accelerator`` (auto: a GPU when one is present),
``devices``, ``precision`` (e.g. 16-mixed on GPUs) and ``strategy`` (e.g. ddp for several GPUs)
go to the Lightning Trainer unchanged. Runs on the CPU are bit-reproducible
(``deterministic=True``); on GPUs deterministic algorithms are requested with a warning where
CUDA has none, so GPU runs are reproducible only up to such kernels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch

from cardiolens.logs import adopt_library_loggers
from cardiolens.train.data import SplitDataModule
from cardiolens.train.module import System, monitor_mode
from cardiolens.train.resume import checkpoint_to_resume, resume_key
from cardiolens.train.dataset import target_names  # noqa: F401 (re-exported: one import for callers)
from cardiolens.train.networks import make_network  # noqa: F401

log = logging.getLogger(__name__)


def trainer_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """Lightning Trainer hardware arguments from the train configuration (see the module docstring)."""
    accelerator = cfg.get("accelerator") or "auto"
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    return {"accelerator": accelerator, "devices": cfg.get("devices") or "auto", "precision": cfg.get("precision") or "32-true",
            "strategy": cfg.get("strategy") or "auto", "deterministic": True if accelerator == "cpu" else "warn"}


def train_fold(samples: pd.DataFrame, splits: pd.DataFrame, normalisation: dict[str, np.ndarray], fold: int,
               cfg: dict[str, Any], out_dir: str | Path, seed: int,
               resume_context: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Train fold ``fold``; returns (history, predictions) as described in the module docstring
    (predictions None in the non-zero ranks of a multi-GPU run). ``resume_context``: facts besides
    ``cfg`` (all but its epochs), ``seed`` and ``fold`` that a checkpoint must share to be resumed,
    e.g. the input files' sha256 and the code hash (`cardiolens.train.resume.resume_key`)."""
    adopt_library_loggers()
    out = Path(out_dir)
    ckpt_dir = out / "checkpoints"
    task = cfg.get("task", "classification")
    monitor = cfg["monitor"]
    resume_from = checkpoint_to_resume(ckpt_dir, resume_key(cfg, seed, fold, resume_context), cfg["epochs"])
    L.seed_everything(seed + fold, workers=True)
    names = target_names(samples, cfg)
    classes = names if task == "classification" else None
    representation = samples["representation"].iloc[0]
    dm = SplitDataModule(samples, splits, normalisation, fold, classes, cfg["batch_size"], cfg.get("augment", {}),
                         seed + fold, cfg.get("variants"), cfg.get("num_workers", 0))
    dm.setup()
    if dm.monitor_role == "train":  # not a warning: the test patients stay out of the model's selection
        log.info("fold %d has no validation patients (a small study, split val_fraction 0, or a predefined split "
                    "without a 'val' role): its checkpoint is chosen on its own training patients; the test patients "
                    "stay unseen", fold)
    if classes:  # torchmetrics warns on every epoch when a class is absent; say it once, where it matters
        for role in ("val", "test"):
            missing = sorted(set(classes) - set(dm.roles[role]["label"])) if len(dm.roles[role]) else []
            if missing:
                log.info("fold %d: the %s role has no sample of class(es) %s: its AUROC leaves them out "
                         "(a small cohort; see results/split/<study>/balance.parquet)", fold, role, ", ".join(missing))
    shape = tuple(samples["shape"].iloc[0])
    model = System(make_network(cfg, shape, len(names), representation), len(names), task, cfg["lr"], cfg["optimizer"],
                   cfg.get("weight_decay", 0.0))
    mode = monitor_mode(monitor)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode=mode,
                                                     enable_version_counter=False)
    # last.ckpt after every epoch, by a second callback: Lightning 2.6's save_last only writes it
    # when the best checkpoint changed, so a killed job would redo every epoch since the best.
    latest = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1,
                                                 enable_version_counter=False)
    callbacks: list[L.Callback] = [checkpoint, latest]
    if cfg.get("patience"):
        callbacks.append(L.pytorch.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=cfg["patience"]))
    trainer = L.Trainer(max_epochs=cfg["epochs"], logger=False, callbacks=callbacks, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=str(out), **trainer_kwargs(cfg))
    trainer.fit(model, datamodule=dm, ckpt_path=str(resume_from) if resume_from else None)
    last = ckpt_dir / "last.ckpt"
    if not (checkpoint.best_model_path or last.exists()):
        raise RuntimeError(f"fold {fold}: no checkpoint was written (no validation or training samples to monitor {monitor})")
    history = pd.DataFrame(model.history, columns=["epoch", "stage", "metric", "value"])
    if not trainer.is_global_zero:
        return history, None  # DDP: only rank 0 predicts and writes
    best = System.load_from_checkpoint(checkpoint.best_model_path or str(last), net=model.net, map_location="cpu",
                                       weights_only=False)
    best.eval()
    return history, predict(best, dm, fold, names, task)


def predict(model: System, dm: SplitDataModule, fold: int, names: list[str], task: str) -> pd.DataFrame:
    """Predictions of the validation and test roles (columns in the module docstring), on the CPU."""
    model = model.to("cpu").float()
    rows = []
    for role in ("val", "test"):
        if not len(dm.datasets[role]):
            continue
        with torch.no_grad():
            scores = torch.cat([model.scores(model(x)) for x, _ in dm._loader(role, False)]).numpy()
        for (_, r), p in zip(dm.roles[role].iterrows(), scores):
            row = {"sample_id": r["sample_id"], "patient_key": r["patient_key"], "fold": fold, "role": role}
            if task == "classification":
                row.update({"y_true": r["label"], **{f"p_{c}": float(v) for c, v in zip(names, p)},
                            "y_pred": names[int(np.argmax(p))]})
            else:
                row.update({**{f"true_{n}": float(v) for n, v in zip(names, r["targets"])},
                            **{f"pred_{n}": float(v) for n, v in zip(names, p)}})
            rows.append(row)
    return pd.DataFrame(rows)
