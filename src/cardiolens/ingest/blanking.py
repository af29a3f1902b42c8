"""Patient privacy in pixels: which part of an image ingest keeps, and zero everywhere else.

Real exports burn the patient's name, ID, birth date and institution into the pixels outside the
imaging area. Before a canonical image is written, every pixel outside the kept area is set to 0,
so no later stage sees them. The rule that chose the kept area (``pixels_kept`` in
``recordings.parquet``):

- ``config_region``: the source's ``options.keep_region`` [row0, row1, col0, col1] (inclusive,
  0-based pixels of the source image), for every recording of that source, any modality. The
  only way to ingest MR files that declare ``BurnedInAnnotation = YES``.
- ``us_regions``: ultrasound with a usable DICOM ``SequenceOfUltrasoundRegions``: the union of
  its rectangles (RegionLocationMinX0/MinY0/MaxX1/MaxY1, inclusive). The image is also cropped
  to the union's bounding box (the canonical image starts at the box's first row and column,
  recorded in ``source_crop_px``; its origin stays 0, as for every echo), so text above or
  beside the imaging area does not even remain as zeros.
- ``us_sector_from_image``: ultrasound without regions (AVI, MetaImage, a DICOM without them)
  or with regions that do not fit the image (a rectangle outside it, empty, or min > max):
  :func:`cardiolens.ingest.sector.sector_from_frames`, the convex hull of the largest
  component of the temporal maximum image above :data:`SECTOR_BACKGROUND` (the 1-2 grey levels
  lossy compression leaves in black areas would join text and sector). Burned-in text is a
  separate component and goes. No crop, so masks given with the recording keep their shape.
- ``all``: MR (or another non-ultrasound modality) without a burned-in annotation flag and
  without ``keep_region``: nothing is blanked.

Masks and evidence maps are not blanked (they are not pixels of the export); they are cropped
with the image so they keep its shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cardiolens.ingest.sector import sector_from_frames

US_REGIONS = "us_regions"
US_SECTOR = "us_sector_from_image"
CONFIG_REGION = "config_region"
ALL = "all"
RULES = (US_REGIONS, US_SECTOR, CONFIG_REGION, ALL)
#: Grey levels (8-bit) counted as black when the sector is found from the image.
SECTOR_BACKGROUND = 2


@dataclass(frozen=True)
class Box:
    """An inclusive pixel rectangle: rows ``row0..row1``, columns ``col0..col1`` (0-based)."""

    row0: int
    row1: int
    col0: int
    col1: int

    @classmethod
    def whole(cls, shape: tuple[int, int]) -> Box:
        """The whole (H, W) image."""
        return cls(0, shape[0] - 1, 0, shape[1] - 1)

    def problem(self, shape: tuple[int, int]) -> str | None:
        """Why this box cannot be used on an (H, W) image (empty, inverted, outside), or None."""
        if self.row0 > self.row1 or self.col0 > self.col1:
            return f"rows {self.row0}..{self.row1}, columns {self.col0}..{self.col1} is empty (min > max)"
        if self.row0 < 0 or self.col0 < 0 or self.row1 >= shape[0] or self.col1 >= shape[1]:
            return (f"rows {self.row0}..{self.row1}, columns {self.col0}..{self.col1} lies outside the "
                    f"{shape[0]} x {shape[1]} image")
        return None

    def as_list(self) -> list[int]:
        return [self.row0, self.row1, self.col0, self.col1]


@dataclass(frozen=True)
class Kept:
    """What ingest kept of a recording's frames (the ``pixels_*`` and ``source_crop_px`` columns)."""

    rule: str               # one of RULES
    crop: Box               # rows/columns of the source frame the canonical image was cut from
    blanked: int            # source pixels per frame not carried into the canonical image (cropped away or set to 0)
    frame_pixels: int       # pixels of one source frame (H x W)

    @property
    def blanked_fraction(self) -> float:
        return self.blanked / self.frame_pixels


def union_mask(boxes: Sequence[Box], shape: tuple[int, int]) -> NDArray[np.bool_]:
    """(H, W) True inside any of ``boxes`` (each already checked against ``shape``)."""
    keep = np.zeros(shape, bool)
    for b in boxes:
        keep[b.row0:b.row1 + 1, b.col0:b.col1 + 1] = True
    return keep


