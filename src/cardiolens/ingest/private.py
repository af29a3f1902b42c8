"""The data owner's private mapping from path keys back to real file paths.

Tables and provenance under ``results/`` identify an input file by its path key (``F`` + keyed
hash of its path relative to a configured folder, :func:`cardiolens.privacy.path_key`) and its
sha256, because clinical exports name folders after patients. Ingestion writes the way back, one
file per source, outside ``results/``, in the folder ``privacy.private_dir`` names::

    <private_dir>/<source>/paths.csv     root, path_key, path, sha256 (one row per file, sorted)

``root`` is the configured folder (the source's ``path``, or a ``truth_dir`` / ``contours_dir``
option) and ``path`` is relative to it. The file is for the data owner only: it is written under a
temporary name and renamed, readable by its owner alone (mode 0600).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

PATHS_FILE = "paths.csv"
COLUMNS = ["root", "path_key", "path", "sha256"]
#: A path key as it appears in a table value or a message.
PATH_KEY = re.compile(r"\bF[0-9a-f]{16}\b")


def paths_file(private_dir: str | os.PathLike[str], source: str) -> Path:
    """Where the mapping of ``source`` lives."""
    return Path(private_dir) / source / PATHS_FILE


def write_paths(private_dir: str | os.PathLike[str], source: str, paths: pd.DataFrame) -> Path:
    """Write the mapping of one source atomically (temporary name, then rename) and return its path."""
    target = paths_file(private_dir, source)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    # Sorted in Python: pandas would turn a name with surrogate escapes (not UTF-8) into an Arrow string.
    df = paths[COLUMNS].iloc[sorted(range(len(paths)), key=lambda i: (paths["root"].iat[i], paths["path"].iat[i]))]
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # A file name that is not valid UTF-8 is written as its original bytes.
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        df.to_csv(fh, index=False, lineterminator="\n")
    os.replace(tmp, target)
    return target


def read_paths(private_dir: str | os.PathLike[str], source: str) -> pd.DataFrame:
    """The mapping of ``source`` (Python strings in object columns: a file name that is not valid
    UTF-8 comes back with surrogate escapes, as ``os.fsdecode`` gives it).

    Raises:
        FileNotFoundError: naming the file and how it is made.
    """
    path = paths_file(private_dir, source)
    if not path.is_file():
        raise FileNotFoundError(f"no path mapping for source {source!r} at {path} (ingestion writes it; "
                                "pass the private folder of the run, privacy.private_dir)")
    return pd.read_csv(path, dtype=object, keep_default_na=False, encoding_errors="surrogateescape")


def reveal(rejected: pd.DataFrame, private_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """``rejected`` with ``path`` (a path key) replaced by the real path relative to the source
    root, and every path key quoted in ``message`` replaced by its path too."""
    out = rejected.copy()
    lookup: dict[str, str] = {}
    for source in sorted(set(out["source"])):
        mapping = read_paths(private_dir, source)
        lookup.update(zip(mapping["path_key"], mapping["path"]))
    out["path"] = pd.Series([lookup.get(k, k) for k in out["path"]], index=out.index, dtype=object)
    out["message"] = pd.Series([PATH_KEY.sub(lambda m: lookup.get(m.group(0), m.group(0)), msg) for msg in out["message"]],
                               index=out.index, dtype=object)
    return out
