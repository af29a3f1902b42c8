"""Recordings kept between runs of one source, so a grown cohort re-ingests only what is new.

Snakemake reruns a source's ingest job when any of its files changes (a patient added, a file
edited) and deletes the job's ``data/`` folder first. The job then rebuilds every recording
whose inputs are unchanged from this store instead of decoding it again: hard links to the
canonical image, masks and truth written by the earlier run, and the table row it made.

An entry is keyed by an HMAC (the pseudonymisation key) over everything that shapes the
recording: its source identifiers, every source file with its sha256, the source's
configuration, the ingest code hash and the output folder. The ground-truth files an entry was
built from are re-hashed before it is reused. Entries no recording of the current run used are
deleted at the end of a successful run, so the store mirrors the source. A stored row holds no
source file path (the caller adds the unit's files back). Layout:
``<out_dir>/reuse/<2 hex>/<digest>/{row.json, images/, masks/, truth/}``; an entry is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
from pathlib import Path
from typing import Any

from cardiolens.hashing import sha256_file
from cardiolens.ingest.model import Unit

STORE = "reuse"
_PATH_FIELDS = ("image_path", "mask_path", "truth_path")


def unit_digest(unit: Unit, file_sha256: dict[str, str], source: dict[str, Any], code: str, data_dir: str, key: bytes) -> str:
    """Keyed digest of everything a recording built from ``unit`` depends on (hex)."""
    payload = json.dumps({"uid": unit.uid, "patient": unit.patient_id, "study": unit.study_uid,
                          "files": [[f, file_sha256[f]] for f in unit.files], "source": source,
                          "code": code, "data_dir": data_dir}, sort_keys=True, default=str)
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def _entry(store: Path, digest: str) -> Path:
    return store / digest[:2] / digest


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def fetch(store: Path, digest: str, data_dir: Path) -> dict[str, Any] | None:
    """The stored row of ``digest`` with its files linked into ``data_dir``, or None (not stored,
    incomplete, or a ground-truth file changed since)."""
    entry = _entry(store, digest)
    try:
        stored = json.loads((entry / "row.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for path, sha in stored["truth_sha256"].items():
        if not Path(path).is_file() or sha256_file(path) != sha:
            return None
    if not all((entry / rel).is_file() for rel in stored["files"]):
        return None
    for rel in stored["files"]:
        _link(entry / rel, data_dir / rel)
    row = stored["row"]
    for k in _PATH_FIELDS:
        if row[k]:
            row[k] = str(data_dir / row[k])
    row["_truth_files"] = list(stored["truth_sha256"])
    return row


def keep(store: Path, digest: str, row: dict[str, Any], files: list[Path], data_dir: Path) -> None:
    """Store ``row`` (paths made relative to ``data_dir``) and hard links to its ``files``."""
    entry = _entry(store, digest)
    if entry.exists():
        return
    tmp = entry.with_name(f"{digest}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    rels = [str(f.relative_to(data_dir)) for f in files]
    for f, rel in zip(files, rels):
        _link(f, tmp / rel)
    # Source file paths stay out of the store (it is under results/; folder names may name
    # patients): a fetched row takes them from its unit, whose files the digest covers.
    stored_row = {k: v for k, v in row.items() if k not in ("_truth_files", "source_files")}
    for k in _PATH_FIELDS:
        if stored_row[k]:
            stored_row[k] = str(Path(stored_row[k]).relative_to(data_dir))
    truth = {p: sha256_file(p) for p in row["_truth_files"]}
    (tmp / "row.json").write_text(json.dumps({"row": stored_row, "files": rels, "truth_sha256": truth},
                                             sort_keys=True), encoding="utf-8")
    try:
        os.replace(tmp, entry)
    except OSError:  # stored meanwhile by another worker
        shutil.rmtree(tmp, ignore_errors=True)


def prune(store: Path, used: set[str]) -> int:
    """Delete every entry (and leftover temporary entry) whose digest is not in ``used``."""
    removed = 0
    if not store.is_dir():
        return 0
    for shard in store.iterdir():
        for entry in shard.iterdir() if shard.is_dir() else []:
            if entry.name not in used:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        if shard.is_dir() and not any(shard.iterdir()):
            shard.rmdir()
    return removed
