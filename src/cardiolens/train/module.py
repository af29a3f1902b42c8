"""The LightningModule: classification or multi-output regression around a network passed in.

- classification: cross-entropy; torchmetrics accuracy and AUROC (one-vs-rest for > 2 classes);
- regression (e.g. one image-quality score per myocardial region, as the end-to-end network of
  the regional-quality study): mean squared error; torchmetrics MSE and MAE over all outputs.

Metrics are logged per stage as ``<stage>/<metric>`` (``train/loss``, ``val/auroc``, ``val/mse``).
The module also keeps the epoch history itself (one row per epoch, stage and metric) and stores
it in its checkpoints, so a resumed run returns the whole history. Both stages of an epoch are
recorded when its validation ends: by then every training batch of the epoch has been seen
(Lightning validates after the last training batch), so the row for epoch e holds the training
metrics of epoch e, not those of e - 1.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
import torchmetrics
from torch import nn

from cardiolens.train.targets import monitor_mode  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

TASKS = ("classification", "regression")


class System(L.LightningModule):
    """``net`` maps (B, C, *spatial) to (B, outputs): class logits or regression outputs."""

    def __init__(self, net: nn.Module, outputs: int, task: str = "classification", lr: float = 1e-3,
                 optimizer: str = "adam", weight_decay: float = 0.0):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.save_hyperparameters(ignore=["net"])
        self.net = net
        if task == "classification":
            self.loss = nn.CrossEntropyLoss()
            kw = {"task": "multiclass", "num_classes": outputs}
            make = lambda: torchmetrics.MetricCollection(  # noqa: E731
                {"acc": torchmetrics.Accuracy(**kw), "auroc": torchmetrics.AUROC(**kw)})
        else:
            self.loss = nn.MSELoss()
            make = lambda: torchmetrics.MetricCollection(  # noqa: E731
                {"mse": torchmetrics.MeanSquaredError(), "mae": torchmetrics.MeanAbsoluteError()})
        self.metrics = nn.ModuleDict({f"{s}_": make() for s in ("train", "val", "test")})
        self.history: list[dict[str, Any]] = []
        self._outputs: dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = {"train": [], "val": [], "test": []}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        """Class probabilities (classification) or the outputs themselves (regression)."""
        return out.softmax(dim=1) if self.hparams.task == "classification" else out

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        out = self(x)
        loss = self.loss(out, y)
        # Outputs are kept and the metrics computed once per epoch (the same values as updating
        # them per step, at a fraction of the per-step Python cost).
        self._outputs[stage].append((self.scores(out.detach().float()), y, loss.detach() * len(y)))
        # Nothing is self.log-ged per step: Lightning moves its whole result collection between
        # devices after every step that logged, 2 ms per step on a CPU (cProfile), 10 % of a
        # small network's step. Epoch metrics are logged once per epoch (progress bar: val/...).
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def _compute(self, stage: str) -> dict[str, float]:
        outputs, self._outputs[stage] = self._outputs[stage], []
        scores, y = torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])
        metrics = self.metrics[stage + "_"]
        metrics.update(scores, y)
        values = {"loss": torch.stack([o[2] for o in outputs]).sum() / len(y), **metrics.compute()}
        metrics.reset()
        return {k: float(v) for k, v in values.items()}

    def on_validation_epoch_end(self) -> None:
        val = self._compute("val")
        if self.trainer.sanity_checking:
            return
        logged = {f"val/{k}": v for k, v in val.items()}
        if self._outputs["train"]:
            logged.update({f"train/{k}": v for k, v in self._compute("train").items()})
        headline = "val/auroc" if self.hparams.task == "classification" else "val/mse"
        self.log(headline, logged[headline], prog_bar=True, sync_dist=True)
        self.log_dict({k: v for k, v in logged.items() if k != headline}, sync_dist=True)
        epoch = int(self.current_epoch)
        self.history = [r for r in self.history if r["epoch"] != epoch]  # a re-run epoch replaces its rows
        self.history += [{"epoch": epoch, "stage": k.split("/")[0], "metric": k.split("/")[1], "value": v}
                         for k, v in sorted(logged.items())]
        if self.trainer.is_global_zero:  # one line per epoch in the job's log: losses first, then every val metric
            order = ["train/loss", "val/loss"] + sorted(k for k in logged if k.startswith("val/") and k != "val/loss")
            log.info("epoch %d/%d: %s", epoch + 1, self.trainer.max_epochs,
                     "  ".join(f"{k} {logged[k]:.4f}" for k in order if k in logged))

    def on_test_epoch_end(self) -> None:
        self.log_dict({f"test/{k}": v for k, v in self._compute("test").items()}, sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["cardiolens_history"] = list(self.history)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("cardiolens_history", []))

    def configure_optimizers(self):
        hp = self.hparams
        if hp.optimizer == "sgd":
            return torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=0.9, weight_decay=hp.weight_decay)
        return torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
