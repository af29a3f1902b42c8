"""Which layer a class activation map is taken from: by name, or the last spatial one.

A model's candidate layers are the modules whose output keeps spatial axes ((B, K, *s) with
at least two spatial axes, not all of size 1), in the order the forward pass runs them. ``auto`` takes the last
of them (for MONAI's DenseNet ``class_layers.relu``: the final feature maps after BN+ReLU, the
layer MONAI's own CAM examples use). A dual-input model (``ed`` and ``es`` branches) gets one
layer per branch; a name is then given relative to the branch.
"""

from __future__ import annotations

import torch
from torch import nn

from cardiolens.errors import InputError


class LayerNameError(InputError):
    """The configured layer name is not a spatial layer of the model (the message lists them)."""


def spatial_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the modules with a (B, K, *s) output, len(s) >= 2 and max(s) > 1, in execution order."""
    order: list[str] = []
    hooks = []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(mod, inp, out, name=name):
            if isinstance(out, torch.Tensor) and out.dim() >= 4 and max(out.shape[2:]) > 1 and name not in order:
                order.append(name)

        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    return order


def branches(model: nn.Module) -> list[str]:
    """'' for a single-input model; ['ed', 'es'] for cardiolens' DualInput."""
    from cardiolens.train.networks import DualInput

    return ["ed", "es"] if isinstance(model, DualInput) else [""]


def resolve_layers(model: nn.Module, name: str, example: torch.Tensor) -> list[str]:
    """Full module names of the CAM layer, one per model input (branch).

    Raises:
        LayerNameError: ``name`` is not one of the spatial layers; the message lists them.
    """
    valid = spatial_layers(model, example)
    out = []
    for branch in branches(model):
        prefix = f"{branch}." if branch else ""
        own = [v[len(prefix):] for v in valid if v.startswith(prefix)]
        if not own:
            raise LayerNameError(f"the model has no layer with a spatial output{' in branch ' + branch if branch else ''}")
        if name == "auto":
            out.append(prefix + own[-1])
        elif name in own:
            out.append(prefix + name)
        else:
            raise LayerNameError(f"attribute.layer {name!r} is not a spatial layer of this network; valid names: {own}")
    return out
