"""Attribution maps of one batch by Captum method name, in the sample's own layout.

Layouts (``x`` is what the network takes; the map is what is stored and measured):

- M-mode (B, 1, line, time) -> map (B, 1, line, time): the M-mode's physical axes.
- frames, dual input (B, 2, H, W) (ED, ES) -> map (B, 2, H, W): one map per input.
- frames, single input (B, C, H, W) -> map (B, 1, H, W): channels summed.
- clip (B, 1, T, H, W) -> map (B, T, H, W): over (t, y, x).

Every map is made non-negative and min-max normalised to [0, 1] per sample (over all its
inputs together, so ED and ES keep their relative weight):

- gradcam / gradcampp: ReLU at the layer (Captum LayerGradCam ``relu_attributions=True`` /
  :class:`cardiolens.attribute.cam.LayerGradCamPlusPlus`), then bilinear (trilinear for clips)
  upsampling; the layer-resolution map is returned too ("raw", not normalised).
- integrated_gradients (Sundararajan et al. 2017) and occlusion (Zeiler & Fergus 2014): signed
  evidence; the positive part (evidence *for* the target) is kept.
- saliency (Simonyan et al. 2014) and guided_gradcam (Selvaraju et al. 2017): gradient
  magnitudes; the absolute value is kept.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from cardiolens.attribute.cam import grad_cam, grad_cam_pp, normalise, upsample

METHODS = ("gradcam", "gradcampp", "integrated_gradients", "occlusion", "guided_gradcam", "saliency")
CAM_METHODS = ("gradcam", "gradcampp")


def for_attribution(model: nn.Module) -> nn.Module:
    """A copy in eval mode with in-place activations turned off (Captum's backward hooks on ReLU
    modules - guided backprop - fail on tensors modified in place)."""
    model = copy.deepcopy(model).eval()
    for m in model.modules():
        if hasattr(m, "inplace") and isinstance(m.inplace, bool):
            m.inplace = False
    return model


class LogOdds(nn.Module):
    """Wraps a classifier: (B, K) logits z -> (B, K) log-odds z_c - logsumexp_{j != c} z_j.

    Explaining the log-odds of the class instead of its logit removes the evidence all classes
    share (a softmax is unchanged by adding a constant to every logit), so a map shows what
    separates the class from the others. A model that encodes "marker present -> A" as "no
    marker -> B" puts the marker into B's logit only; the log-odds of A still see it.
    For two classes this is z_A - z_B.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        z = self.model(x)
        k = z.shape[1]
        if k < 2:
            return z
        others = z.unsqueeze(1).expand(-1, k, -1).masked_fill(torch.eye(k, dtype=torch.bool, device=z.device), float("-inf"))
        return z - torch.logsumexp(others, dim=2)


def to_locations(attr: Tensor, x: Tensor, dual: bool) -> Tensor:
    """Input-shaped attributions (B, C, *spatial) -> the map layout of the module docstring."""
    if x.dim() == 5:  # clip: (B, 1, T, H, W) -> (B, T, H, W)
        return attr.sum(dim=1)
    return attr if dual else attr.sum(dim=1, keepdim=True)


def to_input(mask: Tensor, x: Tensor) -> Tensor:
    """A map-layout tensor broadcastable against ``x`` (the inverse of :func:`to_locations`)."""
    return mask.unsqueeze(1) if mask.dim() == x.dim() - 1 else mask


def ig_baseline(x: Tensor, kind: str, black: Tensor | None = None, sigma_px: float = 4.0) -> Tensor:
    """Integrated-gradients baseline: zeros (the training-mean image after normalisation), black
    (raw intensity 0, i.e. ``black`` = -mean / sd) or a Gaussian blur of ``x`` (sigma in pixels)."""
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "black":
        if black is None:
            raise ValueError("the black baseline needs the normalised value of intensity 0")
        return black.to(x).expand_as(x).clone()
    if kind == "blur":
        from monai.networks.layers import GaussianFilter

        return GaussianFilter(x.dim() - 2, sigma_px)(x)
    raise ValueError(f"unknown baseline {kind!r}; valid: zeros, black, blur")


