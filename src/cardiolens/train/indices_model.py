"""A classifier on the cardiac indices (one row per patient, :data:`cardiolens.tables.registry.INDICES`).

The diagnosis step of the ACDC challenge's best entries: a small classifier on volumes, ejection
fractions, mass and wall thickness measured from ED/ES segmentations (Isensee et al. and Wolterink
et al., STACOM 2017, LNCS 10663: random forests and MLPs on such features, 0.92-0.96 five-class
accuracy on the challenge's test set). Here a scikit-learn ``RandomForestClassifier`` or
``GradientBoostingClassifier`` (their defaults but ``n_estimators``), behind a median imputer
fitted on the training patients (an index is null without height or weight, or without RV).
Seeded, single-threaded: the same data and seed give the same model.

A training role holding a single class cannot fit a classifier (gradient boosting refuses it):
the fold then predicts the class prior (``DummyClassifier``), and :func:`fit` says so.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

CLASSIFIERS = ("random_forest", "gradient_boosting")

#: Default features: the indexed volumes, both EFs, indexed mass, ED/ES wall thickness and its
#: spread around the slice, and the two ratios (the features of Isensee et al. 2017 that masks
#: measure, without their raw-volume twins: an ablated feature's twin would carry its information
#: and hide its contribution).
DEFAULT_FEATURES = ("lv_edv_ml_per_m2", "lv_esv_ml_per_m2", "lv_ef_percent", "rv_edv_ml_per_m2", "rv_ef_percent",
                    "lv_mass_g_per_m2", "myo_thickness_max_mm", "myo_thickness_mean_mm", "myo_thickness_max_es_mm",
                    "myo_thickness_sd_mm", "myo_thickness_sd_es_mm", "rv_lv_edv_ratio", "lv_mass_edv_ratio")

#: Index -> (name a clinician reads, unit). Every float index of the indices table is a feature.
FEATURES: dict[str, tuple[str, str]] = {
    "height_cm": ("height", "cm"), "weight_kg": ("weight", "kg"), "bsa_m2": ("BSA", "m²"),
    "lv_edv_ml": ("LV EDV", "ml"), "lv_esv_ml": ("LV ESV", "ml"), "lv_sv_ml": ("LV SV", "ml"), "lv_ef_percent": ("LV EF", "%"),
    "rv_edv_ml": ("RV EDV", "ml"), "rv_esv_ml": ("RV ESV", "ml"), "rv_ef_percent": ("RV EF", "%"), "lv_mass_g": ("LV mass", "g"),
    "myo_thickness_max_mm": ("max ED wall thickness", "mm"), "myo_thickness_mean_mm": ("mean ED wall thickness", "mm"),
    "myo_thickness_max_es_mm": ("max ES wall thickness", "mm"),
    "myo_thickness_sd_mm": ("ED wall-thickness spread", "mm"), "myo_thickness_sd_es_mm": ("ES wall-thickness spread", "mm"),
    "rv_lv_edv_ratio": ("RV/LV EDV", ""),
    "lv_mass_edv_ratio": ("LV mass/EDV", "g/ml"), "lv_edv_ml_per_m2": ("LV EDV", "ml/m²"),
    "lv_esv_ml_per_m2": ("LV ESV", "ml/m²"), "rv_edv_ml_per_m2": ("RV EDV", "ml/m²"), "rv_esv_ml_per_m2": ("RV ESV", "ml/m²"),
    "lv_mass_g_per_m2": ("LV mass", "g/m²"),
}


def make_classifier(kind: str, n_estimators: int, seed: int):
    """Unfitted pipeline: median imputer, then the ``kind`` ensemble (:data:`CLASSIFIERS`) seeded with ``seed``."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    if kind == "random_forest":
        clf = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    elif kind == "gradient_boosting":
        clf = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
    else:
        raise ValueError(f"classifier {kind!r} is not one of {CLASSIFIERS}")
    # keep_empty_features: a feature without any training value stays a (constant) column, so the
    # model's inputs keep the feature order the ablation indexes.
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), clf)


def fit(x: NDArray[np.float64], y: Sequence[str], kind: str, n_estimators: int, seed: int):
    """(fitted model, degenerate): the :func:`make_classifier` pipeline fitted on (N, F) ``x`` and
    the N labels ``y``; with a single class in ``y`` a class-prior ``DummyClassifier`` instead
    (``degenerate`` True). ValueError without a training row."""
    from sklearn.dummy import DummyClassifier

    y = np.asarray(y, dtype=object)
    if len(y) == 0:
        raise ValueError("no training patient with indices: nothing to fit")
    if len(set(y)) < 2:
        return DummyClassifier(strategy="prior").fit(x, y), True
    return make_classifier(kind, n_estimators, seed).fit(x, y), False


def predict_proba(model, x: NDArray[np.float64], classes: Sequence[str]) -> NDArray[np.float64]:
    """(N, C) probabilities in the order of ``classes``; 0 for a class the model never saw."""
    p = model.predict_proba(x)
    out = np.zeros((len(x), len(classes)), dtype=np.float64)
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(model.classes_):
        if c not in index:
            raise ValueError(f"the model knows class {c!r}, not one of {list(classes)}")
        out[:, index[c]] = p[:, j]
    return out


def model_sha256(model) -> str:
    """sha256 of the pickled fitted model (stable for the same fit on the same machine and versions)."""
    return hashlib.sha256(pickle.dumps(model, protocol=5)).hexdigest()
