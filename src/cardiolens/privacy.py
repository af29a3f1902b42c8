"""Pseudonymisation: keyed hashes of source identifiers and source file paths.

A source patient identifier (DICOM PatientID, a hospital number) becomes ``patient_key``, a
keyed hash (HMAC-SHA256, RFC 2104) truncated to 16 hex characters (64 bits: a collision among
a million patients has probability ~3e-8). Without the key the mapping cannot be recomputed
or brute-forced from a list of hospital numbers; with the same key it is stable across runs and
sources, so recordings of one patient from two exports join. The key is never written out.

File paths below a source's root get the same treatment (:func:`path_key`): clinical exports
name folders after patients (``DOE^JANE_19570312/...``), so tables and provenance identify an
input file by the keyed hash of its relative path and by its sha256, never by the path itself.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import PurePath

KEY_HEX_CHARS = 16
#: Message of the key fingerprint's HMAC (see :func:`key_fingerprint`).
FINGERPRINT_MESSAGE = b"cardiolens-key-fingerprint"


def keyed_hash(key: bytes, value: str, *, domain: str) -> str:
    """HMAC-SHA256 of ``domain:value`` under ``key``, as 16 lower-case hex characters.

    ``domain`` separates the name spaces (a PatientID and a UID with the same text give
    different keys). Text is hashed as UTF-8; a file name that is not valid UTF-8 (held by Python
    as surrogate escapes) is hashed as its original bytes.
    """
    if not value:
        raise ValueError(f"cannot pseudonymise an empty {domain} identifier")
    digest = hmac.new(key, f"{domain}:{value}".encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()
    return digest[:KEY_HEX_CHARS]


def patient_key(key: bytes, source_patient_id: str) -> str:
    """``P`` + keyed hash of the source patient identifier."""
    return "P" + keyed_hash(key, source_patient_id.strip(), domain="patient")


def study_key(key: bytes, study_uid: str) -> str:
    """``S`` + keyed hash of a StudyInstanceUID (for leakage audits without the UID)."""
    return "S" + keyed_hash(key, study_uid.strip(), domain="study")


def recording_id(key: bytes, uid: str) -> str:
    """``R`` + keyed hash of the UID that identifies a recording (series or multi-frame SOP)."""
    return "R" + keyed_hash(key, uid.strip(), domain="recording")


def path_key(key: bytes, relpath: str) -> str:
    """``F`` + keyed hash of a file's path relative to its configured folder (``/``-separated).

    Not stripped: a space at the end of a file name is part of the name.
    """
    return "F" + keyed_hash(key, PurePath(relpath).as_posix(), domain="path")


def key_fingerprint(key: bytes) -> str:
    """A public fingerprint of the key: HMAC-SHA256(key, ``cardiolens-key-fingerprint``), 16 hex.

    Recorded in provenance so tables made with different keys are not joined by mistake, and so
    ``cardiolens audit`` can tell whether a key it is given is the one a table was made with.
    The key is used only as an HMAC key, as everywhere else, never hashed as data. Like any
    function of the key, it lets a guessed key be confirmed: hence the 32-character minimum for
    real data (:func:`cardiolens.config.resolve_key`).
    """
    return hmac.new(key, FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]
