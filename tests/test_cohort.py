"""Cohort sampling: class balance, label noise and class-dependent covariates, without rendering."""

from __future__ import annotations

from collections import Counter

import numpy as np

from cardiolens.config import validate_config
from cardiolens.synth.cohort import sample_patients


def _cfg(**synthetic):
    return validate_config({"cohort": {"synthetic": synthetic}})["cohort"]["synthetic"]


def test_default_cohort_composition():
    patients = sample_patients(_cfg(), seed=1)
    counts = Counter((p.study, p.true_class) for p in patients)
    assert counts == {("septal_flash", "flash"): 18, ("septal_flash", "none"): 18, ("takotsubo_stemi", "takotsubo"): 10,
                      ("takotsubo_stemi", "stemi"): 10, ("cardiomyopathy", "NOR"): 8, ("cardiomyopathy", "HCM"): 8,
                      ("cardiomyopathy", "DCM"): 8}
    assert all(p.clinical_label == p.true_class for p in patients)
    echo_recordings = [p.n_recordings for p in patients if p.modality == "echo"]
    assert min(echo_recordings) >= 1 and max(echo_recordings) <= 3 and len(set(echo_recordings)) > 1


def test_label_noise_flips_the_configured_fraction_per_sub_cohort():
    patients = sample_patients(_cfg(label_noise=0.25), seed=1)
    for study, n in (("septal_flash", 36), ("takotsubo_stemi", 20), ("cardiomyopathy", 24)):
        flipped = [p for p in patients if p.study == study and p.clinical_label != p.true_class]
        assert len(flipped) == round(0.25 * n)


def test_sex_and_age_follow_the_class_settings():
    cfg = _cfg(echo={"takotsubo_stemi": {"patients": 600}, "septal_flash": {"patients": 0}}, cmr={"patients": 0},
               covariates={"takotsubo": {"male_fraction": 0.1, "age_mean": 70, "age_sd": 5},
                           "stemi": {"male_fraction": 0.8, "age_mean": 55, "age_sd": 5}})
    patients = sample_patients(cfg, seed=3)
    for cls, male, age in (("takotsubo", 0.1, 70), ("stemi", 0.8, 55)):
        group = [p for p in patients if p.true_class == cls]
        assert len(group) == 300
        assert abs(np.mean([p.sex == "M" for p in group]) - male) < 0.06  # ~3.5 binomial SDs
        assert abs(np.mean([p.age for p in group]) - age) < 1.0


def test_growing_a_sub_cohort_keeps_its_existing_patients():
    small = sample_patients(_cfg(echo={"septal_flash": {"patients": 10}}), seed=5)[:10]
    big = sample_patients(_cfg(echo={"septal_flash": {"patients": 20}}), seed=5)[:10]
    assert small == big
    assert sample_patients(_cfg(), seed=5) == sample_patients(_cfg(), seed=5)
    assert sample_patients(_cfg(), seed=5) != sample_patients(_cfg(), seed=6)
