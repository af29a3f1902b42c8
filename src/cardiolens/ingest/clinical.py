"""Clinical tables: read, normalise to canonical covariates, pseudonymise."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.errors import InputError
from cardiolens.labels import SEED_LABELS

CANONICAL = ("sex", "age", "height_cm", "weight_kg", *SEED_LABELS)
_SEX = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M"}
#: Cell values read as missing (case-insensitive), besides the empty cell.
MISSING = ("na", "n/a", "nan", "null")
#: A text label with at least this many values, every one different and none with a digit, is
#: taken for names or free text (:func:`identifying_labels`).
MIN_DISTINCT_NAMES = 10


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
    refuse_identifying_labels(path, out, columns, id_column=id_column)
    return out


def refuse_identifying_labels(path: str, table: pd.DataFrame, columns: dict[str, str],
                              identities: Iterable[tuple[str, str, str]] = (), id_column: str | None = None) -> None:
    """Raise :class:`ClinicalTableError` naming ``path`` and each label column
    :func:`identifying_labels` finds."""
    problems = identifying_labels(table, columns, identities, id_column)
    if problems:
        raise ClinicalTableError(f"{path}: {'; '.join(problems)}; identifying values are never written to results/: "
                                 "map the label to the column that holds it")


def text_labels(columns: dict[str, str]) -> list[str]:
    """The label columns read as text: the seed labels and every extra name ``columns`` maps."""
    return [*SEED_LABELS, *extra_label_names(columns)]


#: A label column whose values all equal their rows' identifiers is a copy of the id column from
#: this many filled rows on (fewer could be class codes 1, 2, 3 beside IDs 1, 2, 3).
MIN_COPIED_IDS = 5


def identifying_labels(table: pd.DataFrame, columns: dict[str, str], identities: Iterable[tuple[str, str, str]] = (),
                       id_column: str | None = None) -> list[str]:
    """Why label columns of a read clinical table (:func:`read_clinical`'s output, indexed by the
    source identifier) look like patient identifiers, one text per such column; empty if none.

    Labels are copied to the tables verbatim, so a column mapped by mistake (``amyloid: PatientName``)
    would carry identifiers into ``results/``. A label column is refused when

    - it is ``id_column``, or every one of at least :data:`MIN_COPIED_IDS` values equals its own
      row's identifier (a copy of the id column);
    - a value is the name or the birth date of a patient of the source (``identities``: the
      (PatientID, PatientName, PatientBirthDate) of the DICOM headers). A name matches in any order
      of its parts and any case (``DOE^JANE`` and ``Jane Doe``) if it has two parts of letters, so
      that a research export's ``HCM_001`` never matches the class ``HCM``; a date with or without
      separators, as year-month-day, day-month-year or month-day-year. Only a name or date of a
      single patient counts: one that several patients share (``ANONYMOUS``, ``19000101``, or a
      class written into PatientName) identifies no one.
    - it holds :data:`MIN_DISTINCT_NAMES` or more values, all different, none with a digit: names
      or free text, never a class label (a class of one patient) and not a number.

    No value is quoted in the texts.
    """
    owners: dict[object, set[str]] = {}
    for pid, person, born in identities:
        tokens = _name_tokens(person)
        if sum(p.isalpha() for p in tokens) >= 2:
            owners.setdefault(tokens, set()).add(pid)
        if len(_digits(born)) == 8:
            for form in _date_forms(_digits(born)):
                owners.setdefault(form, set()).add(pid)
    names = {k for k, who in owners.items() if isinstance(k, frozenset) and len(who) == 1}
    dates = {k for k, who in owners.items() if isinstance(k, str) and len(who) == 1}
    out = []
    for name in text_labels(columns):
        if name not in table.columns:
            continue
        values = table[name].dropna().astype(str)
        col = columns.get(name, name)
        where = f"column {col!r} (mapped to label {name!r})"
        copied = len(values) >= MIN_COPIED_IDS and (values == values.index.to_series(index=values.index).astype(str)).all()
        if col == id_column or copied:
            out.append(f"{where} holds the patient identifier of every row")
        elif names and (n := sum(_name_tokens(v) in names for v in values)):
            out.append(f"{where} holds the DICOM patient name of {n} patient(s)")
        elif dates and (n := sum(_digits(v) in dates for v in values)):
            out.append(f"{where} holds the DICOM birth date of {n} patient(s)")
        elif (len(values) >= MIN_DISTINCT_NAMES and values.is_unique
              and not values.str.contains(r"\d").any() and values.str.contains(r"[^\W\d_]").all()):
            out.append(f"{where} holds {len(values)} different values without a digit, one per patient: "
                       "names or free text, not a class label")
    return out


def _name_tokens(text: str) -> frozenset[str]:
    """The parts of a person's name, case-folded, in any order (``DOE^JANE`` -> {doe, jane})."""
    return frozenset(t for t in re.split(r"[\W_]+", str(text).casefold()) if t)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", str(text))


def _date_forms(yyyymmdd: str) -> set[str]:
    """A DICOM date's digits written year-month-day, day-month-year and month-day-year."""
    y, m, d = yyyymmdd[:4], yyyymmdd[4:6], yyyymmdd[6:]
    return {y + m + d, d + m + y, m + d + y}


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
