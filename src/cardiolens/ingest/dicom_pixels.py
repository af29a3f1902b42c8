"""Pixel decoding and physical calibration of DICOM recordings.

Colour ultrasound (RGB, or YBR converted to RGB by pydicom) becomes grey with the ITU-R BT.601
luma: Y = 0.299 R + 0.587 G + 0.114 B, rounded to uint8. MONOCHROME1 is inverted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom
from numpy.typing import NDArray

from cardiolens.ingest.blanking import Box
from cardiolens.ingest.dicom_scan import pydicom_warnings, quiet_pydicom

BT601 = np.array([0.299, 0.587, 0.114])


class DecodeError(ValueError):
    """Pixel data or calibration of a recording cannot be used; the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class UltrasoundRecording:
    frames: NDArray            # (T, H, W) uint8 (or float32 for >8-bit data)
    spacing_mm: tuple[float, float]   # (x = column, y = row)
    frame_time_ms: float
    r_wave_frames: list[int]   # 0-based
    heart_rate: float | None
    regions: tuple[Box | None, ...] = ()   # SequenceOfUltrasoundRegions rectangles (None: location unusable)
    spacing_region: int | None = None      # index of the region whose deltas gave spacing_mm (None: PixelSpacing)


def to_grey(arr: NDArray, photometric: str) -> NDArray:
    """(T, H, W[, 3]) -> (T, H, W) grey, uint8 when the input is 8-bit."""
    if arr.ndim == 4 and arr.shape[-1] == 3:
        grey = np.tensordot(arr.astype(np.float64), BT601, axes=([-1], [0]))
        return np.clip(np.round(grey), 0, 255).astype(np.uint8) if arr.dtype == np.uint8 else grey.astype(np.float32)
    if photometric == "MONOCHROME1":
        arr = arr.max() - arr
    return arr if arr.dtype == np.uint8 else arr.astype(np.float32)


#: A pixel is coloured when its channels spread by more than this (8-bit levels): grey B-mode
#: stored as RGB or JPEG-YBR spreads by a few levels (pydicom's examples_ybr_color.dcm: 0.03 %
#: of its pixels spread by > 50), colour-flow Doppler by over a hundred.
COLOUR_SPREAD = 60
#: A colour recording with more coloured pixels than this fraction is colour Doppler, not B-mode.
COLOUR_FLOW_FRACTION = 0.01


def coloured_fraction(rgb: NDArray) -> float:
    """Fraction of the pixels of (..., 3) 8-bit colour frames whose channels spread by more than
    :data:`COLOUR_SPREAD`."""
    spread = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1).astype(np.int16)
    return float(np.mean(spread > COLOUR_SPREAD))


def palette_to_rgb(arr: NDArray, ds: pydicom.Dataset) -> NDArray[np.uint8]:
    """PALETTE COLOR indices -> 8-bit RGB through the dataset's lookup tables (16-bit entries
    keep their high byte)."""
    from pydicom.pixels import apply_color_lut

    rgb = apply_color_lut(arr, ds)
    return (rgb >> 8).astype(np.uint8) if rgb.dtype.itemsize > 1 else rgb.astype(np.uint8)


def us_spacing(ds: pydicom.Dataset) -> tuple[tuple[float, float], int | None]:
    """(x, y) pixel spacing in mm from the first 2D tissue region in cm units, else PixelSpacing;
    and the index of that region in SequenceOfUltrasoundRegions (None for PixelSpacing)."""
    for k, region in enumerate(ds.get("SequenceOfUltrasoundRegions", [])):
        if int(region.get("RegionSpatialFormat", 0)) == 1 and int(region.get("PhysicalUnitsXDirection", 0)) == 3 \
                and int(region.get("PhysicalUnitsYDirection", 0)) == 3:
            return (abs(float(region.PhysicalDeltaX)) * 10.0, abs(float(region.PhysicalDeltaY)) * 10.0), k
    ps = ds.get("PixelSpacing")
    if ps is not None and len(ps) == 2:
        return (float(ps[1]), float(ps[0])), None
    raise DecodeError("no_spatial_calibration", "no 2D tissue region in cm (SequenceOfUltrasoundRegions) and no PixelSpacing")


