"""Sampling the synthetic cohort: patients, their classes, covariates and clinical labels.

Pure functions of the configuration and the seed; rendering and file writing live elsewhere.
Every patient gets its own random stream (``numpy.random.default_rng([seed, index])``), so
a patient's images do not change when the cohort grows or the worker count changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


#: Built-in sex/age distributions per class (overridable in config: cohort.synthetic.covariates).
DEFAULT_COVARIATES: dict[str, dict[str, float]] = {
    "flash": {"male_fraction": 0.55, "age_mean": 66, "age_sd": 10},
    "none": {"male_fraction": 0.5, "age_mean": 58, "age_sd": 12},
    "takotsubo": {"male_fraction": 0.1, "age_mean": 67, "age_sd": 10},
    "stemi": {"male_fraction": 0.75, "age_mean": 61, "age_sd": 11},
    "NOR": {"male_fraction": 0.55, "age_mean": 45, "age_sd": 15},
    "HCM": {"male_fraction": 0.65, "age_mean": 52, "age_sd": 15},
    "DCM": {"male_fraction": 0.7, "age_mean": 56, "age_sd": 13},
}

STUDY_MODALITY = {"septal_flash": "echo", "takotsubo_stemi": "echo", "cardiomyopathy": "cmr"}


#: Values of each label the synthetic cohort generates (positive class first), and the image
#: quality grade its ground truth gives (``quality``).
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "septal_flash": ("flash", "none"),
    "takotsubo_stemi": ("takotsubo", "stemi"),
    "cardiomyopathy": ("NOR", "HCM", "DCM"),
    "quality": ("Good", "Medium", "Poor"),
}

@dataclass(frozen=True)
class PatientSpec:
    index: int              # global patient index (stable: sub-cohorts in a fixed order)
    study: str              # septal_flash | takotsubo_stemi | cardiomyopathy
    true_class: str
    clinical_label: str     # after label noise
    sex: str
    age: float
    height_cm: float
    weight_kg: float
    n_recordings: int

    @property
    def modality(self) -> str:
        return STUDY_MODALITY[self.study]


def _classes_for(study: str, n: int, positive_fraction: float) -> list[str]:
    if study == "cardiomyopathy":
        cls = LABEL_VALUES["cardiomyopathy"]
        return [cls[i % 3] for i in range(n)]
    pos, neg = LABEL_VALUES[study][0], LABEL_VALUES[study][1]
    n_pos = int(round(n * positive_fraction))
    # Evenly interleaved, so any prefix of the cohort is balanced too.
    out = [neg] * n
    step = n / max(n_pos, 1)
    for k in range(n_pos):
        out[int(k * step)] = pos
    return out


def sample_patients(cfg: dict[str, Any], seed: int) -> list[PatientSpec]:
    """All patients of the cohort described by ``cohort.synthetic`` (validated config)."""
    cov = {**DEFAULT_COVARIATES, **cfg.get("covariates", {})}
    echo = cfg["echo"]
    plan = [
        ("septal_flash", echo["septal_flash"]["patients"], echo["septal_flash"]["positive_fraction"]),
        ("takotsubo_stemi", echo["takotsubo_stemi"]["patients"], echo["takotsubo_stemi"]["takotsubo_fraction"]),
        ("cardiomyopathy", cfg["cmr"]["patients"], 1 / 3),
    ]
    rmin, rmax = cfg["recordings_per_patient"]
    if rmin > rmax:
        raise ValueError(f"cohort.synthetic.recordings_per_patient: min {rmin} > max {rmax}")
    out: list[PatientSpec] = []
    index = 0
    for study, n, frac in plan:
        classes = _classes_for(study, n, frac)
        noise_rng = np.random.default_rng([seed, 991, len(out)])
        n_flip = int(round(cfg["label_noise"] * n))
        flip = set(noise_rng.choice(n, size=n_flip, replace=False).tolist()) if n_flip else set()
        for k, true_class in enumerate(classes):
            rng = np.random.default_rng([seed, index, 1])
            c = cov[true_class]
            sex = "M" if rng.random() < c["male_fraction"] else "F"
            age = float(np.clip(rng.normal(c["age_mean"], c["age_sd"]), 18, 99))
            height = float(rng.normal(177 if sex == "M" else 164, 7))
            weight = float(np.clip(rng.normal(84 if sex == "M" else 70, 12), 40, 180))
            label = true_class
            if k in flip:
                others = [x for x in LABEL_VALUES[study] if x != true_class]
                label = others[int(rng.integers(len(others)))]
            n_rec = 1 if study == "cardiomyopathy" else int(rng.integers(rmin, rmax + 1))
            out.append(PatientSpec(index, study, true_class, label, sex, round(age, 1), round(height, 1), round(weight, 1), n_rec))
            index += 1
    return out
