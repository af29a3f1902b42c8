"""Audit of a results folder against the provenance its tables carry, and row-level lineage.

What :func:`audit` checks, for every Parquet table under ``results/``:

1. The table has a cardiolens provenance record and its data can be read (else
   ``unexplained`` / ``unreadable``: a table nobody can account for).
2. Every input file the record lists (raw DICOMs and CSVs, intermediate tables, shards, maps)
   still exists (else ``missing``) and has the recorded sha256 (else ``changed``). A table
   changed after a later stage read it is caught here, through the record of that later table.
   Paths are relative to the workflow directory, the parent of ``results/``.
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
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from cardiolens.hashing import sha256_file

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


def _check_inputs(table: Path, record: dict[str, Any], workdir: Path, hashes: _Hashes) -> Iterator[dict[str, str]]:
    for entry in record.get("inputs", []):
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
        findings += [{**f, "referenced_by": str(rel)} for f in _check_inputs(rel, record, workdir, hashes)]
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
    for an ingest recordings table, that row's source files and their combined sha256: the row's
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
