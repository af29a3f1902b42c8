"""ED/ES frames for the cardiomyopathy study: selection, isotropic resampling, windowing, LV crop.

Choices, in order of preference:
- ED/ES from the recording's metadata (Info.cfg, DICOM trigger, ground truth);
- else from the LV-area curve of the masks: ED = largest LV cavity, ES = smallest;
- else an image-based estimate: the frames at the two ends of the first principal component of
  the frame intensities (blood-pool area dominates the frame-to-frame variance in cine-MR and
  echo), ED being the end nearer frame 0 (cines are triggered on the R wave).
Windowing (Ouyang/ACDC-style intensity normalisation): intensities are clipped to the 1st and
99th percentiles inside the heart region (LV, myocardium, RV of the ED mask dilated by 10 mm;
the central half of the image when there is no mask) and scaled to [0, 1].
The crop is centred on the LV-cavity centroid at ED (image centre without a mask) and padded
with zeros where it leaves the image. A slice whose ES frame has no labels takes the window
region and the centre from its ED mask alone.

Mask-guided crops (``frames.crop: heart``): centred on the heart (bounding box of LV, myocardium
and RV in the slice's ED and ES masks together) and scaled per recording so that the heart's
largest extent over all slices and both phases spans ``heart_fill`` of the crop, the recipe of the ACDC
classification entries that crop on their own segmentation (Isensee et al. 2017, Khened et al.
2019: ROI from the predicted heart, resampled to a fixed size). One scale per recording keeps
the slices' relative sizes; the absolute size is then left to the cardiac indices. Optionally the
image is zeroed farther than ``background_mm`` from the heart of the ED or ES mask, so the
network sees only the heart and its immediate surroundings.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cardiolens import labels as L
from cardiolens.prepare.resample import resample_array

HEART = (L.LV_CAVITY, L.MYOCARDIUM, L.SEPTUM, L.RV_CAVITY)


def select_ed_es(ed: int | None, es: int | None, masks: NDArray | None, frames: NDArray) -> tuple[int, int, str]:
    """(ED, ES, method) for a (T, ...) recording; method is 'metadata', 'lv_area' or 'image_pca'."""
    if ed is not None and es is not None:
        return int(ed), int(es), "metadata"
    if masks is not None:
        labelled = [t for t in range(masks.shape[0]) if (masks[t] != L.UNLABELLED).any()]
        if len(labelled) >= 2:
            area = {t: int((masks[t] == L.LV_CAVITY).sum()) for t in labelled}
            if max(area.values()) > 0:
                return max(area, key=area.get), min(area, key=area.get), "lv_area"
    flat = frames.reshape(frames.shape[0], -1).astype(np.float64)
    flat -= flat.mean(axis=0)
    pc = np.linalg.svd(flat, full_matrices=False)[0][:, 0]
    lo, hi = int(np.argmin(pc)), int(np.argmax(pc))
    ed_i, es_i = (lo, hi) if lo <= hi else (hi, lo)
    return ed_i, es_i, "image_pca"


def isotropic(image: NDArray, spacing: tuple[float, float], pixel_mm: float, label: bool = False) -> NDArray:
    """(H, W) with (row, col) spacing -> pixel_mm square pixels over the same extent."""
    shape = (max(1, round(image.shape[0] * spacing[0] / pixel_mm)), max(1, round(image.shape[1] * spacing[1] / pixel_mm)))
    return resample_array(image, spacing, shape, label)[0]


def heart_region(mask: NDArray | None, shape: tuple[int, int], pixel_mm: float) -> NDArray[np.bool_]:
    if mask is not None and np.isin(mask, HEART).any():
        return ndimage.binary_dilation(np.isin(mask, HEART), iterations=max(1, round(10 / pixel_mm)))
    region = np.zeros(shape, bool)
    h, w = shape
    region[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
    return region


def window(image: NDArray, region: NDArray[np.bool_], percentiles: tuple[float, float]) -> NDArray[np.float32]:
    lo, hi = np.percentile(image[region], percentiles)
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((image - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def heart_box(mask: NDArray) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1), inclusive: the bounding box of the heart labels (LV, myocardium,
    septum, RV) of a (..., H, W) label ``mask`` over all its leading axes; None without any."""
    rows, cols = np.nonzero(np.isin(mask, HEART).reshape(-1, *mask.shape[-2:]).any(axis=0))
    if not rows.size:
        return None
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def heart_extent_mm(masks: list[NDArray], spacing: tuple[float, float]) -> float | None:
    """Largest side in mm of the heart's bounding box in any of ``masks``, each (..., H, W) label
    masks with (row, col) spacing whose leading axes (e.g. ED and ES of one slice) share one box.

    None when no mask holds a heart label (LV, myocardium, septum, RV).
    """
    boxes = [b for b in map(heart_box, masks) if b is not None]
    if not boxes:
        return None
    return float(max(max((r1 - r0 + 1) * spacing[0], (c1 - c0 + 1) * spacing[1]) for r0, r1, c0, c1 in boxes))


