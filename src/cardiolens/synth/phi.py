"""Realistic (fake) protected health information for the synthetic DICOM headers.

Every value is generated, never taken from a real person, and chosen to be distinctive text so
the privacy test can search for it verbatim in every output file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

_FIRST = ("Ingrid", "Mateo", "Sophia", "Kwame", "Yuki", "Oskar", "Amara", "Dmitri", "Lucia", "Henrik",
          "Priya", "Tomasz", "Nadia", "Elias", "Freya", "Rafael", "Selma", "Arjun", "Greta", "Malik")
_LAST = ("Lindqvist", "Okonkwo", "Brennecke", "Vasquez", "Nakamura", "Haugland", "Castellano",
         "Petrovic", "Abernathy", "Rautio", "Szymanski", "Delacroix", "Oyelaran", "Fitzgerald",
         "Moreau", "Kowalczyk", "Sandoval", "Eriksen", "Achterberg", "Quintero")
_INSTITUTIONS = ("St. Aldhelm University Hospital", "Northfield Heart Institute",
                 "Rivermouth General Hospital", "Clinique Cardiologique Belvaux")
_PHYSICIANS = ("Hollenbeck^Marta", "Adeyemi^Tobias", "Sorensen^Klara", "Villanueva^Jonas")


@dataclass(frozen=True)
class PatientPHI:
    patient_id: str
    name: str                 # DICOM PN: Family^Given
    birth_date: str           # YYYYMMDD
    institution: str
    referring_physician: str
    study_date: dt.date

    def values(self) -> list[str]:
        """Every identifying string written into the headers (for the privacy test)."""
        family, given = self.name.split("^")
        return [self.patient_id, self.name, family, given, self.birth_date, self.institution,
                self.referring_physician, self.referring_physician.split("^")[0]]


def make_phi(rng: np.random.Generator, index: int, age_years: float) -> PatientPHI:
    """PHI of patient ``index`` (unique PatientID and name) with a birth date matching the age."""
    first = _FIRST[int(rng.integers(len(_FIRST)))]
    last = _LAST[index % len(_LAST)] + ("" if index < len(_LAST) else f"-{_LAST[(index // len(_LAST)) % len(_LAST)]}")
    study = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
    birth = study - dt.timedelta(days=int(age_years * 365.25) + int(rng.integers(0, 300)))
    return PatientPHI(
        patient_id=f"MRN{7300000 + index * 37 + int(rng.integers(0, 30)):08d}",
        name=f"{last}^{first}",
        birth_date=birth.strftime("%Y%m%d"),
        institution=_INSTITUTIONS[int(rng.integers(len(_INSTITUTIONS)))],
        referring_physician=_PHYSICIANS[int(rng.integers(len(_PHYSICIANS)))],
        study_date=study,
    )


def accession_number(rng: np.random.Generator) -> str:
    return f"ACC{int(rng.integers(10**8, 10**9))}"
