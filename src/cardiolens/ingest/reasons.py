"""Reason codes for rejected inputs (rejected.parquet ``reason``)."""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    NOT_DICOM = "not_dicom"                      # no DICOM preamble / unparsable header
    UNREADABLE = "unreadable"                    # I/O error, permission denied, broken or looping link
    EMPTY_FILE = "empty_file"                    # zero bytes
    UNSUPPORTED = "unsupported"                  # not an image SOP class, or modality we do not ingest
    MISSING_ATTRIBUTE = "missing_attribute"      # a required attribute (UID, PatientID, geometry) is absent
    NO_CALIBRATION = "no_spatial_calibration"    # no physical pixel spacing
    PIXEL_DECODE = "pixel_decode_error"          # pixel data not decodable (corrupt compressed frames, NaN voxels)
    TRUNCATED = "truncated"                      # the file ends before the data its header describes
    DUPLICATE = "duplicate_instance"             # same SOPInstanceUID seen before
    INCONSISTENT = "inconsistent_series"         # mixed sizes / orientations in one series
    INCOMPLETE = "incomplete_series"             # slices x phases grid not full
    TRUTH_MISMATCH = "truth_mismatch"            # ground-truth sidecar does not match the images
    MISSING_COMPANION = "missing_companion"      # e.g. a .mhd whose .raw is missing
    NO_FRAMES = "no_frames"                      # zero frames / empty image
    BAD_METADATA = "malformed_metadata"          # missing or malformed cfg / CSV keys
    LABEL_OUT_OF_RANGE = "label_out_of_range"    # mask values outside the dataset's label set
    DUPLICATE_CONTENT = "duplicate_content"      # same decoded pixels as an earlier recording
    DUPLICATE_PATIENT = "duplicate_patient"      # patient already ingested from another source
    FRAME_COUNT_MISMATCH = "frame_count_mismatch"  # frames disagree with the metadata's count
    BURNED_IN = "burned_in_annotation"           # BurnedInAnnotation YES and no area to keep (options.keep_region)
    ANCILLARY = "ancillary"                      # dataset metadata file: read, not an image (not an error)
