"""Class activation maps on Captum's layer machinery: Grad-CAM and Grad-CAM++.

Grad-CAM (Selvaraju et al., ICCV 2017) is Captum's ``LayerGradCam``: channel weights are the
spatial mean of the gradients, the map is ReLU(sum_k w_k A_k).

Grad-CAM++ (Chattopadhyay et al., WACV 2018, eq. 19 with the exponential score, whose factor
cancels in the normalised map) weights each gradient position:

    alpha_ij^k = g_ij^2 / (2 g_ij^2 + sum_ab A_ab^k g_ij^3)     (0 where the denominator is 0)
    w_k        = sum_ij alpha_ij^k ReLU(g_ij^k)
    L          = ReLU(sum_k w_k A^k)

with A the layer's activations and g = dY^c/dA. MONAI's GradCAMpp sums A*g^3 over positions
instead of A over positions times g_ij^3, and fails on batches (STACK-NOTES); Captum has no
Grad-CAM++, so this class does it batched on ``compute_layer_gradients_and_eval`` as Captum's
own LayerGradCam does.

Shapes: inputs (B, C, *spatial); layer activations (B, K, *s); maps (B, 1, *s) at layer
resolution, upsampled to (B, 1, *spatial) by :func:`upsample` (bilinear / trilinear).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from captum._utils.gradient import compute_layer_gradients_and_eval
from captum.attr import LayerAttribution
from captum.attr._utils.attribution import GradientAttribution
from torch import Tensor, nn


class LayerGradCamPlusPlus(LayerAttribution, GradientAttribution):
    """Grad-CAM++ of ``layer`` (Chattopadhyay et al. 2018), batched, ReLU applied to the map."""

    def __init__(self, forward_func: Callable[..., Tensor], layer: nn.Module) -> None:
        LayerAttribution.__init__(self, forward_func, layer)
        GradientAttribution.__init__(self, forward_func)

    def attribute(self, inputs: Tensor, target: Any = None) -> Tensor:  # type: ignore[override]
        """(B, 1, *s) Grad-CAM++ map of ``target`` (class index per sample) at the layer's resolution."""
        grads, acts = compute_layer_gradients_and_eval(self.forward_func, self.layer, inputs, target)
        g, a = grads[0], acts[0]
        spatial = tuple(range(2, g.dim()))
        g2, g3 = g.pow(2), g.pow(3)
        denom = 2 * g2 + a.sum(dim=spatial, keepdim=True) * g3
        alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(g))
        weights = (alpha * F.relu(g)).sum(dim=spatial, keepdim=True)
        return F.relu((weights * a).sum(dim=1, keepdim=True))


def grad_cam(forward_func: Callable[..., Tensor], layer: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """(B, 1, *s) Grad-CAM with ReLU at the layer's resolution (Captum LayerGradCam)."""
    from captum.attr import LayerGradCam

    return LayerGradCam(forward_func, layer).attribute(x, target=target, relu_attributions=True)


def grad_cam_pp(forward_func: Callable[..., Tensor], layer: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """(B, 1, *s) Grad-CAM++ at the layer's resolution."""
    return LayerGradCamPlusPlus(forward_func, layer).attribute(x, target=target)


def upsample(maps: Tensor, size: tuple[int, ...]) -> Tensor:
    """(B, C, *s) -> (B, C, *size): bilinear (2-D) or trilinear (3-D) through Captum's interpolate."""
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
    return LayerAttribution.interpolate(maps, size, interpolate_mode=mode)


def normalise(maps: Tensor) -> Tensor:
    """Per-sample min-max scaling of (B, ...) maps to [0, 1]; a constant map becomes 0."""
    flat = maps.reshape(maps.shape[0], -1)
    lo, hi = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(flat))
    return out.reshape(maps.shape)
