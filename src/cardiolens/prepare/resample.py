"""Resampling of NumPy arrays with physical spacing through ITK, anti-aliased when shrinking.

ITK's ResampleImageFilter does not anti-alias, so images are Gaussian-smoothed before
downsampling with sigma = 0.5 x the new spacing along each shrunk axis (half the shrink
factor in input pixels); images use linear interpolation, label maps nearest neighbour and no
smoothing. The physical extent (shape x spacing) is kept; pixel centres of the output are
placed so that both grids cover the same extent.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def resample_array(array: NDArray, spacing: tuple[float, ...], shape: tuple[int, ...], label: bool = False
                   ) -> tuple[NDArray, tuple[float, ...]]:
    """Resample ``array`` (NumPy axis order, ``spacing`` in the same order) to ``shape``.

    Returns the new array (float32, or uint8 for labels) and its spacing (NumPy order).
    """
    import itk

    if len(spacing) != array.ndim or len(shape) != array.ndim:
        raise ValueError(f"array {array.shape}, spacing {spacing} and shape {shape} disagree in dimension")
    new_spacing = tuple(n * s / m for n, s, m in zip(array.shape, spacing, shape))
    img = itk.image_from_array(np.ascontiguousarray(array).astype(np.uint8 if label else np.float32))
    img.SetSpacing([float(s) for s in spacing[::-1]])
    if not label:
        sigma = [0.5 * new if new > old else 0.0 for new, old in zip(new_spacing[::-1], spacing[::-1])]
        if any(sigma):
            img = itk.discrete_gaussian_image_filter(img, variance=[s**2 for s in sigma], use_image_spacing=True,
                                                     maximum_kernel_width=64)
    image_type = type(img)
    interp = (itk.NearestNeighborInterpolateImageFunction if label else itk.LinearInterpolateImageFunction)[image_type, itk.D].New()
    origin = [0.5 * (new - old) for new, old in zip(new_spacing[::-1], spacing[::-1])]
    resampler = itk.ResampleImageFilter[image_type, image_type].New(
        Input=img, Interpolator=interp, Size=[int(s) for s in shape[::-1]],
        OutputSpacing=list(new_spacing[::-1]), OutputOrigin=origin, DefaultPixelValue=0,
    )
    resampler.Update()
    return np.ascontiguousarray(itk.array_from_image(resampler.GetOutput())), new_spacing
