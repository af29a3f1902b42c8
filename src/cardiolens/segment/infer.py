"""Applying segmentation models to a recording: every frame, back on the source grid.

Several models (the folds of a cross-fitted model) are averaged in probability (an ensemble).
Post-processing keeps the largest connected component of each structure per frame (as nnU-Net's
post-processing: Isensee et al., Nature Methods 2021; MONAI's ``KeepLargestConnectedComponent``
would need scikit-image, which the product does not ship); the raw arg-max is returned too, for quality control.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from cardiolens.segment import grid as G
from cardiolens.segment import labels as SL


def probabilities(nets: list[torch.nn.Module], image: NDArray, spacing_yx: tuple[float, float] | None,
                  size: tuple[int, int], spacing_mm: float | None, batch: int = 64,
                  area: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """(N, H, W) frames of one recording -> (N, C, H, W) class probabilities on the source grid,
    averaged over ``nets``. ``area``: the recording's imaging area (:func:`grid.imaging_area`),
    by default that of these frames."""
    p = G.placement(image.shape[-2:], spacing_yx, size, spacing_mm, G.imaging_area(image) if area is None else area)
    x = torch.from_numpy(G.to_grid(G.normalise(image), p, size))[:, None]
    out = []
    device = next(nets[0].parameters()).device  # the networks' device (a GPU when the stage put them there)
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].to(device)
            probs = torch.stack([net(xb).softmax(dim=1) for net in nets]).mean(dim=0)
            out.append(G.from_grid(probs.float().cpu(), p))
    return torch.cat(out)


def largest_components(channels: NDArray, n_classes: int) -> NDArray[np.uint8]:
    """(N, H, W) channel indices with only the largest 2-D connected component (4-connectivity,
    ``scipy.ndimage.label``) of each class kept per frame; the rest becomes background."""
    from scipy import ndimage

    out = channels.copy()
    for i, frame in enumerate(channels):
        for k in range(1, n_classes + 1):
            comp, n = ndimage.label(frame == k)
            if n > 1:
                sizes = np.bincount(comp.ravel())[1:]
                out[i][(comp > 0) & (comp != 1 + int(np.argmax(sizes)))] = 0
    return out.astype(np.uint8)


def segment_volume(nets: list[torch.nn.Module], image: NDArray, spacing_yx: tuple[float, float] | None,
                   codes: list[int], size: tuple[int, int], spacing_mm: float | None,
                   keep_largest: bool = True, area: tuple[int, int, int, int] | None = None
                   ) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(T, S, H, W) image -> (canonical label map, raw arg-max channels), both (T, S, H, W) uint8.
    ``area``: the recording's imaging area when ``image`` holds only some of its frames."""
    flat = image.reshape(-1, *image.shape[-2:])
    probs = probabilities(nets, flat, spacing_yx, size, spacing_mm, area=area)
    # arg-max over channels made contiguous first: over the strided channel axis it took 8x the
    # network's time (bench_segment.py)
    raw = probs.movedim(1, -1).contiguous().argmax(dim=-1).numpy().astype(np.uint8)
    post = largest_components(raw, len(codes)) if keep_largest else raw
    return SL.to_codes(post, codes).reshape(image.shape), raw.reshape(image.shape)
