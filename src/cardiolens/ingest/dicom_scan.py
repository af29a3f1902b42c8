"""Read every file of a DICOM tree once: a header summary per readable image, a rejection otherwise.

The summary keeps only what grouping and geometry need. It holds the source PatientID and UIDs
in memory (they are needed for the keyed hashes); they are never written or logged.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pydicom
import pydicom.config
from pydicom.errors import InvalidDicomError

from cardiolens.ingest.dicom_covariates import read_covariates
from cardiolens.ingest.model import Rejection
from cardiolens.ingest.reasons import Reason

IMAGE_MODALITIES = ("US", "MR")
#: Enhanced MR Image Storage, Enhanced MR Color Image Storage, Legacy Converted Enhanced MR Image Storage.
ENHANCED_MR_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.3", "1.2.840.10008.5.1.4.1.1.4.4"})


def quiet_pydicom() -> None:
    """Stop pydicom from warning about invalid element values and from logging: its messages
    quote values (UIDs, names) and file paths (a folder named after the patient) and would carry
    identifiers into the logs. Invalid values that matter are caught by our own checks and
    reported without the value; what pydicom still warns about is collected by
    :func:`pydicom_warnings` and turned into a rejection reason."""
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    pydicom.config.convert_wrong_length_to_UN = True  # a binary value of the wrong length: unknown, not an exception
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)


@contextmanager
def pydicom_warnings() -> Iterator[list[str]]:
    """Collect the messages of the warnings raised inside the block instead of showing them
    (they may quote the file's path)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        messages: list[str] = []
        yield messages
        messages.extend(str(w.message) for w in caught)


#: pydicom's warning when a file ends inside its encapsulated (compressed) pixel data.
ENDS_EARLY = "End of file reached before delimiter"


@dataclass(frozen=True)
class Header:
    path: str
    abspath: str
    modality: str
    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    n_frames: int
    rows: int
    cols: int
    multiframe: bool
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None   # (row spacing, column spacing) in mm
    trigger_time: float | None
    view: str
    heart_rate: float | None
    instance_number: int | None
    burned_in: bool | None = None   # BurnedInAnnotation: YES -> True, NO -> False, absent/other -> None
    frame: int | None = None        # the frame of a multi-frame (enhanced) MR file this header stands for
    rescale: tuple[float, float] | None = None   # that frame's (RescaleSlope, RescaleIntercept)
    series_number: int | None = None   # SeriesNumber: the order in which a study's series were acquired
    acquisition: tuple = ()         # MR sequence signature (:func:`_acquisition`): series of one stack share it
    #: (PatientName, PatientBirthDate): only to refuse a clinical label column that holds them
    #: (:func:`cardiolens.ingest.clinical.identifying_labels`); never written, logged or shown
    identity: tuple[str, str] = field(default=("", ""), repr=False)
    #: (sex, age, height_cm, weight_kg) the header gives (:mod:`cardiolens.ingest.dicom_covariates`)
    covariates: tuple = field(default=(None, None, None, None), repr=False)


def _float(ds: pydicom.Dataset, name: str) -> float | None:
    v = ds.get(name)
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _view(ds: pydicom.Dataset, modality: str) -> str:
    # Map to a fixed vocabulary: free-text descriptions are never copied to outputs.
    text = " ".join(str(ds.get(k, "")) for k in ("ViewName", "SeriesDescription")).lower()
    for token, view in (("a4c", "A4C"), ("4 chamber", "A4C"), ("four chamber", "A4C"), ("a2c", "A2C"),
                        ("2 chamber", "A2C"), ("plax", "PLAX"), ("sax", "SAX"), ("short axis", "SAX")):
        if token in text:
            return view
    return "unknown"


def burned_in_annotation(ds: pydicom.Dataset) -> bool | None:
    """BurnedInAnnotation (0028,0301): True for YES, False for NO, None when absent or anything else."""
    value = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    return {"YES": True, "NO": False}.get(value)


def expected_pixel_bytes(ds: pydicom.Dataset) -> int | None:
    """Bytes of native (uncompressed) pixel data; None for encapsulated transfer syntaxes."""
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        return None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return int(ds.Rows) * int(ds.Columns) * frames * int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8


def _sop_class(ds: pydicom.Dataset) -> str:
    """The SOP class UID of a dataset, or of its file meta when the dataset lacks it ('' if neither)."""
    meta = getattr(ds, "file_meta", None)
    return str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""))


def _sop_class_name(ds: pydicom.Dataset) -> str:
    uid = _sop_class(ds)
    return f"{pydicom.uid.UID(uid).name}" if uid else "missing"


