"""The one Parquet writer and reader: schema-checked, provenance-stamped, atomic.

Provenance and the schema description travel in the Parquet schema metadata under
namespaced keys with JSON values (``cardiolens.provenance``, ``cardiolens.schema``);
read them back with :func:`read_provenance` (pandas drops custom keys).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from cardiolens.tables.schema import TableError, TableSchema

PROVENANCE_KEY = b"cardiolens.provenance"
SCHEMA_KEY = b"cardiolens.schema"


def write_table(df: pd.DataFrame, path: str | os.PathLike[str], schema: TableSchema, provenance: dict[str, Any]) -> Path:
    """Validate ``df`` against ``schema`` and write it with its provenance, atomically.

    The file is written to ``<path>.tmp`` and renamed, so a half-written table never sits
    under the final name. Rows are written in the given order (callers sort them).
    """
    path = Path(path)
    table = schema.to_arrow(df.reset_index(drop=True))
    meta = dict(table.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True).encode("utf-8")
    meta[SCHEMA_KEY] = json.dumps(schema.describe(), sort_keys=True).encode("utf-8")
    table = table.replace_schema_metadata(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", write_statistics=False)
    os.replace(tmp, path)
    return path


def read_table(path: str | os.PathLike[str], schema: TableSchema) -> pd.DataFrame:
    """Read a table written by :func:`write_table` and validate it against ``schema``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    stored = json.loads(meta.get(SCHEMA_KEY, b"{}"))
    if stored.get("name") != schema.name:
        raise TableError(f"{path}: holds table {stored.get('name')!r}, expected {schema.name!r}")
    return schema.from_arrow(table.replace_schema_metadata(None), str(path))


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance record stored in a table's schema metadata."""
    meta = pq.read_schema(path).metadata or {}
    if PROVENANCE_KEY not in meta:
        raise TableError(f"{path}: no cardiolens provenance in the Parquet metadata")
    return json.loads(meta[PROVENANCE_KEY])
