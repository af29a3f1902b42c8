"""Reading NIfTI / MetaImage files with ITK, with the failures real archives produce mapped to reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cardiolens.ingest.model import Reject


def read_volume(path: Path) -> tuple[NDArray, tuple[float, ...], tuple[float, ...], NDArray[np.float64]]:
    """(array in NumPy order, spacing, origin, direction) of an image file (ITK axis order)."""
    import itk

    itk.ProcessObject.SetGlobalWarningDisplay(False)  # NIfTI sform notes flood the logs
    if path.suffix == ".mhd":
        data_file = None
        for line in path.read_text(errors="replace").splitlines():
            key = line.split("=")[0].strip()
            if key == "ElementDataFile":
                data_file = line.split("=", 1)[1].strip()
            elif key in ("ElementSpacing", "ElementSize"):
                try:
                    values = [float(v) for v in line.split("=", 1)[1].split()]
                except ValueError:
                    raise Reject("no_spatial_calibration", f"{path.name}: unparsable {key}") from None
                if not values or any(not v > 0 for v in values):
                    raise Reject("no_spatial_calibration", f"{path.name}: non-positive {key} {values}")
        if data_file and data_file != "LOCAL" and not (path.parent / data_file).exists():
            raise Reject("missing_companion", f"{path.name}: data file {data_file} is missing")
    try:
        image = itk.imread(str(path))
    except Exception as exc:  # ITK raises RuntimeError with its own text
        raise Reject("unreadable", f"{path.name}: cannot read image ({type(exc).__name__})") from None
    array = itk.array_from_image(image)
    spacing = tuple(float(v) for v in image.GetSpacing())
    if array.size == 0:
        raise Reject("no_frames", f"{path.name}: empty image")
    if any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise Reject("no_spatial_calibration", f"{path.name}: non-positive or missing spacing {spacing}")
    return array, spacing, tuple(float(v) for v in image.GetOrigin()), itk.array_from_matrix(image.GetDirection())


def check_labels(mask: NDArray, allowed: tuple[int, ...], name: str) -> NDArray[np.uint8]:
    values = np.unique(mask)
    bad = sorted(set(values.tolist()) - set(allowed))
    if bad:
        raise Reject("label_out_of_range", f"{name}: label values {bad[:5]} outside {list(allowed)}")
    return mask.astype(np.uint8)


def remap(mask: NDArray[np.uint8], mapping: dict[int, int]) -> NDArray[np.uint8]:
    lut = np.zeros(256, np.uint8)
    for src, dst in mapping.items():
        lut[src] = dst
    return lut[mask]
