"""Networks from MONAI by name, the dual-input (ED + ES) model, and local pretrained weights.

2D networks take (B, C, H, W) frames or M-modes; 3D networks take (B, C, T, H, W) clips, with
time as the first spatial axis. Weights never come from a hub: ``load_pretrained`` reads a
local file and refuses one that does not match the architecture.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cardiolens.torch_threads import warm_up_vector_math

DENSENETS = {"densenet121": "DenseNet121", "densenet169": "DenseNet169", "densenet201": "DenseNet201"}
RESNETS = ("resnet10", "resnet18", "resnet34", "resnet50")
EFFICIENTNETS = tuple(f"efficientnet-b{i}" for i in range(8))
NAMES = (*DENSENETS, "densenet", *RESNETS, *EFFICIENTNETS, "vgg", "gapcnn")


class GapCNN(nn.Module):
    """A plain CNN of MONAI ``Convolution`` blocks, global average pooling and one linear layer.

    The architecture class of the class activation map (Zhou et al., "Learning Deep Features for
    Discriminative Localization", CVPR 2016): the class score is a linear function of the
    spatially averaged last feature maps, so Grad-CAM of ``features`` is the class activation
    map itself, and it is only as local as that layer's receptive field. Zhou et al. removed
    layers to keep a fine last grid for the same reason. The defaults, 3x3 convolutions with
    ``channels`` (16, 32, 32, 64, 64, 128) and ``strides`` (1, 2, 1, 2, 1, 2), give a last grid of
    1/8 of the input (8x8 at 64 px) whose cells see 29 px, instead of the small DenseNet's 4x4
    cells that each see the whole input.

    Shapes: (B, in_channels, *spatial) -> features (B, channels[-1], *spatial / prod(strides))
    -> (B, out_channels).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int,
                 channels: Sequence[int] = (16, 32, 32, 64, 64, 128), strides: Sequence[int | Sequence[int]] = (1, 2, 1, 2, 1, 2),
                 kernel_size: int = 3, dropout: float = 0.0):
        super().__init__()
        from monai.networks.blocks import Convolution

        if len(channels) != len(strides):
            raise ValueError(f"gapcnn: channels {list(channels)} and strides {list(strides)} need the same length")
        blocks, width = [], in_channels
        for ch, s in zip(channels, strides):
            blocks.append(Convolution(spatial_dims, width, ch, strides=s if isinstance(s, int) else tuple(s), kernel_size=kernel_size, act="relu", norm="batch"))
            width = ch
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool3d(1) if spatial_dims == 3 else nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(width, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.pool(self.features(x)).flatten(1)))


def receptive_field(kernel_size: int, strides: Sequence[int]) -> tuple[int, int]:
    """(receptive field in input pixels, jump = input pixels per last-layer cell) of a chain of
    ``kernel_size`` convolutions with ``strides`` (padding keeps sizes; Araujo et al., Distill 2019)."""
    rf, jump = 1, 1
    for s in strides:
        rf += (kernel_size - 1) * jump
        jump *= s
    return rf, jump


def build_network(name: str, spatial_dims: int, in_channels: int, out_channels: int, params: dict[str, Any] | None = None,
                  spatial_shape: Sequence[int] | None = None) -> nn.Module:
    """A MONAI classifier/regressor: ``name`` in :data:`NAMES`; ``params`` go to its constructor.

    Raises ValueError for an unknown name, and for ``params`` the constructor does not take,
    naming them: a ``--configfile`` that switches networks inherits the ``network_params`` of the
    file below it (Snakemake merges nested keys), and must set them to null or to the new
    network's own.
    """
    try:
        return _construct(name, spatial_dims, in_channels, out_channels, dict(params or {}), spatial_shape)
    except TypeError as err:
        if not params or "argument" not in str(err):
            raise
        raise ValueError(f"network {name!r} does not take the network_params {dict(params)} ({err}); a config file that "
                         f"switches to {name!r} sets train.network_params to null (the network's defaults) or to "
                         f"its own arguments") from err


def _construct(name: str, spatial_dims: int, in_channels: int, out_channels: int, params: dict[str, Any],
               spatial_shape: Sequence[int] | None) -> nn.Module:
    """Build network ``name`` with constructor ``params`` (see :func:`build_network`).

    ``densenet`` is MONAI's configurable DenseNet (e.g. init_features 16, growth_rate 16,
    block_config (4, 4, 4): the small CPU network of STACK-NOTES). ``vgg`` is MONAI's
    ``Classifier``: a plain stack of strided convolutions (``channels``, ``strides``; no residual
    units unless ``num_res_units`` is given) and one dense layer, the VGG-like branch of the
    cardiomyopathy paper; it needs the input's ``spatial_shape``. ``gapcnn`` is :class:`GapCNN`,
    the CAM architecture of Zhou et al. 2016 (convolutions, global average pooling, one linear layer).
    """
    from monai.networks import nets

    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if name in DENSENETS:
        return getattr(nets, DENSENETS[name])(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels, **params)
    if name == "densenet":
        params.setdefault("init_features", 16)
        params.setdefault("growth_rate", 16)
        params["block_config"] = tuple(params.get("block_config", (4, 4, 4)))
        return nets.DenseNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels, **params)
    if name in RESNETS:
        return getattr(nets, name)(spatial_dims=spatial_dims, n_input_channels=in_channels, num_classes=out_channels, **params)
    if name in EFFICIENTNETS:
        return nets.EfficientNetBN(name, pretrained=False, spatial_dims=spatial_dims, in_channels=in_channels,
                                   num_classes=out_channels, **params)
    if name == "vgg":
        if spatial_shape is None:
            raise ValueError("network vgg needs the spatial shape of its input")
        params.setdefault("channels", (16, 32, 64, 128))
        params.setdefault("strides", (2,) * len(params["channels"]))
        params.setdefault("num_res_units", 0)
        return nets.Classifier(in_shape=(in_channels, *spatial_shape), classes=out_channels, **params)
    if name == "gapcnn":
        return GapCNN(spatial_dims, in_channels, out_channels, **params)
    raise ValueError(f"unknown network {name!r}; valid names: {list(NAMES)}")


