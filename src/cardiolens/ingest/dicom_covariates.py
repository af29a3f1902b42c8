"""Covariates a DICOM header carries: sex, age, height and weight of the patient at the study.

Patient Module and Patient Study Module attributes (DICOM PS3.3 C.7.1.1, C.7.2.2):
``PatientSex`` (M, F, O), ``PatientAge`` (``nnnD|W|M|Y``), ``PatientBirthDate`` with ``StudyDate``
(the age when ``PatientAge`` is absent), ``PatientSize`` (metres) and ``PatientWeight`` (kg). MR
scanners fill size and weight for the SAR limits, so a DICOM export often gives the body-surface
area of the cardiac indices without a clinical table.

A value outside a plausible range (height 0.3-2.5 m, weight 1-400 kg, age 0-130 years; a size of
175 is centimetres written where metres belong, and is not guessed at) is read as missing. The
birth date is used for the age only (the scan's ``Header.identity`` carries it, in memory only, to
refuse a clinical label that holds it); neither is written anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd

#: (sex, age in years, height in cm, weight in kg) of one header; None where missing or implausible.
Covariates = tuple[str | None, float | None, float | None, float | None]
COLUMNS = ("sex", "age", "height_cm", "weight_kg")
_AGE_UNITS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def _number(value: object) -> float | None:
    try:
        v = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _date(value: object) -> date | None:
    text = re.sub(r"\D", "", str(value or ""))
    if len(text) != 8:
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def age_years(patient_age: object, birth_date: object, study_date: object) -> float | None:
    """Whole years of age: from ``PatientAge`` (``063Y``, ``018M``, ``010W``, ``030D``), else
    from the birth date and the study date (birthdays counted); None when neither gives 0-130."""
    match = re.fullmatch(r"(\d{1,3})\s*([DWMY])", str(patient_age or "").strip().upper())
    if match:
        years = float(np.floor(int(match.group(1)) * _AGE_UNITS[match.group(2)]))
    else:
        born, seen = _date(birth_date), _date(study_date)
        if born is None or seen is None:
            return None
        years = float(seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day)))
    return years if 0 <= years <= 130 else None


def read_covariates(ds) -> Covariates:
    """:data:`Covariates` of a pydicom dataset (module docstring for the attributes and ranges)."""
    from cardiolens.ingest.clinical import sex_code

    sex = sex_code(str(ds.get("PatientSex", "") or ""))
    age = age_years(ds.get("PatientAge"), ds.get("PatientBirthDate"),
                    ds.get("StudyDate") or ds.get("SeriesDate") or ds.get("AcquisitionDate"))
    size, weight = _number(ds.get("PatientSize")), _number(ds.get("PatientWeight"))
    height = round(size * 100.0, 1) if size is not None and 0.3 <= size <= 2.5 else None
    weight = weight if weight is not None and 1.0 <= weight <= 400.0 else None
    return sex, age, height, weight


def patient_covariates(rows: Iterable[tuple[str, str, Covariates]]) -> pd.DataFrame:
    """(patient id, study UID, :data:`Covariates`) of every header -> one row per patient, index
    ``source_id``, columns :data:`COLUMNS`.

    Each study counts once (its first header; these are study-level attributes). Over a patient's
    studies: the sex they agree on (None if they disagree), the age at the earliest study (the
    smallest), the median height and weight.
    """
    studies: dict[tuple[str, str], Covariates] = {}
    for pid, study, cov in rows:
        studies.setdefault((pid, study), cov)
    per_patient: dict[str, list[Covariates]] = {}
    for (pid, _), cov in sorted(studies.items()):
        per_patient.setdefault(pid, []).append(cov)
    out = []
    for pid, covs in sorted(per_patient.items()):
        sexes = {c[0] for c in covs if c[0] is not None}
        ages = [c[1] for c in covs if c[1] is not None]
        heights = [c[2] for c in covs if c[2] is not None]
        weights = [c[3] for c in covs if c[3] is not None]
        out.append({"source_id": pid, "sex": sexes.pop() if len(sexes) == 1 else None, "age": min(ages) if ages else None,
                    "height_cm": float(np.median(heights)) if heights else None,
                    "weight_kg": float(np.median(weights)) if weights else None})
    return pd.DataFrame(out, columns=["source_id", *COLUMNS]).set_index("source_id")
