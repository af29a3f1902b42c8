"""Audit of a results folder against the provenance its tables carry, and row-level lineage.

What :func:`audit` checks, for every Parquet table under ``results/``:

1. The table has a cardiolens provenance record and its data can be read (else
   ``unexplained`` / ``unreadable``: a table nobody can account for).
2. Every input file the record lists (raw DICOMs and CSVs, intermediate tables, shards, maps)
   still exists (else ``missing``) and has the recorded sha256 (else ``changed``). A table
   changed after a later stage read it is caught here, through the record of that later table.
   Paths are relative to the workflow directory, the parent of ``results/``. A source file is
   recorded by its path key (its configured folder joined with ``F`` + keyed hash, see
   :func:`cardiolens.ingest.stage.input_entry`), not its path: the audit walks that folder again.
   With the key the record was made with (the environment variable the record's configuration
   names, or the demo key for the synthetic cohort; recognised by the recorded key fingerprint) it
   recomputes every file's path key and reports ``missing`` / ``changed`` exactly. Without it, it
   can only match by content: an entry whose sha256 no file in the folder has is ``missing``
   (changed, moved or removed: the key tells which).
3. Checkpoints named in a provenance record (``extra.checkpoint``): the zip container's CRC-32 of
   every member (``zipfile.testzip``; a PyTorch checkpoint is a zip archive) and the sha256 of
   the weights against ``extra.checkpoint_weights_sha256`` (the file's own hash is not recorded:
   Lightning writes absolute paths into it). Limitation: a byte flipped in the zip's alignment
   padding changes neither.
4. Canonical images: every row of an ingest ``recordings.parquet`` has its image decoded again and
   its ``pixel_sha256`` compared (the images are read by later stages without a file hash).

Each problem is one row of the findings table: kind, path, detail, and every table whose record
referenced it. No finding = the results are what their provenance says they are.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from cardiolens.hashing import list_files, sha256_file
from cardiolens.privacy import path_key

log = logging.getLogger("cardiolens.audit")
KINDS = ("missing", "changed", "unreadable", "unexplained")
FINDING_COLUMNS = ["kind", "path", "detail", "referenced_by"]


def tables_under(root: Path) -> list[Path]:
    """Every Parquet file under ``root``, sorted (Snakemake's own folders excluded)."""
    return sorted(p for p in root.rglob("*.parquet") if ".snakemake" not in p.parts)


def provenance_of(path: Path) -> dict[str, Any] | None:
    """The provenance record of a table, or None when it has none."""
    from cardiolens.tables.parquet import PROVENANCE_KEY

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[PROVENANCE_KEY]) if PROVENANCE_KEY in meta else None


class _Hashes:
    """sha256 of files, each computed once per audit."""

    def __init__(self) -> None:
        self.cache: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path not in self.cache:
            self.cache[path] = sha256_file(path)
        return self.cache[path]


def record_key(record: dict[str, Any]) -> bytes | None:
    """The pseudonymisation key an ingest record was made with, when it can be had here: the
    environment variable its configuration names, or the published demo key; each is accepted
    only when its fingerprint equals the recorded ``extra.key_fingerprint``."""
    from cardiolens.config import DEMO_KEY
    from cardiolens.privacy import key_fingerprint

    recorded = (record.get("extra") or {}).get("key_fingerprint")
    env = (((record.get("config") or {}).get("slice") or {}).get("privacy") or {}).get("key_env", "CARDIOLENS_PSEUDONYM_KEY")
    for candidate in (os.environ.get(env), DEMO_KEY):
        if recorded and candidate and key_fingerprint(candidate.encode("utf-8")) == recorded:
            return candidate.encode("utf-8")
    return None


class _Folders:
    """Files under the configured folders that provenance records by path key, walked once per audit."""

    def __init__(self, workdir: Path, hashes: _Hashes) -> None:
        self.workdir, self.hashes = workdir, hashes
        self.by_key: dict[tuple[str, bytes], dict[str, Path]] = {}
        self.contents: dict[str, set[str]] = {}

    def _files(self, root: str) -> list[Path]:
        folder = self.workdir / root
        return list_files(folder) if folder.is_dir() else []

    def file(self, root: str, key: bytes, pkey: str) -> Path | None:
        """The file under ``root`` whose relative path has path key ``pkey`` under ``key``."""
        if (root, key) not in self.by_key:
            folder = self.workdir / root
            self.by_key[(root, key)] = {path_key(key, f.relative_to(folder).as_posix()): f for f in self._files(root)}
        return self.by_key[(root, key)].get(pkey)

    def has_content(self, root: str, sha256: str) -> bool:
        """Whether any file under ``root`` has this sha256 (every file hashed once)."""
        if root not in self.contents:
            self.contents[root] = {self.hashes(f) for f in self._files(root)}
        return sha256 in self.contents[root]