class Attribution(NamedTuple):
    """Maps of one batch (:func:`attribute_with_extent`)."""

    maps: Tensor  # (B, *map layout), per-sample min-max normalised to [0, 1]
    raw: Tensor | None  # CAM methods: the layer-resolution maps (B, inputs, *layer spatial), not normalised
    span: Tensor  # (B,) float64, max - min of each map before normalisation
    max_abs: Tensor  # (B,) float64, max |value| of each map before normalisation


def attribute_batch(model: nn.Module, x: Tensor, target: Tensor, method: str, layers: list[nn.Module], cfg: dict[str, Any],
                    black: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """(maps in [0, 1], raw layer maps or None) of ``method`` for class/output ``target`` (B,):
    :func:`attribute_with_extent` without the extent."""
    a = attribute_with_extent(model, x, target, method, layers, cfg, black)
    return a.maps, a.raw


def attribute_with_extent(model: nn.Module, x: Tensor, target: Tensor, method: str, layers: list[nn.Module],
                          cfg: dict[str, Any], black: Tensor | None = None) -> Attribution:
    """Maps in [0, 1], raw layer maps or None, and each map's span and max |value| before the
    normalisation (for :func:`cardiolens.attribute.sanity.degenerate_extent`: normalisation
    stretches any variation to span 1, so only the unnormalised map shows a near-constant one)
    of ``method`` for class/output ``target`` (B,).

    ``model`` should come from :func:`for_attribution`; ``layers`` holds one CAM layer per input
    (two for a dual-input model). ``cfg`` is the study's ``attribute`` block.
    """
    from captum.attr import GuidedGradCam, IntegratedGradients, Occlusion, Saliency

    dual = len(layers) == 2
    spatial = tuple(x.shape[2:])
    raw = None
    if method in CAM_METHODS:
        fn = grad_cam if method == "gradcam" else grad_cam_pp
        raws = [fn(model, layer, x, target) for layer in layers]  # each (B, 1, *s)
        raw = torch.cat(raws, dim=1)
        up = torch.cat([upsample(r, spatial) for r in raws], dim=1)  # (B, inputs, *spatial)
        maps = up[:, 0] if x.dim() == 5 else up
    elif method == "guided_gradcam":
        mode = "trilinear" if x.dim() == 5 else "bilinear"
        parts = [GuidedGradCam(model, layer).attribute(x, target=target, interpolate_mode=mode).abs() for layer in layers]
        if dual:  # the ED map from the ED branch's CAM, the ES map from the ES branch's
            c = x.shape[1] // 2
            maps = torch.cat([parts[0][:, :c].sum(1, keepdim=True), parts[1][:, c:].sum(1, keepdim=True)], dim=1)
        else:
            maps = to_locations(parts[0], x, dual)
    elif method == "integrated_gradients":
        ig = cfg.get("integrated_gradients", {})
        base = ig_baseline(x, ig.get("baseline", "zeros"), black, ig.get("blur_sigma_px", 4.0))
        attr = IntegratedGradients(model).attribute(x, baselines=base, target=target, n_steps=ig.get("steps", 32),
                                                     internal_batch_size=max(len(x) * 4, 1))
        maps = to_locations(attr, x, dual).clamp(min=0)
    elif method == "occlusion":
        oc = cfg.get("occlusion", {})
        win, stride = oc.get("window", 8), oc.get("stride", 4)
        chans = 1 if (dual or x.dim() == 5) else x.shape[1]
        window = (chans, *[min(win, s) for s in spatial])
        strides = (chans, *[min(stride, s) for s in spatial])
        attr = Occlusion(model).attribute(x, sliding_window_shapes=window, strides=strides, target=target, baselines=0.0,
                                           perturbations_per_eval=max(1, cfg.get("batch_size", 16)))
        maps = to_locations(attr, x, dual).clamp(min=0)
    elif method == "saliency":
        maps = to_locations(Saliency(model).attribute(x, target=target, abs=True), x, dual)
    else:
        raise ValueError(f"unknown attribution method {method!r}; valid: {list(METHODS)}")
    maps = maps.detach().float()
    flat = maps.reshape(maps.shape[0], -1).double()  # (B, locations); every map has locations
    span, max_abs = flat.amax(dim=1) - flat.amin(dim=1), flat.abs().amax(dim=1)
    return Attribution(normalise(maps), raw.detach().float() if raw is not None else None, span, max_abs)
