"""Sex, age, height and weight from DICOM headers, where the clinical table has none."""

from __future__ import annotations

import pandas as pd
import pytest
from pydicom import Dataset

from cardiolens.ingest.dicom_covariates import age_years, patient_covariates, read_covariates


@pytest.mark.parametrize(("age", "born", "seen", "years"), [
    ("063Y", "", "", 63.0),
    ("018M", "", "", 1.0),          # 18 months: one whole year
    ("010W", "", "", 0.0),
    ("", "19570312", "20240311", 66.0),   # the day before the 67th birthday
    ("", "19570312", "20240312", 67.0),
    ("", "1957-03-12", "2024.03.12", 67.0),
    ("", "19570312", "", None),     # no study date: no age
    ("abc", "", "", None),
    ("150Y", "", "", None),         # implausible
])
def test_age_from_patient_age_or_birth_and_study_dates(age, born, seen, years):
    assert age_years(age, born, seen) == years


def test_read_covariates_converts_metres_and_refuses_implausible_values():
    ds = Dataset()
    ds.PatientSex, ds.PatientAge, ds.PatientSize, ds.PatientWeight = "F", "054Y", "1.68", "61.5"
    assert read_covariates(ds) == ("F", 54.0, 168.0, 61.5)
    ds.PatientSex, ds.PatientSize, ds.PatientWeight = "O", "168", "0"   # centimetres where metres belong; a zero placeholder
    assert read_covariates(ds) == (None, 54.0, None, None)
    assert read_covariates(Dataset()) == (None, None, None, None)


def test_patient_covariates_count_each_study_once_and_keep_what_studies_agree_on():
    rows = [
        ("A", "s1", ("F", 60.0, 170.0, 70.0)), ("A", "s1", ("F", 60.0, 170.0, 99.0)),   # one study, first header counts
        ("A", "s2", ("F", 62.0, 172.0, 74.0)),
        ("B", "s3", ("M", None, None, None)), ("B", "s4", ("F", 40.0, None, 80.0)),     # sexes disagree
    ]
    table = patient_covariates(rows)
    assert table.loc["A"].tolist() == ["F", 60.0, 171.0, 72.0]   # earliest age, median height and weight
    assert pd.isna(table.loc["B", "sex"]) and table.loc["B", "age"] == 40.0 and pd.isna(table.loc["B", "height_cm"])


def test_ingest_fills_sex_and_age_from_the_headers_only_where_the_clinical_table_has_none(tiny_cohort, tmp_path):
    """The tiny cohort's DICOM files carry PatientSex and PatientAge; a clinical table without a
    sex column and with one age left empty gets both from the headers, and keeps its own ages."""
    import pydicom

    from cardiolens.ingest.stage import ingest_source
    from conftest import TEST_KEY

    _, outdir = tiny_cohort
    df = pd.read_csv(outdir / "clinical.csv", dtype=str, keep_default_na=False)
    emptied = df["PatientID"].iloc[0]
    df.loc[0, "age"] = ""
    df.loc[1:, "age"] = "33"
    df = df.drop(columns=["sex"])
    path = tmp_path / "clinical.csv"
    df.to_csv(path, index=False)
    headers = {}
    for f in sorted((outdir / "dicom").rglob("*")):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:
            continue
        if "PatientSex" in ds:
            headers.setdefault(str(ds.PatientID), (str(ds.PatientSex), float(str(ds.PatientAge)[:3])))
    source = {"name": "h", "adapter": "dicom", "path": str(outdir / "dicom"), "options": {},
              "clinical": {"path": str(path), "id_column": "PatientID", "columns": {}}}
    res = ingest_source(source, TEST_KEY, tmp_path / "out")
    from cardiolens import privacy

    pats = res.patients.set_index("patient_key")
    imaged = [pid for pid in df["PatientID"] if privacy.patient_key(TEST_KEY, pid) in set(res.recordings["patient_key"])]
    assert imaged and emptied in imaged
    for pid in imaged:
        row = pats.loc[privacy.patient_key(TEST_KEY, pid)]
        assert row["sex"] == headers[pid][0]
        assert row["age"] == (headers[pid][1] if pid == emptied else 33.0)
