"""Reading NIfTI / MetaImage files with ITK, with the failures real archives produce mapped to reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cardiolens.ingest.model import Reject


#: Bytes per element of the MetaImage element types (MetaIO's MET_* names).
MET_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
             "MET_LONG": 8, "MET_ULONG": 8, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def metaimage_header(path: Path) -> dict[str, str]:
    """``key = value`` pairs of a MetaImage (.mhd) header, keys as written."""
    out = {}
    for line in path.read_text(errors="replace").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def metaimage_problem(path: Path) -> Reject | None:
    """Why the MetaImage ``path`` (.mhd) cannot be read, checked without decoding it, or None.

    Checks the header's ``ElementSpacing``/``ElementSize`` (positive numbers), that its
    ``ElementDataFile`` exists, and, for uncompressed data, that the data file holds exactly
    prod(DimSize) x ElementNumberOfChannels x bytes(ElementType) bytes (a short ``.raw`` is a
    truncated copy). The message names the file and its companion.
    """
    try:
        header = metaimage_header(path)
    except OSError as exc:
        return Reject("unreadable", f"{path.name}: cannot read the header ({type(exc).__name__})")
    for key in ("ElementSpacing", "ElementSize"):
        if key in header:
            try:
                values = [float(v) for v in header[key].split()]
            except ValueError:
                return Reject("no_spatial_calibration", f"{path.name}: unparsable {key}")
            if not values or any(not v > 0 for v in values):
                return Reject("no_spatial_calibration", f"{path.name}: non-positive {key} {values}")
    data_file = header.get("ElementDataFile")
    if not data_file:
        return Reject("malformed_metadata", f"{path.name}: the header names no ElementDataFile")
    if data_file == "LOCAL" or data_file.startswith("LIST"):
        return None
    data = path.parent / data_file
    if not data.is_file():
        return Reject("missing_companion", f"{path.name}: its data file {data_file} is missing")
    if header.get("CompressedData", "False").lower() == "true":
        return None
    try:
        dims = [int(v) for v in header.get("DimSize", "").split()]
        channels = int(header.get("ElementNumberOfChannels", "1"))
    except ValueError:
        return Reject("malformed_metadata", f"{path.name}: unparsable DimSize or ElementNumberOfChannels")
    size = MET_BYTES.get(header.get("ElementType", ""))
    if not dims or size is None:
        return Reject("malformed_metadata", f"{path.name}: DimSize or ElementType missing or unknown")
    expected = int(np.prod(dims)) * channels * size
    actual = data.stat().st_size
    if actual != expected:
        return Reject("truncated", f"{path.name}: its data file {data_file} holds {actual} bytes, "
                      f"the header's DimSize {dims} x {header.get('ElementType')} needs {expected} (truncated copy?)")
    return None


#: NIfTI-1 float datatypes (code: NumPy type): only these can hold NaN.
NIFTI_FLOATS = {16: np.float32, 64: np.float64}


def nifti_non_finite(path: Path) -> int:
    """Voxels of a NIfTI-1 file (.nii or .nii.gz) that are NaN or infinite, read from the file
    itself: ITK's NIfTI reader turns them into 0 without a word. 0 for integer data."""
    import gzip
    import struct

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        header = fh.read(348)
        if len(header) < 348:
            return 0
        order = "<" if struct.unpack("<i", header[:4])[0] == 348 else ">"
        datatype = struct.unpack(order + "h", header[70:72])[0]
        if datatype not in NIFTI_FLOATS:
            return 0
        offset = int(struct.unpack(order + "f", header[108:112])[0])
        fh.read(max(0, offset - 348))
        data = np.frombuffer(fh.read(), dtype=np.dtype(NIFTI_FLOATS[datatype]).newbyteorder(order))
    return int((~np.isfinite(data)).sum())


def read_volume(path: Path) -> tuple[NDArray, tuple[float, ...], tuple[float, ...], NDArray[np.float64]]:
    """(array in NumPy order, spacing, origin, direction) of an image file (ITK axis order).

    Raises :class:`Reject` with the reason of a broken file (a MetaImage is checked by
    :func:`metaimage_problem` first; NaN or infinite voxels are refused).
    """
    import itk

    itk.ProcessObject.SetGlobalWarningDisplay(False)  # NIfTI sform notes flood the logs
    if path.suffix == ".mhd":
        problem = metaimage_problem(path)
        if problem is not None:
            raise problem
    if path.name.endswith((".nii", ".nii.gz")):
        try:
            bad = nifti_non_finite(path)
        except (OSError, EOFError, ValueError) as exc:  # gzip/zlib errors of a damaged file are OSError/EOFError
            raise Reject("truncated", f"{path.name}: the compressed data ends early or is damaged ({type(exc).__name__})") from None
        if bad:
            raise Reject("pixel_decode_error", f"{path.name}: {bad} voxels are NaN or infinite")
    try:
        image = itk.imread(str(path))
    except Exception as exc:  # ITK raises RuntimeError with its own text
        raise Reject("unreadable", f"{path.name}: cannot read image ({type(exc).__name__})") from None
    array = itk.array_from_image(image)
    spacing = tuple(float(v) for v in image.GetSpacing())
    if array.size == 0:
        raise Reject("no_frames", f"{path.name}: empty image")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise Reject("pixel_decode_error", f"{path.name}: {int((~np.isfinite(array)).sum())} voxels are NaN or infinite")
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
