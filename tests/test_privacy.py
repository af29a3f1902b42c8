"""Keyed pseudonyms: HMAC-SHA256 (RFC 2104), truncated, domain-separated, key-dependent."""

from __future__ import annotations

import hashlib
import hmac

from cardiolens import privacy


def test_patient_key_is_truncated_hmac_of_domain_and_id():
    key = b"k"
    expected = hmac.new(key, b"patient:MRN001", hashlib.sha256).hexdigest()[:16]
    assert privacy.patient_key(key, "MRN001") == "P" + expected
    assert privacy.patient_key(key, "  MRN001 ") == "P" + expected  # whitespace from DICOM padding


def test_rfc4231_test_case_2_through_the_same_primitive():
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    digest = hmac.new(b"Jefe", b"what do ya want for nothing?", hashlib.sha256).hexdigest()
    assert digest == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert privacy.keyed_hash(b"Jefe", "do ya want for nothing?", domain="what") == hmac.new(
        b"Jefe", b"what:do ya want for nothing?", hashlib.sha256).hexdigest()[:16]


def test_key_and_domain_change_the_pseudonym():
    assert privacy.patient_key(b"a", "X1") != privacy.patient_key(b"b", "X1")
    assert privacy.patient_key(b"a", "X1")[1:] != privacy.recording_id(b"a", "X1")[1:]
    assert privacy.key_fingerprint(b"a") != privacy.key_fingerprint(b"b")


def test_key_fingerprint_is_an_hmac_of_a_fixed_message():
    expected = hmac.new(b"a-key", b"cardiolens-key-fingerprint", hashlib.sha256).hexdigest()[:16]
    assert privacy.key_fingerprint(b"a-key") == expected


def test_path_key_is_a_keyed_hash_of_the_relative_path():
    rel = "DOE^JANE_19570312/ST1/SE1/IM00001"
    expected = hmac.new(b"k", f"path:{rel}".encode(), hashlib.sha256).hexdigest()[:16]
    assert privacy.path_key(b"k", rel) == "F" + expected
    assert privacy.path_key(b"k", rel) != privacy.path_key(b"other", rel)
    assert privacy.path_key(b"k", rel) != privacy.path_key(b"k", rel.replace("IM00001", "IM00002"))


def test_sidecar_stem_is_keyed():
    from cardiolens.ingest.truth import sidecar_stem

    uid = "1.2.826.0.1.3680043.8.498.1"
    expected = hmac.new(b"k", f"sidecar:{uid}".encode(), hashlib.sha256).hexdigest()[:16]
    assert sidecar_stem(b"k", uid) == "T" + expected
    assert sidecar_stem(b"k", uid) != sidecar_stem(b"another-key", uid)
