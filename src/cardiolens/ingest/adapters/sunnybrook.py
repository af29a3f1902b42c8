"""Sunnybrook Cardiac Data manual contours -> label masks of the matching DICOM images.

Layout (Radau et al., Cardiac MR Left Ventricle Segmentation Challenge, MIDAS J 2009):
``contourfiles/<case>/i-contours/IM-0001-NNNN-icontour-manual.txt`` (endocardium) and
``o-contours/...-ocontour-manual.txt`` (epicardium), one ``x y`` pixel coordinate pair per line;
NNNN is the image's InstanceNumber; ``link.csv`` maps DICOM folders (patient_id) to contour
folders (original_id). Inside the i-contour -> LV cavity; between o- and i-contour ->
myocardium; frames without a contour are 255 (not annotated). Rasterised at pixel centres.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.path import Path as Polygon
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens.ingest.dicom_series import Candidate

log = logging.getLogger(__name__)


def read_contour(path: Path) -> NDArray[np.float64]:
    """(N, 2) points of a contour file; ValueError (naming the file, not its folder) when it is
    not at least 3 lines of two finite numbers."""
    import warnings

    try:
        with warnings.catch_warnings():  # numpy warns about an empty file, quoting its full path
            warnings.simplefilter("ignore")
            pts = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError:
        raise ValueError(f"{path.name}: a line is not two numbers") from None
    if pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
        raise ValueError(f"{path.name}: expected at least 3 lines of two finite numbers 'x y'")
    return pts


def exc_text(exc: Exception) -> str:
    """An OSError's reason or a ValueError's message, without the file's folder."""
    return exc.strerror or type(exc).__name__ if isinstance(exc, OSError) else str(exc)


def rasterise(points: NDArray[np.float64], rows: int, cols: int) -> NDArray[np.bool_]:
    """Pixels whose centre (col, row) lies inside the polygon ``points`` (x = col, y = row)."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    inside = Polygon(points).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
    return inside.reshape(rows, cols)


def contour_masks(cand: Candidate, root: Path, options: dict[str, Any]) -> tuple[NDArray[np.uint8] | None, list[str]]:
    """Masks (P, S, H, W) for the stack ``cand`` or (None, []) when no contour folder matches."""
    folder = Path(cand.headers[0].path).parts[0] if len(Path(cand.headers[0].path).parts) > 1 else ""
    link = pd.read_csv(options["contours_link"], dtype=str)
    match = link.loc[link["patient_id"] == folder, "original_id"]
    if match.empty:
        return None, []
    case = Path(options["contours_dir"]) / match.iloc[0]
    if not case.is_dir():
        return None, []
    first = cand.headers[0]
    n_s, n_p = len(cand.grid), len(cand.grid[0])
    masks = np.full((n_p, n_s, first.rows, first.cols), L.UNLABELLED, np.uint8)
    used: list[str] = []
    for s, row in enumerate(cand.grid):
        for p, h in enumerate(row):
            if h.instance_number is None:
                continue
            stem = f"IM-0001-{h.instance_number:04d}"
            inner = case / "i-contours" / f"{stem}-icontour-manual.txt"
            outer = case / "o-contours" / f"{stem}-ocontour-manual.txt"
            if not inner.exists() and not outer.exists():
                continue
            # Only what was drawn is labelled: an i-contour alone says nothing about the
            # myocardium (255 elsewhere); an o-contour alone cannot split cavity from wall.
            # A contour file that cannot be read costs its frame's mask, not the series.
            try:
                outer_pts = read_contour(outer) if outer.exists() else None
                inner_pts = read_contour(inner) if inner.exists() else None
            except (OSError, ValueError) as exc:
                log.warning("manual contour of image %s left out (%s): that frame keeps no mask", stem, exc_text(exc))
                continue
            m = np.full((first.rows, first.cols), L.UNLABELLED, np.uint8)
            if outer_pts is not None:
                inside_outer = rasterise(outer_pts, first.rows, first.cols)
                m[~inside_outer] = L.BACKGROUND
                m[inside_outer] = L.MYOCARDIUM if inner_pts is not None else L.UNLABELLED
                used.append(str(outer))
            if inner_pts is not None:
                m[rasterise(inner_pts, first.rows, first.cols)] = L.LV_CAVITY
                used.append(str(inner))
            masks[p, s] = m
    return (masks, sorted(used)) if used else (None, [])
