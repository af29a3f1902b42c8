"""Folders named after patients stay out of results/ (issue 22): tables and provenance carry path
keys and sha256, the real paths live in the private folder, and the audit still finds every file."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow.parquet as pq
import pydicom
import pytest
from pydicom.uid import generate_uid

from cardiolens.config import validate_config
from cardiolens.hashing import list_files, sha256_file
from cardiolens.privacy import path_key
from cardiolens.tables import read_provenance, read_table
from cardiolens.tables.registry import RECORDINGS, REJECTED

PATIENT_FOLDER = "DOE^JANE_19570312"
NEEDLES = (PATIENT_FOLDER, "DOE", "JANE", "19570312")
KEY = "a-real-data-key-for-this-test-0123456789"  # 40 characters: a real-data key
GOOD = f"{PATIENT_FOLDER}/ST1/SE1/IM00001"
JUNK = f"{PATIENT_FOLDER}/ST1/SE1/NOTES.TXT"
COPY = f"{PATIENT_FOLDER}/ST2/SE1/IM00001"


@pytest.fixture
def ingested(tiny_cohort, tmp_path, monkeypatch):
    """An export with a patient-named folder, ingested and merged as the workflow does:
    (work dir, source root, private dir)."""
    from cardiolens.ingest.run import run_merge, run_source

    _, cohort = tiny_cohort
    root = tmp_path / "export"
    echo = sorted(p for p in (cohort / "dicom").rglob("IM00001") if "SE1" in p.parts)[0]
    (root / GOOD).parent.mkdir(parents=True)
    shutil.copy(echo, root / GOOD)
    (root / JUNK).write_text("Exported by PACS for DOE^JANE.\n")
    # The same pixels exported again as another series: rejected as duplicate content, its message
    # quoting the first file (by path key).
    ds = pydicom.dcmread(echo)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["issue22", "sop"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["issue22", "series"])
    (root / COPY).parent.mkdir(parents=True)
    ds.save_as(root / COPY, enforce_file_format=True)

    work, private = tmp_path / "work", tmp_path / "private"
    monkeypatch.setenv("CARDIOLENS_PSEUDONYM_KEY", KEY)
    config = validate_config({"cohort": {"source": "inputs"}, "inputs": [{"name": "site", "adapter": "dicom", "path": str(root)}],
                              "privacy": {"private_dir": str(private)}, "ingest": {"threads": 1}})
    run_source(config, "site", str(work / "results/ingest/site"))
    run_merge([str(work / "results/ingest/site")], str(work / "results/ingest"), {"sources": ["site"]})
    return work, root, private


def test_no_part_of_a_patient_folder_name_reaches_results(ingested):
    work, root, _ = ingested
    rec = read_table(work / "results/ingest/recordings.parquet", RECORDINGS)
    rej = read_table(work / "results/ingest/rejected.parquet", REJECTED)
    assert len(rec) == 1 and sorted(rej["reason"]) == ["duplicate_content", "not_dicom"]
    assert rec["source_files"].map(len).sum() + len(rej) == len(list_files(root))  # every file, once
    assert all(p.startswith("F") and len(p) == 17 for p in [*rec["source_files"].iloc[0], *rej["path"]])
    assert (rej["sha256"] != "").all()
    files = list_files(work / "results")
    assert any(f.suffix == ".parquet" for f in files) and any(f.name == "row.json" for f in files)
    for f in files:
        rel = str(f.relative_to(work))
        assert not [n for n in NEEDLES if n in rel], rel
        if f.suffix == ".mha":  # pixels: any three bytes may spell DOE by chance
            continue
        blobs = [f.read_bytes()]
        if f.suffix == ".parquet":
            table = pq.read_table(f)
            blobs += [str(table.to_pylist()).encode(), str(table.schema.metadata).encode()]
        for blob in blobs:
            hits = [n for n in NEEDLES if n.encode() in blob]
            assert not hits, f"{rel} contains {hits}"
    prov = read_provenance(work / "results/ingest/site/recordings.parquet")
    raw = [e for e in prov["inputs"] if e.get("root") == str(root)]
    assert sorted(e["path"] for e in raw) == sorted(f"{root}/{path_key(KEY.encode(), r)}" for r in (GOOD, JUNK, COPY))


def test_the_private_mapping_outside_results_gives_the_real_paths_back(ingested, capsys):
    from cardiolens.cli import main as cli
    from cardiolens.ingest.private import read_paths

    work, root, private = ingested
    mapping = read_paths(private, "site")
    assert not private.is_relative_to(work / "results")
    assert (private / "site" / "paths.csv").stat().st_mode & 0o077 == 0  # the owner's alone
    real = dict(zip(mapping["path_key"], mapping["path"]))
    assert sorted(real.values()) == sorted([GOOD, JUNK, COPY])
    assert all(sha256_file(root / p) == s for p, s in zip(mapping["path"], mapping["sha256"]))
    rec = read_table(work / "results/ingest/recordings.parquet", RECORDINGS)
    rej = read_table(work / "results/ingest/rejected.parquet", REJECTED).set_index("reason")
    assert [real[k] for k in rec["source_files"].iloc[0]] == [GOOD]
    assert real[rej.loc["not_dicom", "path"]] == JUNK and real[rej.loc["duplicate_content", "path"]] == COPY
    assert rej.loc["duplicate_content", "message"] == f"same pixels as {path_key(KEY.encode(), GOOD)}"

    assert cli(["rejected", str(work / "results"), "--private-dir", str(private)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted([f"site\tduplicate_content\t{COPY}\tsame pixels as {GOOD}",
                                    f"site\tnot_dicom\t{JUNK}\t{rej.loc['not_dicom', 'message']}"])
    assert cli(["rejected", str(work / "results"), "--private-dir", str(work / "elsewhere")]) == 2  # no mapping there


def test_audit_finds_files_by_path_key_with_the_key_and_by_content_without(ingested, monkeypatch):
    from cardiolens.audit import audit

    work, root, _ = ingested
    results = work / "results"
    assert audit(results).empty
    entry = f"{root}/{path_key(KEY.encode(), GOOD)}"
    original = (root / GOOD).read_bytes()
    (root / GOOD).write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    found = audit(results, images=False)
    assert found[["kind", "path"]].values.tolist() == [["changed", entry]], found.to_string()
    monkeypatch.delenv("CARDIOLENS_PSEUDONYM_KEY")  # without the key: only the content can be matched
    found = audit(results, images=False)
    assert found[["kind", "path"]].values.tolist() == [["missing", entry]], found.to_string()
    assert "CARDIOLENS_PSEUDONYM_KEY" in found["detail"].iloc[0]
    (root / GOOD).write_bytes(original)
    assert audit(results, images=False).empty
    (root / JUNK).unlink()
    monkeypatch.setenv("CARDIOLENS_PSEUDONYM_KEY", KEY)
    found = audit(results, images=False)
    assert found[["kind", "path"]].values.tolist() == [["missing", f"{root}/{path_key(KEY.encode(), JUNK)}"]]


def test_rejected_messages_and_sorting_carry_no_real_path():
    """The duplicate check names the kept recording's first file by its path key."""
    from cardiolens.ingest.stage import _drop_duplicate_content

    rows = [{"source_files": [p], "pixel_sha256": "same", "image_path": None, "mask_path": None} for p in (COPY, GOOD)]
    kept, rejected = _drop_duplicate_content(rows, b"k")
    assert kept[0]["source_files"] == [GOOD] and [r.path for r in rejected] == [COPY]
    assert rejected[0].message == f"same pixels as {path_key(b'k', GOOD)}"
    assert not pd.Series([r.message for r in rejected]).str.contains("DOE").any()



def test_the_mapping_keeps_a_file_name_that_is_not_utf8(tmp_path):
    import os

    from cardiolens.ingest.private import read_paths, write_paths

    name = os.fsdecode(b"DOE^JANE/caf\xe9.dcm")  # Latin-1 bytes: surrogate escapes in Python
    pk = path_key(b"k", name)
    write_paths(tmp_path, "site", pd.DataFrame([{"root": "/data", "path_key": pk, "path": name, "sha256": "0" * 64}], dtype=object))
    assert read_paths(tmp_path, "site").to_dict("records") == [{"root": "/data", "path_key": pk, "path": name, "sha256": "0" * 64}]
    assert b"caf\xe9.dcm" in (tmp_path / "site" / "paths.csv").read_bytes()