def _check_hashed(entry: dict[str, Any], key: bytes | None, folders: _Folders, table: Path,
                  env: str) -> Iterator[dict[str, str]]:
    """Findings of one input recorded by path key (see the module docstring)."""
    if key is None:
        if not folders.has_content(entry["root"], entry["sha256"]):
            yield {"kind": "missing", "path": entry["path"], "referenced_by": str(table),
                   "detail": f"no file under {entry['root']} has the recorded sha256 {entry['sha256'][:12]} "
                             f"(changed, moved or removed; with the key in {env} the audit tells which)"}
        return
    path = folders.file(entry["root"], key, entry["path_key"])
    if path is None:
        yield {"kind": "missing", "path": entry["path"], "detail": "listed as an input, not on disk", "referenced_by": str(table)}
    elif folders.hashes(path) != entry["sha256"]:
        yield {"kind": "changed", "path": entry["path"], "referenced_by": str(table),
               "detail": f"sha256 {folders.hashes(path)[:12]} != recorded {entry['sha256'][:12]}"}


def _check_inputs(table: Path, record: dict[str, Any], workdir: Path, hashes: _Hashes,
                  folders: _Folders) -> Iterator[dict[str, str]]:
    entries = record.get("inputs", [])
    key = record_key(record) if any("path_key" in e for e in entries) else None
    env = (((record.get("config") or {}).get("slice") or {}).get("privacy") or {}).get("key_env", "CARDIOLENS_PSEUDONYM_KEY")
    for entry in entries:
        if "path_key" in entry:
            yield from _check_hashed(entry, key, folders, table, env)
            continue
        path = workdir / entry["path"]
        if not path.is_file():
            yield {"kind": "missing", "path": entry["path"], "detail": "listed as an input, not on disk", "referenced_by": str(table)}
        elif hashes(path) != entry["sha256"]:
            yield {"kind": "changed", "path": entry["path"], "detail": f"sha256 {hashes(path)[:12]} != recorded {entry['sha256'][:12]}",
                   "referenced_by": str(table)}


def check_checkpoint(path: Path, weights_sha256: str) -> str | None:
    """None when the checkpoint's zip members pass their CRC and its weights hash as recorded, else why not."""
    from cardiolens.train.stage import weights_sha256 as weights_hash

    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
        if bad is not None:
            return f"zip member {bad} fails its CRC-32"
        actual = weights_hash(path)
    except Exception as exc:  # noqa: BLE001 - any failure to read the file is the finding
        return f"unreadable checkpoint: {type(exc).__name__}: {exc}"
    if weights_sha256 and actual != weights_sha256:
        return f"weights sha256 {actual[:12]} != recorded {weights_sha256[:12]}"
    return None


def _check_images(table: Path, workdir: Path) -> Iterator[dict[str, str]]:
    import itk
    import numpy as np

    from cardiolens.ingest.canonical import array_sha256

    rows = pd.read_parquet(table, columns=["recording_id", "image_path", "pixel_sha256"])
    for r in rows.itertuples():
        path = workdir / r.image_path if not Path(r.image_path).is_absolute() else Path(r.image_path)
        if not path.is_file():
            yield {"kind": "missing", "path": r.image_path, "detail": f"image of {r.recording_id}", "referenced_by": str(table)}
            continue
        try:
            arr = np.ascontiguousarray(itk.array_from_image(itk.imread(str(path))))
            # The canonical image is written from the decoded array: its axes are reversed by ITK on the way in and out.
            digest = array_sha256(arr)
        except Exception as exc:  # noqa: BLE001
            yield {"kind": "unreadable", "path": r.image_path, "detail": f"{type(exc).__name__}: {exc}", "referenced_by": str(table)}
            continue
        if digest != r.pixel_sha256:
            yield {"kind": "changed", "path": r.image_path, "detail": f"pixel sha256 {digest[:12]} != recorded {r.pixel_sha256[:12]}",
                   "referenced_by": str(table)}