class DualInput(nn.Module):
    """Two branches (ED and ES) whose features are concatenated, then a dense head.

    The input (B, 2C, ...) is split along channels: the first C go to the ED branch, the rest to
    the ES branch. Head as in the cardiomyopathy paper: 256-128-64 units with dropout
    0.25 / 0.35 / 0.40 (configurable), ReLU between layers.
    """

    def __init__(self, make_branch, branch_features: int, out_channels: int, channels_per_input: int,
                 head: Sequence[int] = (256, 128, 64), dropout: Sequence[float] = (0.25, 0.35, 0.40)):
        super().__init__()
        if len(head) != len(dropout):
            raise ValueError(f"head {list(head)} and dropout {list(dropout)} need the same length")
        self.channels = channels_per_input
        self.ed = make_branch(branch_features)
        self.es = make_branch(branch_features)
        layers: list[nn.Module] = []
        width = 2 * branch_features
        for units, p in zip(head, dropout):
            layers += [nn.Linear(width, units), nn.ReLU(inplace=True), nn.Dropout(p)]
            width = units
        layers.append(nn.Linear(width, out_channels))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 2 * self.channels:
            raise ValueError(f"dual-input model expects {2 * self.channels} channels (ED then ES), got {x.shape[1]}")
        return self.head(torch.cat([self.ed(x[:, : self.channels]), self.es(x[:, self.channels:])], dim=1))


def build_dual(name: str, spatial_dims: int, channels_per_input: int, out_channels: int, params: dict[str, Any] | None = None,
               branch_features: int = 256, head: Sequence[int] = (256, 128, 64), dropout: Sequence[float] = (0.25, 0.35, 0.40),
               spatial_shape: Sequence[int] | None = None) -> DualInput:
    return DualInput(lambda f: build_network(name, spatial_dims, channels_per_input, f, params, spatial_shape), branch_features,
                     out_channels, channels_per_input, head, dropout)


def load_pretrained(model: nn.Module, path: str | os.PathLike[str], strict_head: bool = False) -> nn.Module:
    """Load a local state dict (or a Lightning checkpoint's ``state_dict``) into ``model``.

    Every backbone tensor must exist with the same shape. With ``strict_head=False`` the final
    layer may differ (transfer to another number of classes) and keeps its initialisation.
    Raises FileNotFoundError for a missing file and ValueError naming the mismatched tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.state_dict()
    head_keys = set(list(own)[-2:]) if not strict_head else set()
    missing = [k for k in own if k not in state and k not in head_keys]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and state[k].shape != own[k].shape and k not in head_keys]
    if missing or unexpected or shapes:
        raise ValueError(f"{path}: weights do not match the architecture; missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, shape mismatches {shapes[:5]}")
    usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict({**own, **usable})
    return model


def make_network(cfg: dict[str, Any], sample_shape: tuple[int, ...], n_outputs: int, representation: str):
    """The configured network for samples of ``sample_shape``, with local pretrained weights if given.

    The network is built, and its layers initialised, in float64, then rounded to float32: the
    same seed gives the same initial weights on every CPU. In float32, PyTorch draws normal
    weights (e.g. MONAI's He initialisation) with vectorised log/cos kernels whose last bits depend
    on the kernel the CPU dispatches to: measured on the 3-D DenseNet's first convolution, 1,910 of
    its 5,488 weights differ between the AVX-512 and the default kernels, and a model trained from
    them differs in its scores' last bits. The float64 draw is the same under every kernel.
    MKL's vector math is warmed up on one thread first (`cardiolens.torch_threads`): every model
    is built before its first elementwise ``sqrt``/``exp``/``log``.
    """
    warm_up_vector_math()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        net = _make_network(cfg, sample_shape, n_outputs, representation)
    finally:
        torch.set_default_dtype(previous)
    net = net.float()
    if cfg.get("pretrained"):
        load_pretrained(net, cfg["pretrained"])
    return net


def _make_network(cfg: dict[str, Any], sample_shape: tuple[int, ...], n_outputs: int, representation: str):
    spatial_dims = 3 if representation == "clip" else 2
    channels = 1 if representation == "clip" else sample_shape[0]
    spatial = tuple(sample_shape) if representation == "clip" else tuple(sample_shape[1:])
    if cfg.get("dual_input"):
        head = cfg.get("head") or {}
        net = build_dual(cfg["network"], spatial_dims, channels // 2, n_outputs, cfg.get("network_params"),
                         head=tuple(head.get("units", (256, 128, 64))), dropout=tuple(head.get("dropout", (0.25, 0.35, 0.40))),
                         spatial_shape=spatial)
    else:
        net = build_network(cfg["network"], spatial_dims, channels, n_outputs, cfg.get("network_params"), spatial)
    return net
