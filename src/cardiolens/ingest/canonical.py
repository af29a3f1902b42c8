"""Canonical images: one ITK image per recording, in physical space, written as MetaImage (.mha).

Axis conventions (ITK index order, i.e. reversed NumPy order):
- 2D+t (echo): NumPy (T, H, W) -> ITK (x = column, y = row, t); spacing (dx, dy, frame time ms).
- 3D+t (cine-MR stack): NumPy (T, S, H, W) -> ITK (x, y, z, t); spacing (dx, dy, dz, frame time
  ms); origin = ImagePositionPatient of the first slice (time origin 0); direction columns =
  DICOM row cosine, column cosine, slice normal (ordered base of the stack first), time axis.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def make_image(array: NDArray, spacing: tuple[float, ...], origin: tuple[float, ...] | None = None,
               direction: NDArray[np.float64] | None = None):
    """An ITK image with the given geometry (ITK axis order) from a NumPy array (reversed order)."""
    import itk

    dim = array.ndim
    if len(spacing) != dim:
        raise ValueError(f"spacing {spacing} has {len(spacing)} entries for a {dim}-D array")
    image = itk.image_from_array(np.ascontiguousarray(array))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in (origin if origin is not None else (0.0,) * dim)])
    if direction is not None:
        image.SetDirection(itk.matrix_from_array(np.ascontiguousarray(direction, dtype=np.float64)))
    return image


def write_image(image, path: str | os.PathLike[str]) -> Path:
    """Write compressed MetaImage atomically (temporary name, then rename)."""
    import itk

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    itk.imwrite(image, str(tmp), compression=True)
    os.replace(tmp, path)
    return path


def array_sha256(array: NDArray) -> str:
    """sha256 of an array's shape, dtype and bytes (C order): equal content, equal digest."""
    h = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode("ascii"))
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def read_image(path: str | os.PathLike[str]):
    import itk

    return itk.imread(str(path))


def geometry(image) -> dict[str, list[float]]:
    """Spacing, origin and direction (row-major) of an ITK image as plain lists."""
    import itk

    return {
        "size": [int(v) for v in image.GetLargestPossibleRegion().GetSize()],
        "spacing": [float(v) for v in image.GetSpacing()],
        "origin": [float(v) for v in image.GetOrigin()],
        "direction": itk.array_from_matrix(image.GetDirection()).ravel().tolist(),
    }
