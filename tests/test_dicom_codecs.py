"""Compressed DICOM exports: every lossless transfer syntax a PACS writes decodes to the same
pixels as the uncompressed file (pydicom with its GDCM plugin, python-gdcm, beside Pillow).

The compressed files are made here from uncompressed ones with GDCM's own encoder, so the
expected pixels are known exactly: a lossless codec must give them back bit for bit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import gdcm  # python-gdcm, a pinned dependency: without it these exports are rejected
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from cardiolens.ingest.dicom_pixels import read_mr_image, read_ultrasound
from test_bad_inputs import _image, _ingest, mr_series, us_dicom

#: Lossless transfer syntaxes of clinical exports, by GDCM's name for them.
LOSSLESS = {"jpeg_lossless_sv1": "JPEGLosslessProcess14_1", "jpeg_ls_lossless": "JPEGLSLossless",
            "jpeg2000_lossless": "JPEG2000Lossless", "rle_lossless": "RLELossless"}


def transcode(src: Path, dst: Path, syntax: str) -> Path:
    """Write ``src`` to ``dst`` in GDCM transfer syntax ``syntax`` (a name of ``gdcm.TransferSyntax``)."""
    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    assert reader.Read(), f"GDCM cannot read {src}"
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax)))
    change.SetInput(reader.GetImage())
    assert change.Change(), f"GDCM cannot encode {src} as {syntax}"
    writer = gdcm.ImageWriter()
    dst.parent.mkdir(parents=True, exist_ok=True)
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    return dst


@pytest.mark.parametrize("codec", sorted(LOSSLESS))
def test_a_lossless_compressed_cine_mr_series_ingests_to_the_uncompressed_pixels(tmp_path, codec):
    plain = mr_series(tmp_path / "plain" / "SAX", "PID-CODEC", phases=3)
    for p in plain:
        transcode(p, tmp_path / "packed" / "SAX" / p.name, LOSSLESS[codec])
    packed = sorted((tmp_path / "packed" / "SAX").iterdir())
    assert {str(pydicom.dcmread(p).file_meta.TransferSyntaxUID) for p in packed} != {str(pydicom.dcmread(plain[0]).file_meta.TransferSyntaxUID)}
    for a, b in zip(plain, packed):
        assert np.array_equal(read_mr_image(str(a)), read_mr_image(str(b)))
    ref = _ingest(tmp_path / "plain", tmp_path / "out_plain")
    got = _ingest(tmp_path / "packed", tmp_path / "out_packed")
    assert len(got.rejected) == 0 and len(got.recordings) == len(ref.recordings) == 1
    assert np.array_equal(_image(str(tmp_path / "out_packed" / got.recordings["image_path"].iloc[0])),
                          _image(str(tmp_path / "out_plain" / ref.recordings["image_path"].iloc[0])))


def test_a_lossless_compressed_multiframe_echo_decodes_to_the_uncompressed_frames(tmp_path):
    frames = np.random.default_rng(4).integers(1, 255, (5, 24, 32), dtype=np.uint8)
    plain = us_dicom(tmp_path / "plain" / "IM1", frames, "PID-ECHO")
    packed = transcode(plain, tmp_path / "packed" / "IM1", LOSSLESS["jpeg_ls_lossless"])
    assert pydicom.dcmread(packed).file_meta.TransferSyntaxUID.name == "JPEG-LS Lossless Image Compression"
    assert np.array_equal(read_ultrasound(str(packed)).frames, read_ultrasound(str(plain)).frames)
    assert np.array_equal(read_ultrasound(str(packed)).frames, frames)


def test_pydicoms_own_jpeg_ls_file_decodes_to_its_uncompressed_twin(tmp_path):
    # pydicom ships MR_small.dcm and the same image as JPEG-LS lossless; Pillow alone cannot decode it
    shutil.copy(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), tmp_path / "ls.dcm")
    ref = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    want = ref.pixel_array.astype(np.float32) * float(ref.get("RescaleSlope", 1) or 1) + float(ref.get("RescaleIntercept", 0) or 0)
    assert np.array_equal(read_mr_image(str(tmp_path / "ls.dcm")), want)


def test_a_syntax_no_shipped_decoder_reads_is_rejected_naming_it(tmp_path):
    # 12-bit JPEG extended (process 2 and 4): Pillow and GDCM both refuse it in pydicom
    from cardiolens.ingest.dicom_pixels import DecodeError

    shutil.copy(get_testdata_file("JPGExtended.dcm"), tmp_path / "x.dcm")
    with pytest.raises(DecodeError) as err:
        read_mr_image(str(tmp_path / "x.dcm"))
    assert err.value.reason == "pixel_decode_error"
    assert "(JPEG Extended (Process 2 and 4)) cannot be decoded" in str(err.value) and "\n" not in str(err.value)


def test_gdcm_and_pillow_decode_the_jpeg_echo_identically():
    # GDCM comes before Pillow in pydicom's JPEG baseline plugins: the real echo's pixels must not
    # depend on which one is installed (every number measured on it was measured with Pillow)
    path = get_testdata_file("examples_ybr_color.dcm")
    arrays = []
    for plugin in ("pillow", "gdcm"):
        ds = pydicom.dcmread(path)
        ds.pixel_array_options(decoding_plugin=plugin)
        arrays.append(ds.pixel_array)
    assert arrays[0].shape == (30, 240, 320, 3) and np.array_equal(arrays[0], arrays[1])
