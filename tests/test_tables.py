"""Declared schemas are enforced on write and read; provenance travels in the Parquet metadata."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cardiolens import provenance
from cardiolens.tables import Column, TableError, TableSchema, read_provenance, read_table, write_table
from cardiolens.tables.registry import REJECTED

TOY = TableSchema(
    name="toy", version=1, description="test", key=("id",),
    columns=(
        Column("id", pa.string(), "id", unique=True),
        Column("grade", pa.int64(), "grade", min=1, max=3),
        Column("label", pa.string(), "label", nullable=True, allowed=("a", "b")),
        Column("frames", pa.list_(pa.int64()), "frames"),
    ),
)


def _df(**overrides):
    base = {"id": ["x", "y"], "grade": [1, 3], "label": ["a", None], "frames": [[0, 5], []]}
    base.update(overrides)
    return pd.DataFrame(base)


def test_round_trip_keeps_values_types_and_provenance(tmp_path):
    prov = provenance.build("rule_x", [], {"alpha": 1, "privacy": {"key": "secret", "key_env": "E"}})
    path = write_table(_df(), tmp_path / "t.parquet", TOY, prov)
    back = read_table(path, TOY)
    assert back["id"].tolist() == ["x", "y"] and back["grade"].tolist() == [1, 3]
    assert back["label"].isna().tolist() == [False, True]
    assert [list(v) for v in back["frames"]] == [[0, 5], []]
    stored = read_provenance(path)
    assert stored["rule"] == "rule_x" and stored["config"]["slice"]["alpha"] == 1
    assert "secret" not in json.dumps(stored)  # the key is redacted
    assert stored["config"]["sha256"] == provenance.config_hash(stored["config"]["slice"])
    assert pq.read_schema(path).field("grade").type == pa.int64()
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"grade": [1, 4]}, r"'grade'.*outside \[1, 3\].*rows \[1\]"),
        ({"label": ["a", "c"]}, r"'label'.*\['c'\] not in"),
        ({"id": ["x", "x"]}, r"'id'.*duplicate"),
        ({"grade": [1, None]}, r"'grade'.*null"),
    ],
)
def test_violations_name_table_column_and_rows(tmp_path, overrides, match):
    with pytest.raises(TableError, match=match):
        write_table(_df(**overrides), tmp_path / "t.parquet", TOY, {})
    assert not (tmp_path / "t.parquet").exists()


def test_missing_or_extra_columns(tmp_path):
    with pytest.raises(TableError, match=r"missing columns \['frames'\]"):
        write_table(_df().drop(columns="frames"), tmp_path / "t.parquet", TOY, {})


def test_reading_with_the_wrong_schema_fails(tmp_path):
    path = write_table(_df(), tmp_path / "t.parquet", TOY, {})
    with pytest.raises(TableError, match="holds table 'toy', expected 'rejected'"):
        read_table(path, REJECTED)


def test_tampered_column_type_is_caught_on_read(tmp_path):
    path = write_table(_df(), tmp_path / "t.parquet", TOY, {})
    table = pq.read_table(path)
    table = table.set_column(1, "grade", pa.array([1.0, 3.0]))
    pq.write_table(table, path)
    with pytest.raises(TableError, match="stored schema does not match"):
        read_table(path, TOY)


def test_writes_are_deterministic(tmp_path):
    a = write_table(_df(), tmp_path / "a.parquet", TOY, {"rule": "r"})
    b = write_table(_df(), tmp_path / "b.parquet", TOY, {"rule": "r"})
    assert a.read_bytes() == b.read_bytes()
