"""File hashing for provenance and audits."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
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


def iter_entries(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Every file entry under ``root``, following symbolic links to files and folders, loop-safe.

    Yields regular files (through links too) and the entries a reader cannot use, so that the
    ingest stage can reject them with a reason instead of losing them: a dangling link, a link
    to a folder that is already being walked (a loop; not entered), a folder that cannot be
    listed, special files. Hidden files are included; Snakemake's own markers
    (:data:`WORKFLOW_MARKERS`) are left out. Order: by name within each folder.
    """
    root = Path(root)
    if root.is_file():
        yield root
        return
    if not root.is_dir():
        raise FileNotFoundError(f"input folder does not exist: {root}")

    def walk(folder: Path, ancestors: frozenset[tuple[int, int]]) -> Iterator[Path]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:  # a folder that cannot be listed is reported, not skipped
            yield folder
            return
        for entry in entries:
            if entry.name in WORKFLOW_MARKERS:
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if not is_dir:
                yield path
                continue
            st = path.stat()
            ident = (st.st_dev, st.st_ino)
            if ident in ancestors:
                yield path  # a link back to a folder above it: listed (and rejected), not followed
                continue
            yield from walk(path, ancestors | {ident})

    st = root.stat()
    yield from walk(root, frozenset({(st.st_dev, st.st_ino)}))


def list_files(root: str | os.PathLike[str]) -> list[Path]:
    """Every file entry under ``root`` (:func:`iter_entries`), sorted.

    Every entry must end up ingested or rejected; :func:`entry_problem` says which entries
    cannot be read at all.
    """
    return sorted(iter_entries(root))


def has_files(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` holds at least one file entry (stops at the first one)."""
    return next(iter_entries(root), None) is not None


def entry_problem(path: str | os.PathLike[str]) -> str | None:
    """Why a file entry cannot be read (a message without the path), or None for a readable,
    non-empty regular file."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return "broken symbolic link: its target does not exist"
    if path.is_dir():
        if os.access(path, os.R_OK | os.X_OK):
            return "symbolic link to a folder above it (a loop): not followed"
        return "folder cannot be listed: permission denied"
    if not path.is_file():
        return "not a regular file (a device, socket or pipe)"
    if not os.access(path, os.R_OK):
        return "permission denied: the file cannot be read"
    if path.stat().st_size == 0:
        return "zero-byte file"
    return None


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
        try:
            st = p.stat()
        except OSError:  # a dangling link: its own entry counts
            st = p.lstat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()
