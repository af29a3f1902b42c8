"""File hashing for provenance and audits."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def sha256_of_hashes(hashes: Iterable[str]) -> str:
    """Order-independent digest of several files: sha256 of their sorted hex digests."""
    h = hashlib.sha256()
    for digest in sorted(hashes):
        h.update(digest.encode("ascii"))
    return h.hexdigest()


#: Files that are workflow bookkeeping, not data: Snakemake's marker in directory outputs.
WORKFLOW_MARKERS = frozenset({".snakemake_timestamp"})


def list_files(root: str | os.PathLike[str]) -> list[Path]:
    """Every regular file under ``root``, sorted, hidden files included.

    Only Snakemake's own marker files (:data:`WORKFLOW_MARKERS`) are left out; every other file
    must end up ingested or rejected.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"input folder does not exist: {root}")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in WORKFLOW_MARKERS)


def inventory_digest(root: str | os.PathLike[str]) -> str:
    """sha256 of (relative path, size, mtime_ns) of every file under ``root`` (no content read).

    Snakemake only sees a directory input's own mtime, which does not change when a file deep in
    the tree is added or edited; passing this digest as a rule parameter makes any such change
    rerun the ingestion of that source. Costs one stat per file.
    """
    root = Path(root)
    h = hashlib.sha256()
    if not root.is_dir():
        return "missing"
    for p in list_files(root):
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()
