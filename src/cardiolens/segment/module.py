"""The segmentation network (MONAI U-Net) and its LightningModule.

U-Net: Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015, as MONAI's residual ``UNet`` (Kerfoot et al., "Left-ventricle quantification using
residual U-Net", STACOM 2018). Loss: MONAI's ``DiceCELoss`` (soft Dice + cross-entropy, the
nnU-Net choice: Isensee et al., Nature Methods 2021). Validation Dice per structure with
MONAI's ``DiceMetric`` on the model grid; the held-out evaluation on the source grid lives in
:mod:`cardiolens.segment.evaluate`.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn


def make_unet(n_classes: int, channels: list[int], num_res_units: int) -> nn.Module:
    """(B, 1, H, W) -> (B, n_classes + 1, H, W) logits; built and initialised in float64 then
    rounded to float32, so a seed gives the same initial weights on every CPU
    (see :func:`cardiolens.train.networks.make_network`), after MKL's vector math is warmed up
    on one thread (`cardiolens.torch_threads`)."""
    from monai.networks.nets import UNet

    from cardiolens.torch_threads import warm_up_vector_math

    warm_up_vector_math()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        net = UNet(spatial_dims=2, in_channels=1, out_channels=n_classes + 1, channels=tuple(channels),
                   strides=(2,) * (len(channels) - 1), num_res_units=num_res_units, norm="batch")
    finally:
        torch.set_default_dtype(previous)
    return net.float()


class SegSystem(L.LightningModule):
    """``net`` maps (B, 1, H, W) images to (B, C, H, W) logits; batches are (image, label (B, 1, H, W))."""

    def __init__(self, net: nn.Module, n_channels: int, lr: float = 1e-3, weight_decay: float = 1e-5,
                 lr_schedule: str = "constant", epochs: int = 1):
        super().__init__()
        from monai.losses import DiceCELoss
        from monai.metrics import DiceMetric

        self.save_hyperparameters(ignore=["net"])
        self.net = net
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True)
        self.dice = DiceMetric(include_background=False, reduction="mean_batch", ignore_empty=True)
        self.history: list[dict[str, Any]] = []
        self._train_loss: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss(self(x), y)
        self._train_loss.append(torch.stack([loss.detach() * len(x), loss.new_tensor(float(len(x)))]))
        return loss

    def validation_step(self, batch, batch_idx):
        from monai.networks.utils import one_hot

        x, y = batch
        pred = self(x).argmax(dim=1, keepdim=True)
        c = self.hparams.n_channels
        self.dice(one_hot(pred, c), one_hot(y, c))

    def on_validation_epoch_end(self) -> None:
        per_class = self.dice.aggregate()
        self.dice.reset()
        mean = torch.nanmean(per_class)
        self.log("val/dice", mean, prog_bar=False)
        if self.trainer.sanity_checking:
            return
        epoch = self.current_epoch
        total, n = torch.stack(self._train_loss).sum(dim=0).tolist() if self._train_loss else (float("nan"), 1.0)
        train_loss = total / n
        self._train_loss = []
        self.history.append({"epoch": epoch, "stage": "train", "metric": "loss", "value": train_loss})
        self.history.append({"epoch": epoch, "stage": "val", "metric": "dice", "value": float(mean)})
        for k, v in enumerate(per_class.tolist(), start=1):
            self.history.append({"epoch": epoch, "stage": "val", "metric": f"dice_{k}", "value": float(v)})

    def configure_optimizers(self):
        """Adam; with ``lr_schedule`` poly, nnU-Net's schedule: lr (1 - epoch / epochs)^0.9, stepped
        per epoch (Isensee et al., "nnU-Net", Nature Methods 2021)."""
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        if self.hparams.lr_schedule == "constant":
            return opt
        if self.hparams.lr_schedule != "poly":
            raise ValueError(f"segment.train.lr_schedule {self.hparams.lr_schedule!r}: expected constant or poly")
        epochs = max(1, int(self.hparams.epochs))
        poly = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: max(0.0, 1.0 - e / epochs) ** 0.9)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": poly, "interval": "epoch"}}
