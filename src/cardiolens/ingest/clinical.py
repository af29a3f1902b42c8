"""Clinical tables: read, normalise to canonical covariates, pseudonymise."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.errors import InputError
from cardiolens.labels import SEED_LABELS

CANONICAL = ("sex", "age", "height_cm", "weight_kg", *SEED_LABELS)
_SEX = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M"}
#: Cell values read as missing (case-insensitive), besides the empty cell.
MISSING = ("na", "n/a", "nan", "null")


class ClinicalTableError(InputError):
    """The clinical table is malformed; the message names the file, row and column."""


def read_clinical(path: str, id_column: str, columns: dict[str, str]) -> pd.DataFrame:
    """Clinical CSV -> DataFrame indexed by the source identifier with canonical columns.

    ``columns`` maps canonical names to CSV columns; a canonical name present in the CSV under
    its own name is used as is. Labels are read as text; unparsable numbers and sexes are errors. Any other
    name ``columns`` maps (e.g. ``amyloid: Amyloidosis``) becomes a column of that name holding
    the CSV column's text (stripped; empty or :data:`MISSING` -> None): a label a study may name,
    validated against the study's classes when the study is prepared.
    """
    raw = _read_csv(path)
    if id_column not in raw.columns:
        raise ClinicalTableError(f"{path}: id column {id_column!r} not found{_header_hint(id_column, raw.columns)}")
    ids = raw[id_column].str.strip()
    if (ids == "").any():
        raise ClinicalTableError(f"{path}: empty {id_column} in rows {[int(r) for r in np.flatnonzero(ids == '') + 2][:5]}")
    if ids.duplicated().any():
        raise ClinicalTableError(f"{path}: {id_column} repeated in rows {[int(r) for r in np.flatnonzero(ids.duplicated()) + 2][:5]}")
    out = pd.DataFrame(index=pd.Index(ids, name="source_id"))
    for name in CANONICAL:
        col = columns.get(name, name)
        if col not in raw.columns:
            out[name] = None
            continue
        values = raw[col].str.strip().to_numpy()
        out[name] = _parse(path, name, col, values)
    for name in extra_label_names(columns):
        col = columns[name]
        if col not in raw.columns:
            raise ClinicalTableError(f"{path}: column {col!r} (mapped to label {name!r}) not found{_header_hint(col, raw.columns)}")
        out[name] = [None if v == "" or v.lower() in MISSING else v for v in raw[col].str.strip()]
    return out


def _header_hint(name: str, header: pd.Index) -> str:
    """Where a configured column was looked for, without echoing the header: a table saved without
    one has a patient's values in its first line. Only a header name close to ``name`` is shown."""
    import difflib

    close = difflib.get_close_matches(name.lower(), [str(c).lower() for c in header], n=1, cutoff=0.8)
    similar = [str(c) for c in header if str(c).lower() in close]
    hint = f"; did you mean {similar[0]!r}?" if similar else " (is the first line a header?)"
    return f" among the {len(header)} columns of line 1{hint}"


def sex_code(value: str) -> str | None:
    """'F' or 'M' from F/M/female/male/w in any case; None for anything else."""
    return _SEX.get(value.strip().lower())


def extra_label_names(columns: dict[str, str]) -> list[str]:
    """The names ``columns`` maps besides the canonical covariates and seed labels, sorted."""
    return sorted(set(columns) - set(CANONICAL))


def _read_csv(path: str) -> pd.DataFrame:
    """The CSV as strings. UTF-8 with or without a byte-order mark (Excel writes one); other
    encodings are refused with the first offending byte and its line, since guessing one would
    silently change names and labels. Comma- or semicolon-separated (the header decides)."""
    try:
        data = open(path, "rb").read()
    except OSError as exc:
        raise ClinicalTableError(f"{path}: cannot read the clinical table: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ClinicalTableError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                                 "save the table as UTF-8 CSV") from None
    header = text.split("\n", 1)[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ClinicalTableError(f"{path}: not a readable CSV table: {str(exc).strip()}") from None


def _parse(path: str, name: str, col: str, values: np.ndarray) -> list[Any]:
    parsed: list[Any] = []
    for row, v in enumerate(values, start=2):  # CSV line number (header is line 1)
        if v == "" or v.lower() in MISSING:  # "none" is not missing: it is a class of septal_flash
            parsed.append(None)
        elif name == "sex":
            if sex_code(v) is None:  # the value is not echoed: a mis-mapped column may hold names
                raise ClinicalTableError(f"{path}: line {row}, column {col!r}: not a sex (F/M/female/male)")
            parsed.append(sex_code(v))
        elif name in SEED_LABELS:
            parsed.append(v)  # text, as written: the studies' classes select (cardiolens.prepare.samples)
        else:
            try:
                parsed.append(float(v))
            except ValueError:
                raise ClinicalTableError(f"{path}: line {row}, column {col!r} (mapped to {name!r}): not a number") from None
    return parsed