def _cut_short(ds: pydicom.Dataset) -> bool:
    """Whether a dataset without pixel data was cut short: pydicom stops quietly at the end of a
    truncated file, so an image storage class (by the file meta) or a dataset that ends before
    its own SOP class and instance UIDs means the rest of the file is missing."""
    if not str(ds.get("SOPClassUID", "")).strip() or not str(ds.get("SOPInstanceUID", "")).strip():
        return True
    return "Image Storage" in pydicom.uid.UID(_sop_class(ds)).name


def read_header(path: Path, root: Path) -> Header | tuple[Header, ...] | Rejection:
    """Parse one file; return its :class:`Header` (one per frame for a multi-frame MR file,
    :func:`enhanced_mr_frames`) or a :class:`Rejection` naming the problem."""
    quiet_pydicom()
    rel = str(path.relative_to(root))
    digest = ""  # filled in by the stage, which hashes every file once
    # Zero-byte and unreadable entries never get here: the stage rejects them first (hashing.entry_problem).
    try:
        with pydicom_warnings() as notices:
            ds = pydicom.dcmread(path)
            if "PixelData" in ds:
                ds.PixelData  # read now: a cut in compressed pixel data shows only when it is read
    except OSError as exc:
        return Rejection(rel, digest, Reason.UNREADABLE, f"cannot read file: {exc.strerror}")
    except InvalidDicomError:
        return Rejection(rel, digest, Reason.NOT_DICOM, "no DICOM preamble/header (not a DICOM Part 10 file)")
    except Exception as exc:  # pydicom raises many types on damaged headers
        return Rejection(rel, digest, Reason.NOT_DICOM, f"unparsable DICOM header: {type(exc).__name__}")
    if any(ENDS_EARLY in m for m in notices):
        return Rejection(rel, digest, Reason.TRUNCATED, f"truncated: the file ends after {path.stat().st_size} bytes, "
                         "inside its compressed pixel data (an interrupted copy?)")
    try:
        return _check_dataset(ds, rel, path)
    except Exception as exc:  # a value no check foresaw must cost its file only, not stop the source
        return Rejection(rel, digest, Reason.BAD_METADATA, f"a header value cannot be read ({type(exc).__name__})")


