"""Writers of real DICOM files: multi-frame ultrasound and single-frame MR.

Both are written uncompressed (Explicit VR Little Endian) with the attributes a clinical export
carries, PHI included, so ingestion is exercised as on real data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_ROOT_UID, ExplicitVRLittleEndian, generate_uid

from cardiolens.synth.phi import PatientPHI

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


def det_uid(*parts: object) -> str:
    """A deterministic UID under pydicom's root, derived from ``parts`` (sha512 of the parts).

    ``generate_uid(prefix=None)`` would ignore the entropy and draw a random UUID.
    """
    return generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=[str(p) for p in parts])


@dataclass(frozen=True)
class StudyInfo:
    phi: PatientPHI
    sex: str
    age: float
    study_uid: str
    accession: str
    study_date: dt.date


def _base(sop_class: str, sop_uid: str, st: StudyInfo, modality: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = det_uid("cardiolens", "implementation")
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.PatientName = st.phi.name
    ds.PatientID = st.phi.patient_id
    ds.PatientBirthDate = st.phi.birth_date
    ds.PatientSex = st.sex
    ds.PatientAge = f"{int(st.age):03d}Y"
    ds.InstitutionName = st.phi.institution
    ds.ReferringPhysicianName = st.phi.referring_physician
    ds.AccessionNumber = st.accession
    date = st.study_date.strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = date
    ds.StudyTime = "101500"
    ds.StudyInstanceUID = st.study_uid
    ds.StudyID = "1"
    ds.Manufacturer = "cardiolens-synthetic"
    return ds


def write_us_multiframe(
    path: Path,
    frames: NDArray[np.uint8],
    spacing_mm: float,
    frame_time_ms: float,
    heart_rate_bpm: float,
    r_wave_frames: list[int],
    st: StudyInfo,
    series_uid: str,
    sop_uid: str,
    series_number: int,
    header: NDArray[np.uint8] | None = None,
) -> None:
    """Write (T, H, W) uint8 frames as an Ultrasound Multi-frame Image (MONOCHROME2).

    Physical spacing goes into SequenceOfUltrasoundRegions (PhysicalDeltaX/Y in cm, units code
    3 = cm), timing into FrameTime (ms) and HeartRate, R peaks into RWavePointer (1-based frames).
    The one region covers exactly the frames. ``header`` (N, W), e.g. burned-in patient text
    (:mod:`cardiolens.synth.burn_in`), is prepended to every frame, so the file's images are
    (N + H, W) with the region at rows N..N + H - 1, and BurnedInAnnotation is YES (else NO).
    """
    t, h, w = frames.shape
    top = 0
    if header is not None:
        if header.ndim != 2 or header.shape[1] != w:
            raise ValueError(f"header band of shape {header.shape} does not fit frames {w} columns wide")
        top = header.shape[0]
        frames = np.concatenate([np.broadcast_to(header.astype(np.uint8), (t, top, w)), frames], axis=1)
    ds = _base(US_MULTIFRAME, sop_uid, st, "US")
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1
    ds.ViewName = "A4C"
    ds.SeriesDescription = "Apical 4 chamber"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = top + h, w
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "YES" if header is not None else "NO"
    ds.NumberOfFrames = t
    ds.FrameTime = f"{frame_time_ms:.4f}"
    ds.FrameIncrementPointer = (0x0018, 0x1063)
    ds.HeartRate = int(round(heart_rate_bpm))
    ds.RWavePointer = [int(f) + 1 for f in r_wave_frames]
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, top
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = w - 1, top + h - 1
    region.PhysicalUnitsXDirection = 3
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = spacing_mm / 10.0
    region.PhysicalDeltaY = spacing_mm / 10.0
    region.ReferencePixelX0 = w // 2  # the transducer (sector apex): relative to the region's top-left corner
    region.ReferencePixelY0 = 0
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    ds.PixelData = np.ascontiguousarray(frames, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_mr_slice(
    path: Path,
    image: NDArray[np.uint16],
    spacing_mm: float,
    slice_thickness_mm: float,
    position: NDArray[np.float64],
    row_dir: NDArray[np.float64],
    col_dir: NDArray[np.float64],
    trigger_time_ms: float,
    heart_rate_bpm: float,
    st: StudyInfo,
    series_uid: str,
    sop_uid: str,
    instance_number: int,
    frame_of_reference_uid: str,
) -> None:
    """Write one (H, W) uint16 cine-MR image with its patient-space geometry and trigger time."""
    h, w = image.shape
    ds = _base(MR_IMAGE, sop_uid, st, "MR")
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 5
    ds.SeriesDescription = "SAX cine bSSFP"
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row_dir, *col_dir)]
    normal = np.cross(row_dir, col_dir)
    ds.SliceLocation = f"{float(np.dot(position, normal)):.6f}"
    ds.PixelSpacing = [f"{spacing_mm:.6f}", f"{spacing_mm:.6f}"]
    ds.SliceThickness = f"{slice_thickness_mm:.3f}"
    ds.TriggerTime = f"{trigger_time_ms:.3f}"
    ds.HeartRate = int(round(heart_rate_bpm))
    ds.CardiacNumberOfImages = 0  # filled by the caller when known; 0 = unknown
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = h, w
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.PixelData = np.ascontiguousarray(image, dtype="<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
