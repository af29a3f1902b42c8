"""Table schemas declared once in code and checked on write and on read.

A deliberately small, pandas-only take on pandera's DataFrameSchema: named columns with an
Arrow type, nullability, allowed values, a numeric range and uniqueness. A violation raises
:class:`TableError` naming the table, the column, the problem and up to five offending rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


class TableError(ValueError):
    """A table does not satisfy its declared schema."""


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pa.DataType
    description: str
    nullable: bool = False
    allowed: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    unique: bool = False


@dataclass(frozen=True)
class TableSchema:
    name: str
    version: int
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.dtype, nullable=c.nullable) for c in self.columns])

    def describe(self) -> dict[str, Any]:
        """JSON-able description stored beside the data in the Parquet metadata."""
        return {
            "name": self.name,
            "version": self.version,
            "columns": {c.name: {"type": str(c.dtype), "nullable": c.nullable} for c in self.columns},
            "key": list(self.key),
        }

    def _fail(self, column: str, problem: str, rows: pd.Series | pd.Index | None = None) -> TableError:
        where = ""
        if rows is not None and len(rows):
            where = f" (rows {list(rows[:5])}{' ...' if len(rows) > 5 else ''})"
        return TableError(f"table {self.name!r}, column {column!r}: {problem}{where}")

    def validate(self, df: pd.DataFrame) -> None:
        """Raise :class:`TableError` unless ``df`` has exactly these columns, with valid values."""
        missing = [n for n in self.names if n not in df.columns]
        extra = [n for n in df.columns if n not in self.names]
        if missing or extra:
            raise TableError(f"table {self.name!r}: missing columns {missing}, unexpected columns {extra}")
        for col in self.columns:
            s = df[col.name]
            null = (s.isna() if not pa.types.is_list(col.dtype) else s.map(lambda v: v is None)).to_numpy(dtype=bool)
            if not col.nullable and bool(null.any()):
                raise self._fail(col.name, "null values in a non-nullable column", df.index[null])
            present = s[~null]
            if col.allowed is not None:
                bad = ~present.isin(col.allowed)
                if bool(bad.any()):
                    raise self._fail(
                        col.name, f"values {sorted(set(present[bad].astype(str)))[:5]} not in {list(col.allowed)}", present.index[bad.to_numpy()]
                    )
            if col.min is not None or col.max is not None:
                values = pd.to_numeric(present, errors="coerce")
                lo = -np.inf if col.min is None else col.min
                hi = np.inf if col.max is None else col.max
                bad = (values < lo) | (values > hi) | values.isna()
                if bool(bad.any()):
                    raise self._fail(col.name, f"values outside [{lo}, {hi}]", present.index[bad.to_numpy()])
            if col.unique and bool(present.duplicated().any()):
                raise self._fail(col.name, "duplicate values in a unique column", present.index[present.duplicated().to_numpy()])
        if self.key and bool(df.duplicated(subset=list(self.key)).any()):
            raise TableError(f"table {self.name!r}: duplicate key {list(self.key)}")

    def to_arrow(self, df: pd.DataFrame) -> pa.Table:
        """Validate, then convert with the declared Arrow types and column order."""
        self.validate(df)
        arrays = []
        for col in self.columns:
            values = df[col.name].tolist()
            values = [None if _is_missing(v) else v for v in values]
            try:
                arrays.append(pa.array(values, type=col.dtype))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise self._fail(col.name, f"cannot be stored as {col.dtype}: {exc}") from None
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema())

    def from_arrow(self, table: pa.Table, source: str) -> pd.DataFrame:
        """Check the stored Arrow schema against the declaration and return a validated DataFrame."""
        stored = {f.name: f.type for f in table.schema}
        expected = {c.name: c.dtype for c in self.columns}
        if list(stored) != list(expected) or any(stored[n] != expected[n] for n in expected):
            raise TableError(
                f"{source}: stored schema does not match table {self.name!r} v{self.version}: "
                f"stored {[(n, str(t)) for n, t in stored.items()]}"
            )
        df = table.to_pandas(types_mapper=_types_mapper)
        self.validate(df)
        return df


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (list, tuple, np.ndarray)):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _types_mapper(t: pa.DataType) -> Any:
    # Nullable pandas dtypes keep integer columns integer when they have nulls.
    mapping = {
        pa.int64(): pd.Int64Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.bool_(): pd.BooleanDtype(),
        pa.float64(): pd.Float64Dtype(),
        pa.float32(): pd.Float32Dtype(),
        pa.string(): pd.StringDtype(),
    }
    return mapping.get(t)
