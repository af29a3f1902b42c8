"""Whether an ultrasound region's calibration still describes the image it came with.

The pixel spacing of a DICOM echo comes from its 2D tissue region (``PhysicalDeltaX/Y`` of a
``SequenceOfUltrasoundRegions`` item), in the pixel coordinates that region's ``RegionLocation``
values use. When a region lies outside the image, those coordinates are not the image's: the
frames were cut or resized after the regions were written, and the deltas may describe a larger
image. pydicom's own ``examples_ybr_color.dcm`` is such a file: a 240 x 320 image whose tissue
region spans rows 31..414 and columns 84..595 of the 480 x 640 original it was halved from; read
as they are, its deltas give 0.51 mm pixels where the image's are 1.02 mm, and every length and
area measured on it would be halved or quartered.

:func:`downscale_factor` tells a resized image from a cut one by the depth of the imaging sector
the image actually shows: a tissue region spans the sector's depth, so the ratio of the region's
rows to the rows of the pixels the sector occupies (:func:`cardiolens.ingest.sector.nonzero_box`
of the frames ingest kept) is the factor the image was shrunk by. Only a whole factor (2, 3, 4),
matched within 5 %, and with which the region then fits the image, is taken; anything else leaves
the spacing as the file gives it, and ingest says that it could not be checked.
"""

from __future__ import annotations

from numpy.typing import NDArray

from cardiolens.ingest.blanking import Box
from cardiolens.ingest.sector import nonzero_box

#: Relative tolerance of the region-to-sector depth ratio around a whole factor.
RATIO_TOLERANCE = 0.05
#: Largest downscaling factor considered.
MAX_FACTOR = 4


def downscale_factor(region: Box, frames: NDArray) -> int | None:
    """The whole factor k (2..:data:`MAX_FACTOR`) by which (T, H, W) ``frames`` (blanked outside
    the sector) were shrunk after ``region`` (the tissue region whose deltas gave the spacing)
    was written; None when the region fits the image, or no factor explains it."""
    shape = frames.shape[-2:]
    if region.problem(shape) is None:
        return None
    box = nonzero_box(frames)
    if box is None:
        return None
    ratio = (region.row1 - region.row0 + 1) / (box[1] - box[0])
    k = round(ratio)
    if not 2 <= k <= MAX_FACTOR or abs(ratio - k) > RATIO_TOLERANCE * k:
        return None
    scaled = Box(region.row0 // k, region.row1 // k, region.col0 // k, region.col1 // k)
    return k if scaled.problem(shape) is None else None
