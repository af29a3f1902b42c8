"""Small files in real dataset layouts, built on the fly (no data files are committed)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import itk
import numpy as np
from PIL import Image


def write_image(path: Path, array: np.ndarray, spacing: tuple[float, ...]) -> None:
    """NIfTI or MetaImage (by suffix) with the given spacing (ITK order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = itk.image_from_array(np.ascontiguousarray(array))
    image.SetSpacing([float(s) for s in spacing])
    itk.imwrite(image, str(path))


def sax_frame(rng: np.random.Generator, shape=(4, 40, 36), radius=8.0) -> tuple[np.ndarray, np.ndarray]:
    """An MR short-axis volume (S, H, W) and its ACDC-coded mask (1 RV, 2 myo, 3 LV)."""
    s, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - h / 2, xx - w / 2)
    mask2 = np.zeros((h, w), np.uint8)
    mask2[r < radius + 4] = 2
    mask2[r < radius] = 3
    mask2[(np.abs(yy - h / 2) < 6) & (xx < w / 2 - radius - 5) & (xx > 2)] = 1
    mask = np.repeat(mask2[None], s, axis=0)
    image = (mask * 60 + rng.normal(100, 5, mask.shape)).astype(np.int16)
    return image, mask


def make_acdc_patient(root: Path, pid: str, group: str = "NOR", ed: int = 1, es: int = 6, n: int = 10, seed: int = 0,
                      radius: float = 8.0) -> Path:
    folder = root / pid
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Info.cfg").write_text(f"ED: {ed}\nES: {es}\nGroup: {group}\nHeight: 170.0\nNbFrame: {n}\nWeight: 70.0\n")
    rng = np.random.default_rng(seed)
    for f, rad in ((ed, radius), (es, radius * 0.7)):
        img, mask = sax_frame(rng, radius=rad)
        write_image(folder / f"{pid}_frame{f:02d}.nii.gz", img, (1.5, 1.5, 10.0))
        write_image(folder / f"{pid}_frame{f:02d}_gt.nii.gz", mask, (1.5, 1.5, 10.0))
    return folder


def make_camus_patient(root: Path, pid: str, views=("2CH", "4CH"), seed: int = 0, quality: str = "Good") -> Path:
    folder = root / pid
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for view in views:
        (folder / f"Info_{view}.cfg").write_text(
            f"ED: 1\nES: 12\nNbFrame: 14\nSex: F\nAge: 61\nImageQuality: {quality}\nLVedv: 90.0\nLVesv: 40.0\nLVef: 55.6\n")
        for part in ("ED", "ES"):
            yy, xx = np.mgrid[0:60, 0:40]
            mask = np.zeros((1, 60, 40), np.uint8)
            mask[0, (yy - 25) ** 2 / 15**2 + (xx - 20) ** 2 / 8**2 < 1] = 1
            img = (mask * 20 + rng.integers(30, 200, mask.shape)).astype(np.uint8)
            write_image(folder / f"{pid}_{view}_{part}.mhd", img, (0.3, 0.15, 1.0))
            write_image(folder / f"{pid}_{view}_{part}_gt.mhd", mask, (0.3, 0.15, 1.0))
    return folder


