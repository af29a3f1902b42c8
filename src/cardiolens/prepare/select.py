"""Which recordings a study uses, before its label: ``sources``, ``views`` and ``where``.

A study's selection keys (``studies.<name>.sources``, ``.views``, ``.where``) filter the
recordings table in that order, each keeping the rows that satisfy it; :func:`select_recordings`
applies them and says how many rows each kept, :func:`selection_problems` checks them against
the recordings table's declared columns (:data:`cardiolens.tables.registry.RECORDINGS`) and the
run's sources when the configuration is parsed. ``where`` maps a column either to its allowed
values or to inclusive ``{min, max}`` bounds; a recording without a value in a filtered column
never passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

#: Selection keys of a study, in the order they are applied.
SELECTION_KEYS = ("sources", "views", "where")


def with_label(recordings: pd.DataFrame, label: str) -> pd.DataFrame:
    """``recordings`` with a column ``label``: the recordings column of that name (the seed labels,
    ``quality``), else the value of ``label`` in each row's ``clinical_labels`` (a column of the
    clinical table mapped under that name; None where the patient has none). Unchanged when the
    column exists or the table has no ``clinical_labels``."""
    if label in recordings.columns or "clinical_labels" not in recordings.columns:
        return recordings
    import json

    values = [json.loads(cell).get(label) if isinstance(cell, str) else None for cell in recordings["clinical_labels"]]
    return recordings.assign(**{label: pd.Series(values, index=recordings.index, dtype=object)})


def condition_mask(values: pd.Series, condition: Sequence[Any] | Mapping[str, float]) -> pd.Series:
    """Rows of ``values`` meeting one ``where`` condition: a list of allowed values, or inclusive
    ``{min, max}`` bounds (either may be absent). Missing values never pass."""
    present = values.notna()
    if isinstance(condition, Mapping):
        numbers = pd.to_numeric(values, errors="coerce")
        keep = present & numbers.notna()
        if "min" in condition:
            keep &= numbers >= condition["min"]
        if "max" in condition:
            keep &= numbers <= condition["max"]
        return keep.fillna(False).astype(bool)
    return (present & values.isin(list(condition))).astype(bool)


def selection_steps(study: Mapping[str, Any]) -> list[tuple[str, str, Sequence[Any] | Mapping[str, float]]]:
    """The filters ``study`` sets, in order: ``(description, column, condition)``, e.g.
    ``("sources ['hospital_b']", "source", ["hospital_b"])``; unset keys give none."""
    steps: list[tuple[str, str, Sequence[Any] | Mapping[str, float]]] = []
    if study.get("sources"):
        steps.append((f"sources {list(study['sources'])}", "source", list(study["sources"])))
    if study.get("views"):
        steps.append((f"views {list(study['views'])}", "view", list(study["views"])))
    for column, condition in (study.get("where") or {}).items():
        shown = dict(condition) if isinstance(condition, Mapping) else list(condition)
        steps.append((f"where {column} {shown}", column, condition))
    return steps


def select_recordings(recordings: pd.DataFrame, study: Mapping[str, Any]) -> tuple[pd.DataFrame, list[tuple[str, int, int]]]:
    """The recordings ``study``'s selection keys keep, and per filter ``(description, rows before,
    rows kept)`` in the order applied (empty when the study sets none).

    Raises:
        KeyError: a filtered column the table does not have (the configuration check prevents it).
    """
    kept, counts = recordings, []
    for _, column, _ in selection_steps(study):
        kept = with_label(kept, column)  # a where on a clinical-table column
    for description, column, condition in selection_steps(study):
        if column not in kept.columns:
            raise KeyError(f"recordings have no column {column!r} (filter {description})")
        before = len(kept)
        kept = kept[condition_mask(kept[column], condition).to_numpy()]
        counts.append((description, before, len(kept)))
    return kept, counts


def describe_selection(study: Mapping[str, Any]) -> str:
    """``', sources ['a'], where quality ['Good']'`` for messages, or '' when nothing is selected."""
    return "".join(f", {description}" for description, _, _ in selection_steps(study))


def _numeric(column: str) -> bool:
    import pyarrow as pa

    from cardiolens.tables.registry import RECORDINGS

    dtype = next(c.dtype for c in RECORDINGS.columns if c.name == column)
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype))


def filterable_columns() -> list[str]:
    """Recordings columns a ``where`` condition may name: those with one value per row (list
    columns such as ``r_peak_frames`` are not)."""
    import pyarrow as pa

    from cardiolens.tables.registry import RECORDINGS

    return [c.name for c in RECORDINGS.columns if not pa.types.is_list(c.dtype)]


def selection_problems(name: str, study: Mapping[str, Any], source_names: Sequence[str], clinical: Sequence[str] = ()) -> list[str]:
    """What is wrong with the selection keys of study ``name`` (one line each, naming the key):
    a source the run does not have, a ``where`` column neither the recordings table nor the
    clinical tables' mapped columns (``clinical``, text) have, a value that column never takes
    (its declared values), or bounds on a text column."""
    from cardiolens.config_check import did_you_mean
    from cardiolens.tables.registry import RECORDINGS

    key = f"config key 'studies.{name}"
    out = [f"{key}.sources': {s!r} is not a source of this run; sources: {list(source_names)}{did_you_mean(s, source_names)}"
           for s in study.get("sources") or [] if s not in source_names]
    columns = filterable_columns()
    declared = {c.name: c for c in RECORDINGS.columns}
    for column, condition in (study.get("where") or {}).items():
        if column in clinical and column not in columns:
            if isinstance(condition, Mapping):
                out.append(f"{key}.where.{column}': min/max need a numeric column; clinical-table column {column!r} is text: "
                           "give its allowed values as a list")
            continue
        if column not in columns:
            out.append(f"{key}.where.{column}': the recordings table has no column {column!r}{did_you_mean(column, columns)}; "
                       f"columns: {columns}")
        elif isinstance(condition, Mapping):
            if not _numeric(column):
                out.append(f"{key}.where.{column}': min/max need a numeric column; {column!r} is text: give its allowed values as a list")
            elif "min" in condition and "max" in condition and condition["min"] > condition["max"]:
                out.append(f"{key}.where.{column}': min {condition['min']} is above max {condition['max']}")
        elif declared[column].allowed is not None:
            allowed = list(declared[column].allowed)
            out += [f"{key}.where.{column}': {v!r} is not a value of {column!r} (its values: {allowed}){did_you_mean(str(v), allowed)}"
                    for v in condition if v not in allowed]
    return out
