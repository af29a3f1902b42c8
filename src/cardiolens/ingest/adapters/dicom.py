"""DICOM trees: multi-frame ultrasound, and cine-MR series of single-frame or enhanced multi-frame
files (see dicom_series).

Options: ``stack_series`` (default true: single-slice cine series of one study that form a
short-axis stack become one recording, :func:`cardiolens.ingest.dicom_series.stack_single_slice_series`),
``truth_dir`` (cardiolens ground-truth sidecars), ``contours_dir`` and
``contours_link`` (Sunnybrook manual contours, see :mod:`cardiolens.ingest.adapters.sunnybrook`),
``keep_region`` (the area to keep in every image; see :mod:`cardiolens.ingest.blanking`).

Pixels outside the kept area are blanked here, before the ground truth is matched: an
ultrasound image is cropped to its regions' bounding box, and the sidecar's masks must have the
cropped shape. MR images flagged ``BurnedInAnnotation = YES`` are rejected
(``burned_in_annotation``) unless ``keep_region`` is set; so is an ultrasound file flagged YES
in which neither its regions nor the sector found from the image leave anything to blank.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.ingest import blanking
from cardiolens.ingest.clinical import read_clinical, refuse_identifying_labels
from cardiolens.ingest.dicom_covariates import patient_covariates
from cardiolens.ingest.dicom_pixels import DecodeError, read_mr_frames, read_mr_image, read_ultrasound
from cardiolens.ingest.dicom_scan import Header, read_header, slice_normal
from cardiolens.ingest.dicom_series import Candidate, group
from cardiolens.ingest.model import Discovery, Loaded, Reject, Rejection, Unit
from cardiolens.ingest.truth import TruthMismatch, load_truth

#: A cine-MR stack whose first TriggerTime is below this is taken to start at the R wave (ED).
ED_TRIGGER_MS = 60.0

log = logging.getLogger(__name__)


def _header_job(args: tuple[str, str]) -> Header | tuple[Header, ...] | Rejection:
    path, root = args
    return read_header(Path(path), Path(root))


def discover(source: dict[str, Any], files: list[Path], mapper: Callable) -> Discovery:
    root = Path(source["path"])
    scanned = mapper(_header_job, [(str(f), str(root)) for f in files], "headers")
    headers = [h for item in scanned if not isinstance(item, Rejection) for h in (item if isinstance(item, tuple) else (item,))]
    rejections = [r for r in scanned if isinstance(r, Rejection)]
    candidates, bad, notes = group(headers, (source.get("options") or {}).get("stack_series", True))
    for note in notes:
        log.info("%s: %s", source["name"], note)
    units = [
        Unit(uid=c.uid, patient_id=c.headers[0].patient_id, study_uid=c.headers[0].study_uid,
             files=c.files, payload=c)
        for c in candidates
    ]
    clinical, clinical_files = None, []
    cfg = source.get("clinical")
    if cfg:
        clinical = read_clinical(cfg["path"], cfg.get("id_column", "PatientID"), cfg.get("columns", {}))
        refuse_identifying_labels(cfg["path"], clinical, cfg.get("columns", {}),
                                  {(h.patient_id, *h.identity) for h in headers}, cfg.get("id_column", "PatientID"))
        clinical_files = [cfg["path"]]
    covariates = patient_covariates((h.patient_id, h.study_uid, h.covariates) for c in candidates for h in c.headers)
    return Discovery(units, rejections + bad, [], clinical, clinical_files, header_covariates=covariates)


def load(unit: Unit, source: dict[str, Any], key: bytes) -> Loaded:
    cand: Candidate = unit.payload
    first = cand.headers[0]
    options = source.get("options") or {}
    keep_region = options.get("keep_region")
    flagged = sum(bool(h.burned_in) for h in {h.path: h for h in cand.headers}.values())
    regions = spacing_index = None
    if cand.kind != "us_multiframe" and flagged and keep_region is None:
        raise Reject("burned_in_annotation", f"BurnedInAnnotation is YES in {flagged} of {len(cand.files)} file(s): "
                     "identifying text may be burned into the pixels; set the source's options.keep_region "
                     "[row0, row1, col0, col1] to ingest them with everything outside that region blanked")
    try:
        if cand.kind == "us_multiframe":
            us = read_ultrasound(first.abspath)
            if us.frames.shape[0] == 0:
                raise Reject("no_frames", "multi-frame file holds zero frames")
            rec = Loaded(
                array=us.frames, spacing=(us.spacing_mm[0], us.spacing_mm[1], us.frame_time_ms), modality="US",
                view=first.view, frame_time_ms=us.frame_time_ms, r_peak_frames=us.r_wave_frames,
                ed_frame=us.r_wave_frames[0] if us.r_wave_frames else None,
                heart_rate=us.heart_rate or first.heart_rate,
            )
            regions = us.regions
            spacing_index = us.spacing_region
        else:
            rec = _load_mr(cand)
    except DecodeError as exc:
        raise Reject(exc.reason, str(exc)) from None
    if not all(np.isfinite(v) and v > 0 for v in rec.spacing[:2]):
        raise Reject("no_spatial_calibration", f"pixel spacing {rec.spacing[:2]} is not a positive number")
    rec.burned_in = True if flagged else (False if all(h.burned_in is False for h in cand.headers) else None)
    shape = rec.array.shape[-2:]
    _blank(rec, regions, keep_region)
    if regions and spacing_index is not None:
        _check_calibration(rec, regions[spacing_index], shape)
    try:
        truth = load_truth(options.get("truth_dir"), key, first.series_uid, rec.array.shape)
    except TruthMismatch as exc:
        raise Reject("truth_mismatch", str(exc)) from None
    if truth is not None:
        rec.masks, rec.evidence, rec.truth_meta, rec.truth_files = truth.masks, truth.evidence, truth.meta, list(truth.files)
        rec.es_frame = truth.meta.get("es_frame")
        rec.mvc_frame = truth.meta.get("mvc_frame")
        rec.avo_frame = truth.meta.get("avo_frame")
        if rec.ed_frame is None and truth.meta.get("ed_frame") is not None:
            rec.ed_frame = int(truth.meta["ed_frame"])
    elif options.get("contours_dir") and cand.kind == "mr_stack" and cand.several_series:
        # Sunnybrook contour files are named by InstanceNumber, which restarts in every series
        log.info("manual contours are not matched to a stack built from several series (InstanceNumber is ambiguous)")
    elif options.get("contours_dir") and cand.kind == "mr_stack":
        from cardiolens.ingest.adapters.sunnybrook import contour_masks

        masks, used = contour_masks(cand, Path(source["path"]), options)
        if masks is not None:
            rec.masks = masks
            rec.truth_files = used
    return rec


def _check_calibration(rec: Loaded, region: blanking.Box | None, shape: tuple[int, int]) -> None:
    """The spacing came from ``region`` (the tissue region) of a source image of ``shape`` (H, W).
    If the region lies outside the image, scale the spacing by the factor the image was shrunk by
    (:mod:`cardiolens.ingest.calibration`), or warn that it is unchecked."""
    from cardiolens.ingest.calibration import downscale_factor

    if region is None:
        why = "its RegionLocation attributes are missing or not integers"
    else:
        why = region.problem(shape)
        if why is None:
            return  # the calibration is in the image's own pixels
        k = downscale_factor(region, rec.array) if rec.array.shape[-2:] == shape else None
        if k is not None:
            sx, sy, st = rec.spacing
            rec.spacing = (sx * k, sy * k, st)
            log.warning("ultrasound tissue region %s, %d times the depth of the sector the image shows: the image was "
                        "downscaled %dx after export; pixel spacing set to %.3f x %.3f mm (the file's %.3f x %.3f "
                        "describe the larger original); check it against the depth scale on the image", why, k, k,
                        sx * k, sy * k, sx, sy)
            return
    log.warning("the ultrasound tissue region that gives the pixel spacing cannot be checked against the image (%s) and "
                "no whole downscaling factor explains it: the spacing %.3f x %.3f mm is the file's, unchecked; lengths "
                "and areas of this recording are only as right as that", why, rec.spacing[0], rec.spacing[1])


def _blank(rec: Loaded, regions: tuple | None, keep_region: list[int] | None) -> None:
    """Blank (and for ultrasound regions, crop) ``rec.array`` in place of the decoded pixels."""
    try:
        rec.array, rec.kept, unused = blanking.protect(rec.array, rec.modality, regions, keep_region)
    except ValueError as exc:
        raise Reject("malformed_metadata", str(exc)) from None
    if unused and regions:  # the file has regions, but they do not fit: say why the sector was used instead
        log.info("ultrasound regions not used (%s): keeping the sector found from the image", unused)
    if rec.burned_in and rec.kept.rule == blanking.US_SECTOR and rec.kept.blanked == 0:
        raise Reject("burned_in_annotation", "BurnedInAnnotation is YES but the file has no usable ultrasound regions "
                     f"({unused}) and the sector found from the image is the whole image, so nothing could be blanked; "
                     "set the source's options.keep_region [row0, row1, col0, col1]")


def _load_mr(cand: Candidate) -> Loaded:
    first = cand.headers[0]
    n_s, n_p = len(cand.grid), len(cand.grid[0])
    if n_p < 2:
        raise Reject("unsupported", "single-phase MR series is not a cine")
    array = np.empty((n_p, n_s, first.rows, first.cols), np.float32)
    multi: dict[str, np.ndarray] = {}   # each multi-frame file decoded once
    for s, row in enumerate(cand.grid):
        for p, h in enumerate(row):
            if h.frame is None:
                array[p, s] = read_mr_image(h.abspath)
            else:
                if h.abspath not in multi:
                    multi[h.abspath] = read_mr_frames(h.abspath)
                slope, intercept = h.rescale or (1.0, 0.0)
                array[p, s] = multi[h.abspath][h.frame] * np.float32(slope) + np.float32(intercept)
    times = np.array([h.trigger_time for h in cand.grid[0]], dtype=np.float64)
    frame_time = float(np.median(np.diff(times)))
    if frame_time <= 0:
        raise Reject("inconsistent_series", "TriggerTime does not increase between phases")
    direction = np.eye(4)
    direction[:3, 0] = np.asarray(first.orientation[:3])
    direction[:3, 1] = np.asarray(first.orientation[3:])
    direction[:3, 2] = slice_normal(first.orientation)
    r_frames = [0] if times[0] < ED_TRIGGER_MS else []
    return Loaded(
        array=array,
        spacing=(first.pixel_spacing[1], first.pixel_spacing[0], cand.slice_spacing or 1.0, frame_time),
        modality="MR", view=first.view, origin=(*cand.grid[0][0].position, 0.0), direction=direction,
        frame_time_ms=frame_time, r_peak_frames=r_frames, ed_frame=0 if r_frames else None,
        heart_rate=first.heart_rate, n_slices=n_s, spacing_z=cand.slice_spacing,
    )