def heart_centre(mask: NDArray | None, shape: tuple[int, int]) -> tuple[float, float]:
    """(row, col) centre of the heart's bounding box in a (..., H, W) ``mask`` (over all leading
    axes); the centre of the (H, W) ``shape`` without a heart."""
    box = None if mask is None else heart_box(mask)
    if box is None:
        return (shape[0] - 1) / 2, (shape[1] - 1) / 2
    r0, r1, c0, c1 = box
    return (r0 + r1) / 2, (c0 + c1) / 2


def crop(image: NDArray, centre: tuple[float, float], size: int) -> NDArray:
    """size x size crop centred on ``centre`` (row, col), zero-padded outside the image."""
    r0 = int(round(centre[0])) - size // 2
    c0 = int(round(centre[1])) - size // 2
    out = np.zeros((size, size), dtype=image.dtype)
    rs, cs = max(r0, 0), max(c0, 0)
    re, ce = min(r0 + size, image.shape[0]), min(c0 + size, image.shape[1])
    if re > rs and ce > cs:
        out[rs - r0: re - r0, cs - c0: ce - c0] = image[rs:re, cs:ce]
    return out


def lv_centre(mask: NDArray | None, shape: tuple[int, int]) -> tuple[float, float]:
    if mask is not None and (mask == L.LV_CAVITY).any():
        r, c = np.nonzero(mask == L.LV_CAVITY)
        return float(r.mean()), float(c.mean())
    return (shape[0] - 1) / 2, (shape[1] - 1) / 2


def ed_es_pair(ed_img: NDArray, es_img: NDArray, ed_mask: NDArray | None, es_mask: NDArray | None,
               spacing: tuple[float, float], pixel_mm: float, size: int, percentiles: tuple[float, float],
               centre_on: Literal["lv", "heart"] = "lv", background_mm: float | None = None
               ) -> tuple[NDArray[np.float32], NDArray[np.uint8] | None, dict[str, Any]]:
    """A (2, size, size) ED+ES sample of one slice and its (2, size, size) masks (None unless
    both phases have one).

    ``centre_on`` is ``lv`` (LV-cavity centroid at ED) or ``heart`` (centre of the bounding box
    of the heart at ED and ES together); ``background_mm`` zeroes the windowed image farther
    than that from the heart of either phase's mask. A phase without a mask leaves the other
    phase's mask to place the window, the centre and the background; with neither, the image
    centre and the central half of the image are used and nothing is zeroed.
    """
    imgs = [isotropic(ed_img, spacing, pixel_mm), isotropic(es_img, spacing, pixel_mm)]
    phases = [isotropic(m, spacing, pixel_mm, label=True) if m is not None else None for m in (ed_mask, es_mask)]
    known = [m for m in phases if m is not None]
    masks = phases if len(known) == 2 else None
    region = heart_region(known[0] if known else None, imgs[0].shape, pixel_mm)
    if centre_on == "heart":  # one box for both phases: through-plane motion moved one ACDC basal heart 8.5 mm
        centre = heart_centre(np.stack(known) if known else None, imgs[0].shape)
    else:
        centre = lv_centre(known[0] if known else None, imgs[0].shape)
    windowed = [window(im, region, percentiles) for im in imgs]
    if background_mm is not None and known:
        heart = np.isin(np.stack(known), HEART).any(axis=0)
        if heart.any():
            near = ndimage.distance_transform_edt(~heart) * pixel_mm <= background_mm
            windowed = [np.where(near, w, 0.0).astype(np.float32) for w in windowed]
    out = np.stack([crop(w, centre, size) for w in windowed])
    out_masks = None
    if masks:
        out_masks = np.stack([crop(m, centre, size) for m in masks]).astype(np.uint8)
        # Pixels the crop padded are not annotated.
        pad = np.stack([crop(np.ones_like(m), centre, size) for m in masks]) == 0
        out_masks[pad] = L.UNLABELLED
    full_lv = masks is not None and int((masks[0] == L.LV_CAVITY).sum()) == int((out_masks[0] == L.LV_CAVITY).sum())
    return out, out_masks, {"centre_px": centre, "lv_inside_crop": bool(full_lv) if masks is not None else None}