def write_mjpeg_avi(path: Path, frames: np.ndarray, fps: float = 50.0) -> None:
    """A minimal Motion-JPEG AVI (RIFF) of (T, H, W) uint8 grey frames."""
    t, h, w = frames.shape
    jpegs = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f).convert("RGB").save(buf, format="JPEG", quality=95)
        jpegs.append(buf.getvalue())

    def chunk(cid: bytes, body: bytes) -> bytes:
        return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")

    def lst(kind: bytes, body: bytes) -> bytes:
        return chunk(b"LIST", kind + body)

    avih = struct.pack("<14I", int(1e6 / fps), 0, 0, 0x10, t, 0, 1, 0, w, h, 0, 0, 0, 0)
    strh = b"vids" + b"MJPG" + struct.pack("<10I", 0, 0, 0, 1, int(fps), 0, t, 0, 0, 0) + struct.pack("<4h", 0, 0, w, h)
    strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MJPG", w * h * 3, 0, 0, 0, 0)
    hdrl = lst(b"hdrl", chunk(b"avih", avih) + lst(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    movi = lst(b"movi", b"".join(chunk(b"00dc", j) for j in jpegs))
    body = b"AVI " + hdrl + movi
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def echo_frames(t: int = 12, h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for k in range(t):
        r = 6 + 2 * np.cos(2 * np.pi * k / t)
        out.append(np.where(np.hypot(yy - h / 2, xx - w / 2) < r, 30, 150) + rng.integers(0, 40, (h, w)))
    return np.array(out, np.uint8)


def write_enhanced_mr(path: Path, singles: list[Path], order: np.ndarray | None = None, *,
                      rescale_at: str = "frame", legacy: bool = False, drop: tuple[str, ...] = ()) -> Path:
    """Pack single-frame MR DICOM files of one series into one Enhanced MR Image Storage file
    (DICOM PS3.3 A.36-2: the frames' positions, nominal trigger delays and rescale in per-frame
    functional groups, orientation and pixel spacing in the shared ones), frames in ``order``
    (indices into ``singles``; default as given). ``rescale_at``: "frame", "shared" (the first
    image's) or "top" (the first image's, at the file's top level). ``legacy``: a Legacy Converted
    Enhanced MR file (A.71), each frame's TriggerTime in its unassigned converted attributes.
    ``drop``: per-frame sequences to leave out."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    src = [pydicom.dcmread(p) for p in singles]
    order = np.arange(len(src)) if order is None else np.asarray(order)
    first = src[0]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.4" if legacy else "1.2.840.10008.5.1.4.1.1.4.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    for name in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesDescription", "BurnedInAnnotation"):
        if name in first:
            setattr(ds, name, first.get(name))
    ds.Rows, ds.Columns, ds.NumberOfFrames = first.Rows, first.Columns, len(order)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = first.BitsAllocated, first.BitsStored, first.HighBit
    ds.PixelRepresentation = first.PixelRepresentation

    def item(**kw) -> Sequence:
        d = Dataset()
        for k, v in kw.items():
            setattr(d, k, v)
        return Sequence([d])

    shared = Dataset()
    shared.PixelMeasuresSequence = item(PixelSpacing=list(first.PixelSpacing), SliceThickness=first.get("SliceThickness", 8))
    shared.PlaneOrientationSequence = item(ImageOrientationPatient=list(first.ImageOrientationPatient))
    if rescale_at == "top":
        ds.RescaleSlope, ds.RescaleIntercept = first.get("RescaleSlope", 1), first.get("RescaleIntercept", 0)
    if rescale_at == "shared":
        shared.PixelValueTransformationSequence = item(RescaleSlope=first.get("RescaleSlope", 1), RescaleIntercept=first.get("RescaleIntercept", 0),
                                                       RescaleType="US")
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for i in order:
        s = src[int(i)]
        f = Dataset()
        f.FrameContentSequence = item(InStackPositionNumber=1, TemporalPositionIndex=1)
        if "PlanePositionSequence" not in drop:
            f.PlanePositionSequence = item(ImagePositionPatient=list(s.ImagePositionPatient))
        if legacy:
            f.UnassignedPerFrameConvertedAttributesSequence = item(TriggerTime=s.get("TriggerTime", 0))
        elif "CardiacSynchronizationSequence" not in drop:
            f.CardiacSynchronizationSequence = item(NominalCardiacTriggerDelayTime=s.get("TriggerTime", 0))
        if rescale_at == "frame":
            f.PixelValueTransformationSequence = item(RescaleSlope=s.get("RescaleSlope", 1), RescaleIntercept=s.get("RescaleIntercept", 0),
                                                      RescaleType="US")
        frames.append(f)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    dtype = np.dtype("<i2" if first.PixelRepresentation else "<u2")
    ds.PixelData = np.stack([src[int(i)].pixel_array.astype(dtype) for i in order]).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
