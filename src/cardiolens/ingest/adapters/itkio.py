"""Reading NIfTI / MetaImage files with ITK, with the failures real archives produce mapped to reasons."""

from __future__ import annotations

import math
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
        return Reject("missing_companion", f"{path.name}: the data file its header names (ElementDataFile) is missing")
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
        return Reject("truncated", f"{path.name}: its data file (ElementDataFile) holds {actual} bytes, "
                      f"the header's DimSize {dims} x {header.get('ElementType')} needs {expected} (truncated copy?)")
    return None


#: NIfTI float datatypes (code: NumPy type): only these can hold NaN.
NIFTI_FLOATS = {16: np.float32, 64: np.float64}
#: Bytes per voxel of the NIfTI datatypes (nifti1.h), which niftilib sizes the data by (not bitpix).
NIFTI_BYTES = {2: 1, 4: 2, 8: 4, 16: 4, 32: 8, 64: 8, 128: 3, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8, 1536: 16,
               1792: 16, 2048: 32, 2304: 4}
#: NIfTI header layouts by header size: NIfTI-1 (348) and NIfTI-2 (540) give (offset and struct
#: code of) dim, datatype, bitpix and vox_offset (NIfTI-1: nifti1.h; NIfTI-2: nifti2.h).
NIFTI_LAYOUTS = {348: {"dim": (40, "8h"), "datatype": (70, "h"), "bitpix": (72, "h"), "vox_offset": (108, "f")},
                 540: {"dim": (16, "8q"), "datatype": (12, "h"), "bitpix": (14, "h"), "vox_offset": (168, "q")}}


def _gunzip(raw: bytes) -> bytes:
    """gzip data as zlib reads it (as ITK does): every member, bytes after the last ignored;
    EOFError when a member ends early."""
    import zlib

    out = []
    while raw[:2] == b"\x1f\x8b":
        member = zlib.decompressobj(31)
        out.append(member.decompress(raw))
        if not member.eof:
            raise EOFError("compressed data ends before its end-of-stream marker")
        raw = member.unused_data
    return b"".join(out)


def _nifti_bytes(path: Path) -> bytes:
    """The whole NIfTI file, decompressed when it starts with gzip's magic bytes, whatever its
    name says (ITK, through zlib, reads an uncompressed file named .nii.gz as well)."""
    raw = path.read_bytes()
    return _gunzip(raw) if raw[:2] == b"\x1f\x8b" else raw


def nifti_problem(path: Path) -> Reject | None:
    """Why the NIfTI file ``path`` (.nii or .nii.gz, NIfTI-1 or -2) cannot be used, read from the
    file itself, or None: gzip data that ends early or is damaged, voxel data shorter than its
    header's dimensions need (ITK fills the missing part with zeros without a word), or NaN and
    infinite voxels (ITK turns them into 0), or a header without a valid dim[0] and vox_offset.
    Sized as niftilib sizes it: bytes per voxel from the datatype, a dimension below 1 counted as
    1; an unknown datatype is left to ITK."""
    import struct
    import zlib

    try:
        data = _nifti_bytes(path)
    except (OSError, EOFError, zlib.error) as exc:  # a cut or damaged stream
        return Reject("truncated", f"{path.name}: the compressed data ends early or is damaged ({type(exc).__name__})")
    order = next((o for o in "<>" if len(data) >= 4 and struct.unpack(o + "i", data[:4])[0] in NIFTI_LAYOUTS), None)
    if order is None:
        return None  # not a NIfTI header we know: ITK decides
    size = struct.unpack(order + "i", data[:4])[0]
    if len(data) < size:
        return Reject("truncated", f"{path.name}: the file ends inside its {size}-byte header")
    layout = NIFTI_LAYOUTS[size]

    def field(name: str):
        offset, code = layout[name]
        values = struct.unpack_from(order + code, data, offset)
        return values if len(values) > 1 else values[0]

    dim, datatype, offset = field("dim"), field("datatype"), field("vox_offset")
    if not 1 <= dim[0] <= 7 or not (math.isfinite(offset) and offset >= 0):
        return Reject("malformed_metadata", f"{path.name}: the header's dim[0] ({dim[0]}) or vox_offset ({offset}) "
                      "is not valid")
    if datatype not in NIFTI_BYTES:
        return None  # a datatype this table lacks: ITK reads it or refuses it with its own reason
    dims = [max(int(d), 1) for d in dim[1:dim[0] + 1]]
    needed = math.prod(dims) * NIFTI_BYTES[datatype]
    held = len(data) - max(int(offset), size)
    if held < needed:
        return Reject("truncated", f"{path.name}: holds {max(held, 0)} bytes of voxel data, its header's dimensions "
                      f"{dims} need {needed} (a truncated copy?)")
    if datatype in NIFTI_FLOATS:
        voxels = np.frombuffer(data, dtype=np.dtype(NIFTI_FLOATS[datatype]).newbyteorder(order),
                               count=needed // NIFTI_BYTES[datatype], offset=max(int(offset), size))
        bad = int((~np.isfinite(voxels)).sum())
        if bad:
            return Reject("pixel_decode_error", f"{path.name}: {bad} voxels are NaN or infinite")
    return None


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
        problem = nifti_problem(path)
        if problem is not None:
            raise problem
    try:
        image = itk.imread(str(path))
    except Exception as exc:  # ITK raises RuntimeError with its own text, or TemplateTypeError beyond 4-D
        raise Reject("unreadable", f"{path.name}: ITK cannot read this image ({type(exc).__name__}"
                     + ("; images of 2 to 4 dimensions are read)" if type(exc).__name__ == "TemplateTypeError" else ")")) from None
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
