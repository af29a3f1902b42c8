"""Reason codes for rejected inputs (rejected.parquet ``reason``)."""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    NOT_DICOM = "not_dicom"                      # no DICOM preamble / unparsable header
    UNREADABLE = "unreadable"                    # I/O error, empty file
    UNSUPPORTED = "unsupported"                  # not an image SOP class, or modality we do not ingest
    MISSING_ATTRIBUTE = "missing_attribute"      # a required attribute (UID, PatientID, geometry) is absent
    NO_CALIBRATION = "no_spatial_calibration"    # no physical pixel spacing
    PIXEL_DECODE = "pixel_decode_error"          # pixel data truncated or not decodable
    DUPLICATE = "duplicate_instance"             # same SOPInstanceUID seen before
    INCONSISTENT = "inconsistent_series"         # mixed sizes / orientations in one series
    INCOMPLETE = "incomplete_series"             # slices x phases grid not full
    TRUTH_MISMATCH = "truth_mismatch"            # ground-truth sidecar does not match the images