def _check_dataset(ds: pydicom.Dataset, rel: str, path: Path) -> Header | tuple[Header, ...] | Rejection:
    """The checks of :func:`read_header` on a parsed dataset."""
    digest = ""
    modality = str(ds.get("Modality", ""))
    if "PixelData" not in ds:
        if _cut_short(ds):
            return Rejection(rel, digest, Reason.TRUNCATED, f"truncated: the file ends after {path.stat().st_size} bytes, "
                             "before its pixel data (an interrupted copy, or an export that left the pixels out)")
        return Rejection(rel, digest, Reason.UNSUPPORTED, f"no pixel data (SOP class {_sop_class_name(ds)})")
    if modality not in IMAGE_MODALITIES:
        return Rejection(rel, digest, Reason.UNSUPPORTED, f"modality {modality or 'missing'!r} is not ingested (US, MR only)")
    missing = [k for k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Rows", "Columns")
               if not str(ds.get(k, "")).strip()]
    if missing:
        return Rejection(rel, digest, Reason.MISSING_ATTRIBUTE, f"missing required attribute(s) {missing}")
    try:
        expected = expected_pixel_bytes(ds)
    except (AttributeError, TypeError, ValueError) as exc:
        return Rejection(rel, digest, Reason.MISSING_ATTRIBUTE, f"incomplete pixel description: {exc}")
    if expected is not None and len(ds.PixelData) < expected:
        return Rejection(rel, digest, Reason.TRUNCATED,
                         f"truncated: pixel data holds {len(ds.PixelData)} of the {expected} bytes its header describes")
    n_frames = _count(ds.get("NumberOfFrames", 1))
    if n_frames is None:
        return Rejection(rel, digest, Reason.BAD_METADATA, "NumberOfFrames is not a positive whole number")
    if expected is not None and len(ds.PixelData) - expected >= expected // n_frames > 0:  # beyond the odd-length pad byte
        held = len(ds.PixelData) // (expected // n_frames)
        return Rejection(rel, digest, Reason.FRAME_COUNT_MISMATCH,
                         f"pixel data holds {held} frames, NumberOfFrames says {n_frames}")
    if modality == "US" and n_frames < 2:
        return Rejection(rel, digest, Reason.UNSUPPORTED, "single-frame ultrasound image (a still, not a cine loop)")
    ps = ds.get("PixelSpacing")
    spacing = _numbers(ps, 2) if ps is not None else None
    if ps is not None and (spacing is None or not all(np.isfinite(v) and v > 0 for v in spacing)):
        return Rejection(rel, digest, Reason.NO_CALIBRATION,
                         "PixelSpacing is not two positive numbers (zero, negative, missing or written with a decimal comma)")
    if modality == "MR" and (problem := geometry_problem(ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient"))):
        return Rejection(rel, digest, Reason.BAD_METADATA, problem)
    header = _header(ds, rel, str(path), modality, n_frames)
    # A single-frame file is read the enhanced way only when its class says so: some classic MR
    # images (Sunnybrook's) also carry a PerFrameFunctionalGroupsSequence beside their own geometry.
    enhanced = modality == "MR" and (n_frames > 1 or _sop_class(ds) in ENHANCED_MR_CLASSES)
    return enhanced_mr_frames(ds, header) if enhanced else header


def _count(value: object) -> int | None:
    """NumberOfFrames as a whole number, absent, empty and 0 read as 1 (as pydicom's
    ``get_nr_frames`` does: such files occur); None for text, a fraction or a negative number."""
    if value is None or not str(value).strip():
        return 1
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return max(int(number), 1) if number.is_integer() and number >= 0 else None


def geometry_problem(position: object, orientation: object) -> str | None:
    """Why an MR image's ImagePositionPatient / ImageOrientationPatient (each may be absent)
    cannot place it, or None: not 3 / 6 finite numbers, or row and column directions that span
    no plane (all zeros, as some converters write an unknown orientation)."""
    for name, value, count in (("ImagePositionPatient", position, 3), ("ImageOrientationPatient", orientation, 6)):
        if value is None:
            continue
        numbers = _numbers(value, count)
        if numbers is None or not all(np.isfinite(numbers)):
            return f"{name} is not {count} finite numbers"
    if orientation is not None:
        iop = _numbers(orientation, 6)
        if np.linalg.norm(np.cross(iop[:3], iop[3:])) < 0.5:
            return "ImageOrientationPatient's row and column directions are not two orthogonal unit vectors"
    return None


def _acquisition(ds: pydicom.Dataset) -> tuple:
    """What tells one MR acquisition's sequence from another's: SequenceName, RepetitionTime,
    EchoTime and FlipAngle (rounded), from the top level or, in enhanced MR, the shared
    MR timing group. Compared, never written."""
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    timing = shared.get("MRTimingAndRelatedParametersSequence") if shared is not None else None
    t = timing[0] if timing else None
    values = []
    for name in ("SequenceName", "RepetitionTime", "EchoTime", "FlipAngle"):
        v = ds.get(name, None)
        if v in (None, "") and t is not None:
            v = t.get(name, None)
        try:
            values.append(round(float(v), 2))
        except (TypeError, ValueError):
            values.append(str(v or "").strip())
    return tuple(values)


def _header(ds: pydicom.Dataset, rel: str, abspath: str, modality: str, n_frames: int) -> Header:
    ps = ds.get("PixelSpacing")
    ipp = ds.get("ImagePositionPatient")
    iop = ds.get("ImageOrientationPatient")
    return Header(
        path=rel, abspath=abspath, modality=modality,
        patient_id=str(ds.PatientID).strip(), study_uid=str(ds.StudyInstanceUID), series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID), n_frames=n_frames, rows=int(ds.Rows), cols=int(ds.Columns),
        multiframe=n_frames > 1 or modality == "US",
        position=_numbers(ipp, 3) if ipp is not None else None,  # malformed: None (checked for MR before)
        orientation=_numbers(iop, 6) if iop is not None else None,
        pixel_spacing=_numbers(ps, 2) if ps is not None else None,
        trigger_time=_float(ds, "TriggerTime"),
        view=_view(ds, modality),
        heart_rate=_float(ds, "HeartRate"),
        instance_number=int(n) if (n := _float(ds, "InstanceNumber")) is not None and float(n).is_integer() else None,
        burned_in=burned_in_annotation(ds),
        series_number=int(n) if (n := _float(ds, "SeriesNumber")) is not None and np.isfinite(n) else None,
        acquisition=_acquisition(ds) if modality == "MR" else (),
        identity=(str(ds.get("PatientName", "") or ""), str(ds.get("PatientBirthDate", "") or "")),
        covariates=read_covariates(ds),
    )


#: Where an enhanced MR frame keeps each value (DICOM PS3.3 C.7.6.16), in the order looked at,
#: and how many numbers it has. A Legacy Converted Enhanced MR file (A.71) keeps what has no
#: functional group, such as TriggerTime, in its "unassigned converted attributes" sequences.
_FRAME_ATTRIBUTES: dict[str, tuple[tuple[tuple[str, str], ...], int]] = {
    "position": ((("PlanePositionSequence", "ImagePositionPatient"),), 3),
    "orientation": ((("PlaneOrientationSequence", "ImageOrientationPatient"),), 6),
    "pixel_spacing": ((("PixelMeasuresSequence", "PixelSpacing"),), 2),
    "trigger_time": ((("CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime"),
                      ("UnassignedPerFrameConvertedAttributesSequence", "TriggerTime"),
                      ("UnassignedSharedConvertedAttributesSequence", "TriggerTime")), 1),
    "slope": ((("PixelValueTransformationSequence", "RescaleSlope"),), 1),
    "intercept": ((("PixelValueTransformationSequence", "RescaleIntercept"),), 1),
}


def _numbers(v: object, count: int) -> tuple[float, ...] | None:
    values = list(v) if isinstance(v, (list, tuple, pydicom.multival.MultiValue)) else [v]
    try:
        out = tuple(float(x) for x in values)
    except (TypeError, ValueError):
        return None
    return out if len(out) == count else None


def _frame_value(groups: tuple[pydicom.Dataset | None, ...], places: tuple[tuple[str, str], ...], count: int,
                 top: pydicom.Dataset | None = None) -> tuple[float, ...] | None:
    """The value at the first of ``places`` ((sequence, attribute)) that the first of ``groups``
    (the frame's own functional groups, then the shared ones) holds, else ``top``'s attribute of
    that name (the file's top level), as ``count`` floats; None when nowhere or malformed."""
    for g in groups:
        for sequence, name in places:
            item = g.get(sequence) if g is not None else None
            if item and name in item[0]:
                return _numbers(item[0].get(name), count)
    for _, name in places:
        if top is not None and str(top.get(name, "")).strip():
            return _numbers(top.get(name), count)
    return None


def enhanced_mr_frames(ds: pydicom.Dataset, file_header: Header) -> tuple[Header, ...] | Rejection:
    """The frames of a multi-frame MR file (Enhanced MR Image Storage, one frame or many, and
    Legacy Converted Enhanced MR) as one single-frame :class:`Header` each, so that they join the
    (slice, phase) grid of their series like single-frame images. Each frame's geometry, nominal
    cardiac trigger delay (a legacy-converted file's TriggerTime) and rescale come from its
    per-frame functional groups, else from the shared ones (DICOM PS3.3 C.7.6.16), else from the
    file's top level; ``frame`` indexes the file's frames. A file without per-frame groups for
    every frame is a :class:`Rejection`."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    n = file_header.n_frames
    if per_frame is None or len(per_frame) != n:
        held = "none" if per_frame is None else str(len(per_frame))
        return Rejection(file_header.path, "", Reason.UNSUPPORTED, f"multi-frame MR of {n} frames with {held} per-frame "
                         "functional groups: the frames' positions and times are unknown (enhanced MR needs one group per frame)")
    headers = []
    for i, item in enumerate(per_frame):
        v = {k: _frame_value((item, shared), places, count, ds) for k, (places, count) in _FRAME_ATTRIBUTES.items()}
        slope = v["slope"][0] if v["slope"] else 1.0
        intercept = v["intercept"][0] if v["intercept"] else 0.0
        if not (np.isfinite(slope) and np.isfinite(intercept)):
            return Rejection(file_header.path, "", Reason.MISSING_ATTRIBUTE, f"frame {i + 1}: RescaleSlope or RescaleIntercept is not a number")
        if v["pixel_spacing"] is not None and not all(np.isfinite(x) and x > 0 for x in v["pixel_spacing"]):
            return Rejection(file_header.path, "", Reason.NO_CALIBRATION, f"frame {i + 1}: PixelSpacing is zero, negative or not a number")
        if problem := geometry_problem(v["position"], v["orientation"]):
            return Rejection(file_header.path, "", Reason.BAD_METADATA, f"frame {i + 1}: {problem}")
        headers.append(replace(file_header, multiframe=False, frame=i, rescale=(slope, intercept), instance_number=None,
                               position=v["position"], orientation=v["orientation"], pixel_spacing=v["pixel_spacing"],
                               trigger_time=v["trigger_time"][0] if v["trigger_time"] else None))
    return tuple(headers)


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    n = np.cross(row, col)
    return n / np.linalg.norm(n)