def audit(results: str | Path, images: bool = True, checkpoints: bool = True) -> pd.DataFrame:
    """Findings (kind, path, detail, referenced_by) of a results folder; empty when clean."""
    root = Path(results)
    if not root.is_dir():
        raise FileNotFoundError(f"results folder not found: {root}")
    workdir = root.resolve().parent
    hashes = _Hashes()
    folders = _Folders(workdir, hashes)
    findings: list[dict[str, str]] = []
    seen_ckpt: dict[tuple[str, str], str | None] = {}
    tables = tables_under(root)
    log.info("audit: %d tables under %s", len(tables), root)
    for i, table in enumerate(tables):
        rel = table.resolve().relative_to(workdir)
        try:
            record = provenance_of(table)
            pq.read_table(table)
        except Exception as exc:  # noqa: BLE001
            findings.append({"kind": "unreadable", "path": str(rel), "detail": f"{type(exc).__name__}: {exc}", "referenced_by": ""})
            continue
        if record is None:
            findings.append({"kind": "unexplained", "path": str(rel), "detail": "no cardiolens provenance record", "referenced_by": ""})
            continue
        findings += [{**f, "referenced_by": str(rel)} for f in _check_inputs(rel, record, workdir, hashes, folders)]
        extra = record.get("extra") or {}
        ckpt = extra.get("checkpoint")
        if checkpoints and ckpt:
            path = workdir / ckpt
            key = (ckpt, str(extra.get("checkpoint_weights_sha256", "")))
            if key not in seen_ckpt:  # each checkpoint is read once; every table naming it is listed
                seen_ckpt[key] = "listed as the checkpoint, not on disk" if not path.is_file() else check_checkpoint(path, key[1])
            if seen_ckpt[key]:
                findings.append({"kind": "missing" if not path.is_file() else "changed", "path": ckpt, "detail": seen_ckpt[key],
                                 "referenced_by": str(rel)})
        if images and table.name == "recordings.parquet" and "image_path" in pq.read_schema(table).names \
                and record.get("rule", "").startswith(("ingest_source", "cli:ingest")):
            findings += [{**f, "referenced_by": str(rel)} for f in _check_images(table, workdir)]
        if (i + 1) % 25 == 0:
            log.info("audit: %d/%d tables checked, %d files hashed", i + 1, len(tables), len(hashes.cache))
    out = pd.DataFrame(findings, columns=FINDING_COLUMNS)
    # One row per problem, with every table whose record referenced the file.
    out = out.groupby(["kind", "path", "detail"], sort=True, as_index=False).agg(
        referenced_by=("referenced_by", lambda s: ", ".join(sorted(set(s) - {""}))))
    log.info("audit: %d tables, %d files hashed, %d checkpoints, %d findings", len(tables), len(hashes.cache), len(seen_ckpt), len(out))
    return out.reset_index(drop=True)


def lineage(table: str | Path, workdir: str | Path | None = None, where: dict[str, str] | None = None,
            max_depth: int = 12) -> list[dict[str, Any]]:
    """The chain from ``table`` back to raw files and configuration, depth first.

    One entry per table reached: depth, path, producing rule, config sha256, code version, the
    number of non-table inputs (raw files, shards, maps) and, with ``where`` (column -> value,
    e.g. ``{"recording_id": "R..."}``), the number of the table's rows with those values - and
    for an ingest recordings table, that row's source files (path keys: the private mapping of
    :mod:`cardiolens.ingest.private` turns them into paths) and their combined sha256: the row's
    way back to the raw bytes.
    """
    table = Path(table)
    workdir = Path(workdir) if workdir else _workdir_of(table)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(rel: str, depth: int) -> None:
        if rel in seen or depth > max_depth:
            return
        seen.add(rel)
        path = workdir / rel
        record = provenance_of(path) or {}
        inputs = record.get("inputs", [])
        entry: dict[str, Any] = {"depth": depth, "table": rel, "rule": record.get("rule"),
                                 "config_sha256": (record.get("config") or {}).get("sha256"),
                                 "code_sha256": (record.get("code") or {}).get("source_sha256"),
                                 "other_inputs": sum(1 for i in inputs if not i["path"].endswith(".parquet"))}
        if where:
            names = pq.read_schema(path).names
            cols = {k: v for k, v in where.items() if k in names}
            if cols:
                df = pd.read_parquet(path, columns=sorted(set(cols) | ({"source_files", "source_sha256"} & set(names))))
                for k, v in cols.items():
                    df = df[df[k].astype(str) == v]
                entry["rows"] = len(df)
                if "source_files" in df and len(df):
                    entry["source_files"] = sorted({f for fs in df["source_files"] for f in fs})
                    entry["source_sha256"] = sorted(set(df["source_sha256"]))
        out.append(entry)
        for i in inputs:
            if i["path"].endswith(".parquet") and (workdir / i["path"]).is_file():
                visit(i["path"], depth + 1)

    visit(str(table.resolve().relative_to(workdir.resolve())), 0)
    return out


def _workdir_of(table: Path) -> Path:
    """The workflow directory of a table: the parent of its ``results`` folder."""
    for parent in table.resolve().parents:
        if parent.name == "results":
            return parent.parent
    raise ValueError(f"{table} is not under a results/ folder; pass workdir")
