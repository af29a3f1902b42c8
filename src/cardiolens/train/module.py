"""The LightningModule: a classifier system wrapping a network passed in from outside."""

from __future__ import annotations

import lightning as L
import torch
import torchmetrics
from torch import nn


class Classifier(L.LightningModule):
    """Cross-entropy classification with per-stage accuracy and AUROC (one-vs-rest for > 2 classes)."""

    def __init__(self, net: nn.Module, num_classes: int, lr: float = 1e-3, optimizer: str = "adam"):
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net
        self.loss = nn.CrossEntropyLoss()
        task = "binary" if num_classes == 2 else "multiclass"
        kw = {"task": "multiclass", "num_classes": num_classes}
        self.metrics = nn.ModuleDict({
            stage: torchmetrics.MetricCollection({"acc": torchmetrics.Accuracy(**kw), "auroc": torchmetrics.AUROC(**kw)})
            for stage in ("train_", "val_", "test_")
        })
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self.loss(logits, y)
        self.metrics[stage + "_"].update(logits.softmax(dim=1), y)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=stage != "test", batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def _epoch_end(self, stage: str) -> None:
        values = self.metrics[stage + "_"].compute()
        self.log_dict({f"{stage}/{k}": v for k, v in values.items()}, prog_bar=stage == "val")
        self.metrics[stage + "_"].reset()

    def on_train_epoch_end(self) -> None:
        self._epoch_end("train")

    def on_validation_epoch_end(self) -> None:
        self._epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._epoch_end("test")

    def configure_optimizers(self):
        if self.hparams.optimizer == "sgd":
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