def regions_problem(regions: Sequence[Box | None], shape: tuple[int, int]) -> str | None:
    """Why a recording's ultrasound regions cannot be used on its (H, W) frames, or None.

    ``None`` entries are regions whose location attributes are missing or not integers.
    """
    if not regions:
        return "no SequenceOfUltrasoundRegions"
    for k, box in enumerate(regions):
        why = "its RegionLocation attributes are missing or not integers" if box is None else box.problem(shape)
        if why:
            return f"ultrasound region {k + 1} of {len(regions)}: {why}"
    return None


def blank(array: NDArray, keep: NDArray[np.bool_]) -> NDArray:
    """``array`` (..., H, W) with every pixel outside ``keep`` (H, W) set to 0 (a new array)."""
    return np.where(keep, array, np.zeros((), array.dtype)).astype(array.dtype, copy=False)


def _result(array: NDArray, keep: NDArray[np.bool_], rule: str, crop: Box) -> tuple[NDArray, Kept]:
    out = blank(array, keep)[..., crop.row0:crop.row1 + 1, crop.col0:crop.col1 + 1]
    return np.ascontiguousarray(out), Kept(rule, crop, int(keep.size - keep.sum()), int(keep.size))


def keep_config_region(array: NDArray, region: Sequence[int]) -> tuple[NDArray, Kept]:
    """``array`` (..., H, W) blanked outside ``region`` [row0, row1, col0, col1] (inclusive); no crop.

    Raises ValueError naming the region and the image size when it does not fit the image.
    """
    shape = array.shape[-2:]
    box = Box(*(int(v) for v in region))
    why = box.problem(shape)
    if why:
        raise ValueError(f"options.keep_region {box.as_list()}: {why}")
    return _result(array, union_mask([box], shape), CONFIG_REGION, Box.whole(shape))


def keep_us_regions(frames: NDArray, regions: Sequence[Box]) -> tuple[NDArray, Kept]:
    """(T, H, W) frames blanked outside the union of ``regions`` (valid: :func:`regions_problem`)
    and cropped to the union's bounding box: (T, row1 - row0 + 1, col1 - col0 + 1)."""
    keep = union_mask(regions, frames.shape[-2:])
    crop = Box(min(b.row0 for b in regions), max(b.row1 for b in regions),
               min(b.col0 for b in regions), max(b.col1 for b in regions))
    return _result(frames, keep, US_REGIONS, crop)


def keep_us_sector(frames: NDArray) -> tuple[NDArray, Kept]:
    """(T, H, W) frames blanked outside :func:`sector_from_frames`; same shape. The background
    level is :data:`SECTOR_BACKGROUND` for 8-bit frames, 0 otherwise. A recording black
    everywhere (no pixel above it) has no sector to find and is kept as it is."""
    shape = frames.shape[-2:]
    background = SECTOR_BACKGROUND if frames.dtype == np.uint8 else 0
    keep = sector_from_frames(frames, background) if (frames > background).any() else np.ones(shape, bool)
    return _result(frames, keep, US_SECTOR, Box.whole(shape))


def keep_all(array: NDArray) -> tuple[NDArray, Kept]:
    """``array`` (..., H, W) unchanged, recorded as rule ``all``."""
    shape = array.shape[-2:]
    return array, Kept(ALL, Box.whole(shape), 0, int(shape[0] * shape[1]))


def protect(array: NDArray, modality: str, regions: Sequence[Box | None] | None = None,
            keep_region: Sequence[int] | None = None) -> tuple[NDArray, Kept, str | None]:
    """Apply the module's rules to one recording's pixels, (T, H, W) or (T, S, H, W).

    ``regions``: the DICOM ultrasound regions (None where the format has none). Returns the
    array to write, what was kept, and why the regions were not used (None when they were, or
    when the rule did not look at them). Raises ValueError for a ``keep_region`` that does not
    fit the image.
    """
    if keep_region is not None:
        out, kept = keep_config_region(array, keep_region)
        return out, kept, None
    if modality != "US":
        out, kept = keep_all(array)
        return out, kept, None
    why = "the format has no ultrasound regions" if regions is None else regions_problem(regions, array.shape[-2:])
    if why is None:
        out, kept = keep_us_regions(array, [b for b in regions or [] if b is not None])
    else:
        out, kept = keep_us_sector(array)
    return out, kept, why
