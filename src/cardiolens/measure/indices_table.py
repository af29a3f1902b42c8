"""Rows of the ``indices`` table (one per patient) from a patient's ED/ES masks and body size."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from cardiolens.measure.indices import (
    bsa_mosteller,
    indexed,
    labelled_slices,
    stack_indices,
)
from cardiolens.tables.registry import INDICES


def _known(v: float | None) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def patient_row(*, patient_key: str, recording_id: str, mask_source: str, ed_frame: int, es_frame: int,
                ed_mask: NDArray[np.integer], es_mask: NDArray[np.integer], spacing_mm: tuple[float, float, float],
                height_cm: float | None, weight_kg: float | None, n_rays: int = 90) -> dict[str, Any]:
    """One ``indices`` row: :func:`~cardiolens.measure.indices.stack_indices` of the (S, H, W) masks,
    the BSA (null unless both height and weight are known) and the ``_per_m2`` indices."""
    values = stack_indices(ed_mask, es_mask, spacing_mm, n_rays)
    bsa = bsa_mosteller(height_cm, weight_kg) if _known(height_cm) and _known(weight_kg) else None
    return {
        "patient_key": patient_key, "recording_id": recording_id, "mask_source": mask_source,
        "ed_frame": int(ed_frame), "es_frame": int(es_frame), "n_slices": int(labelled_slices(ed_mask, es_mask).sum()),
        "height_cm": height_cm if _known(height_cm) else None, "weight_kg": weight_kg if _known(weight_kg) else None,
        "bsa_m2": bsa, **indexed(values, bsa),
    }


def indices_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The ``indices`` table (:data:`cardiolens.tables.registry.INDICES`, its column order and
    dtypes: float columns float64 with NaN for null) of :func:`patient_row` rows, validated."""
    rows = list(rows)
    for n, row in enumerate(rows):
        if set(row) != set(INDICES.names):
            raise ValueError(f"row {n}: missing {sorted(set(INDICES.names) - set(row))}, "
                             f"unexpected {sorted(set(row) - set(INDICES.names))}")
    df = pd.DataFrame(rows, columns=INDICES.names)
    for col in INDICES.columns:
        if col.dtype == pa.float64():
            df[col.name] = pd.to_numeric(df[col.name], errors="raise").astype("float64")
        elif col.dtype == pa.int64():
            df[col.name] = df[col.name].astype("int64")
    INDICES.validate(df)
    return df