def us_regions(ds: pydicom.Dataset) -> tuple[Box | None, ...]:
    """Every SequenceOfUltrasoundRegions item as an inclusive pixel :class:`Box` (rows MinY0..MaxY1,
    columns MinX0..MaxX1); None for an item whose four RegionLocation values are missing or not
    integers. Empty when the file has no regions."""
    out: list[Box | None] = []
    for region in ds.get("SequenceOfUltrasoundRegions", None) or []:
        try:
            x0, y0, x1, y1 = (int(region[name].value) for name in
                              ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1"))
        except (KeyError, TypeError, ValueError):
            out.append(None)
            continue
        out.append(Box(y0, y1, x0, x1))
    return tuple(out)


def us_frame_time(ds: pydicom.Dataset) -> float:
    """Frame time in ms: FrameTime, else the mean of FrameTimeVector (its first entry is 0),
    else 1000 / (Cine|RecommendedDisplayFrame) rate; an attribute whose value is not a positive
    number (a FrameTime of 0) is passed over for the next."""
    unusable = []
    for name in ("FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate"):
        value = ds.get(name)
        if value in (None, ""):
            continue
        try:
            if name == "FrameTime":
                return _positive(value, name)
            if name == "FrameTimeVector":
                values = list(value) if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
                if len(values) > 1:
                    return float(np.mean([_positive(v, name) for v in values[1:]]))
                continue
            return 1000.0 / _positive(value, name)
        except DecodeError:
            unusable.append(name)
    if unusable:
        raise DecodeError("malformed_metadata", f"no usable frame timing ({', '.join(unusable)} not a positive number)")
    raise DecodeError("missing_attribute", "no frame timing (FrameTime, FrameTimeVector, CineRate)")


def _positive(value: object, name: str) -> float:
    """A finite positive number from a DICOM value, else DecodeError naming the attribute."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number > 0):
        raise DecodeError("malformed_metadata", f"{name} is not a positive number")
    return number


def _optional_number(value: object) -> float | None:
    """A finite positive number, or None for an absent or unreadable value (HeartRate)."""
    try:
        return _positive(value, "") if value not in (None, "") else None
    except DecodeError:
        return None


def r_wave_frames(value: object, n_frames: int) -> list[int]:
    """0-based frames of RWavePointer's 1-based frame numbers within the recording; values that
    are not whole numbers are dropped."""
    values = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
    frames = []
    for v in values:
        number = _optional_number(v)
        if number is not None and number.is_integer() and 0 <= int(number) - 1 < n_frames:
            frames.append(int(number) - 1)
    return sorted(set(frames))


def decoded_pixels(ds: pydicom.Dataset) -> NDArray:
    """``ds.pixel_array``, or DecodeError naming the transfer syntax and why no decoder read it
    (pydicom's plugins: its own, Pillow and GDCM; docs/own-data.md lists what they cover)."""
    try:
        with pydicom_warnings() as notices:
            arr = ds.pixel_array
    except StopIteration:  # pydicom's frame generator ran out before NumberOfFrames frames
        raise DecodeError("frame_count_mismatch", f"the pixel data holds fewer frames than NumberOfFrames "
                          f"({ds.get('NumberOfFrames')})") from None
    except Exception as exc:
        meta = getattr(ds, "file_meta", None)
        uid = meta.get("TransferSyntaxUID") if meta is not None else None
        syntax = f" ({uid.name})" if uid is not None else ""
        why = " ".join(str(exc).split())
        raise DecodeError("pixel_decode_error", f"pixel data{syntax} cannot be decoded: {type(exc).__name__}: {why}") from None
    if any("frames have been found in the encapsulated pixel data" in m for m in notices):
        raise DecodeError("frame_count_mismatch", f"the pixel data holds {len(arr)} frames, NumberOfFrames says "
                          f"{ds.get('NumberOfFrames')}")
    return arr


def read_ultrasound(path: str) -> UltrasoundRecording:
    quiet_pydicom()
    with pydicom_warnings():
        ds = pydicom.dcmread(path)
    arr = decoded_pixels(ds)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1))
    if n == 1:
        arr = arr[None]
    if str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR":
        arr = palette_to_rgb(arr, ds)
    elif spp == 3 and arr.ndim != 4:
        raise DecodeError("pixel_decode_error", f"unexpected colour array shape {arr.shape}")
    if arr.ndim == 4 and arr.dtype == np.uint8 and (share := coloured_fraction(arr)) > COLOUR_FLOW_FRACTION:
        raise DecodeError("unsupported", f"colour Doppler: {100 * share:.1f} % of the pixels are coloured "
                          "(B-mode recordings only)")
    frames = to_grey(arr, str(ds.get("PhotometricInterpretation", "")))
    rw = ds.get("RWavePointer")
    r_frames = r_wave_frames(rw, frames.shape[0]) if rw is not None else []
    spacing, spacing_region = us_spacing(ds)
    return UltrasoundRecording(frames, spacing, us_frame_time(ds), r_frames, _optional_number(ds.get("HeartRate")),
                               us_regions(ds), spacing_region)


def read_mr_frames(path: str) -> NDArray[np.float32]:
    """The (N, H, W) stored values of a multi-frame MR file, as float32 and not rescaled (an
    enhanced MR frame's rescale is in its functional groups:
    :func:`cardiolens.ingest.dicom_scan.enhanced_mr_frames`)."""
    quiet_pydicom()
    with pydicom_warnings():
        ds = pydicom.dcmread(path)
    arr = decoded_pixels(ds).astype(np.float32)
    if arr.ndim == 2:  # an enhanced MR file of one frame
        arr = arr[None]
    if arr.ndim != 3:
        raise DecodeError("pixel_decode_error", f"a multi-frame MR file decoded to shape {arr.shape}, not (frames, rows, columns)")
    return arr


def read_mr_image(path: str) -> NDArray[np.float32]:
    """One single-frame MR image (H, W) in stored units times RescaleSlope plus RescaleIntercept."""
    quiet_pydicom()
    with pydicom_warnings():
        ds = pydicom.dcmread(path)
    arr = decoded_pixels(ds).astype(np.float32)
    try:
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
    except (TypeError, ValueError):
        slope = intercept = float("nan")
    if not (np.isfinite(slope) and np.isfinite(intercept)):
        raise DecodeError("malformed_metadata", "RescaleSlope or RescaleIntercept is not a number")
    return arr * np.float32(slope) + np.float32(intercept)
