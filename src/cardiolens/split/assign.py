"""Patient-level, stratified, deterministic splits that stay put when a cohort grows.

Method (documented because it decides what a reviewer can trust):
1. The unit is the patient (``patient_key``); samples inherit their patient's assignment, so a
   patient can never be in two roles of a fold.
2. Each patient gets a stratum (label, optionally with sex, age bin and source joined) and a
   rank key u = sha256(seed, patient_key): a fixed pseudo-random order that does not depend on
   which other patients exist.
3. Within each stratum, patients are taken in u order and each goes to the fold (k-fold) or
   role (hold-out) that is furthest below its target share of that stratum. This greedy
   largest-deficit rule gives every stratum counts within one patient of the target.
4. Growth: patients present in an *anchor* (an earlier splits table passed in explicitly) keep
   their fold and role; only new patients are placed, by the same rule, so existing assignments
   never move unless the anchor is dropped ("asked for"). Without an anchor the assignment is
   a deterministic function of the cohort and the seed.
Validation patients are taken from each fold's training patients the same way (their own
targets within each stratum).

Two schemes take the test set as given: ``external`` makes the patients of the named sources the
test set (external validation) and splits the others into train and validation by the hold-out
rule; ``predefined`` reads each patient's role from a recordings column (:data:`PREDEFINED`
lists the accepted spellings).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from cardiolens.errors import InputError

ROLES = ("train", "val", "test")
PREDEFINED = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
              "test": "test", "testing": "test"}


class SplitError(InputError):
    """A split the study's patients cannot give (too few patients for k folds, no test patient,
    no patient from the test sources, roles missing or unreadable): the user's to change in the
    study's ``split`` block, not a bug."""


def rank_key(seed: int, patient_key: str) -> str:
    return hashlib.sha256(f"{seed}:{patient_key}".encode()).hexdigest()


def strata(patients: pd.DataFrame, covariates: list[str], age_bins: list[float]) -> pd.Series:
    """Stratum label per patient: label joined with the chosen covariates ('NA' when missing)."""
    parts = [patients["label"].astype(str)]
    for cov in covariates:
        if cov == "age":
            bins = np.digitize(patients["age"].astype(float).fillna(-1), age_bins)
            parts.append(pd.Series(np.where(patients["age"].isna(), "NA", bins.astype(str)), index=patients.index))
        else:
            parts.append(patients[cov].astype(object).where(patients[cov].notna(), "NA").astype(str))
    out = parts[0]
    for p in parts[1:]:
        out = out + "|" + p
    return out


def _greedy(keys: list[str], targets: dict[object, float], fixed: dict[str, object],
            overall: dict[object, int] | None = None) -> dict[str, object]:
    """Place ``keys`` (already in rank order) into bins by largest deficit against ``targets`` (shares).

    Ties go to the bin with the fewest patients over all strata so far (``overall``, updated in
    place), so that small strata spread over the folds instead of all filling fold 0.
    """
    overall = overall if overall is not None else {b: 0 for b in targets}
    counts = {b: 0 for b in targets}
    out = {}
    for k in keys:
        if k in fixed and fixed[k] in counts:
            out[k] = fixed[k]
            counts[fixed[k]] += 1
            overall[fixed[k]] = overall.get(fixed[k], 0) + 1
    for k in keys:
        if k in out:
            continue
        total = sum(counts.values()) + 1
        deficit = {b: targets[b] * total - counts[b] for b in targets}
        best = max(targets, key=lambda b: (round(deficit[b], 9), -overall.get(b, 0), -list(targets).index(b)))
        out[k] = best
        counts[best] += 1
        overall[best] = overall.get(best, 0) + 1
    return out


def _ordered(patients: pd.DataFrame, seed: int) -> pd.DataFrame:
    return patients.assign(_u=[rank_key(seed, k) for k in patients["patient_key"]]).sort_values("_u", kind="stable")


def kfold(patients: pd.DataFrame, k: int, val_fraction: float, seed: int, anchor: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (patient_key, fold, role) for k folds: fold f's test patients, then val from the rest."""
    if k < 2:
        raise SplitError(f"k-fold needs k >= 2, got {k}")
    p = _ordered(patients, seed)
    test_fold = {}
    fixed = {} if anchor is None else dict(anchor.loc[anchor["role"] == "test", ["patient_key", "fold"]].itertuples(index=False))
    overall: dict[object, int] = {f: 0 for f in range(k)}
    for _, group in p.groupby("stratum", sort=True):
        test_fold.update(_greedy(list(group["patient_key"]), {f: 1 / k for f in range(k)}, fixed, overall))
    rows = []
    for f in range(k):
        rest = p[[test_fold[key] != f for key in p["patient_key"]]]
        val_fixed = {} if anchor is None else {
            key: role for key, role in anchor.loc[anchor["fold"] == f, ["patient_key", "role"]].itertuples(index=False) if role != "test"}
        roles = {}
        overall_roles: dict[object, int] = {}
        for _, group in rest.groupby("stratum", sort=True):
            roles.update(_greedy(list(group["patient_key"]), {"train": 1 - val_fraction, "val": val_fraction}, val_fixed, overall_roles)
                         if val_fraction > 0 else {key: "train" for key in group["patient_key"]})
        for key in p["patient_key"]:
            rows.append((key, f, "test" if test_fold[key] == f else roles[key]))
    return pd.DataFrame(rows, columns=["patient_key", "fold", "role"])


def holdout(patients: pd.DataFrame, test_fraction: float, val_fraction: float, seed: int,
            anchor: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (patient_key, 0, role): test_fraction to test, then val_fraction of the rest to val."""
    p = _ordered(patients, seed)
    fixed = {} if anchor is None else dict(anchor[["patient_key", "role"]].itertuples(index=False))
    shares = {"train": (1 - test_fraction) * (1 - val_fraction), "val": (1 - test_fraction) * val_fraction, "test": test_fraction}
    shares = {r: s for r, s in shares.items() if s > 0}
    roles = {}
    overall: dict[object, int] = {}
    for _, group in p.groupby("stratum", sort=True):
        roles.update(_greedy(list(group["patient_key"]), shares, fixed, overall))
    return pd.DataFrame([(key, 0, roles[key]) for key in p["patient_key"]], columns=["patient_key", "fold", "role"])


def external(patients: pd.DataFrame, test_sources: list[str], val_fraction: float, seed: int,
             anchor: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (patient_key, 0, role): the patients whose ``source`` is one of ``test_sources`` are
    the test role; the others go to train and val as in :func:`holdout` without a test share
    (stratum by stratum, ``val_fraction`` of them to val; an anchor keeps their train/val roles).

    Raises:
        ValueError: when no patient, or every patient, comes from ``test_sources``.
    """
    is_test = patients["source"].isin(list(test_sources)).to_numpy()
    found = sorted(set(patients["source"].astype(str)))
    if not is_test.any():
        raise SplitError(f"external split: no patient of the study comes from test_sources {list(test_sources)}; "
                         f"the study's patients come from {found}")
    if is_test.all():
        raise SplitError(f"external split: every patient of the study comes from test_sources {list(test_sources)}: "
                         "none is left to train on")
    rest = holdout(patients[~is_test], 0.0, val_fraction, seed, anchor)
    test = pd.DataFrame({"patient_key": patients.loc[is_test, "patient_key"], "fold": 0, "role": "test"})
    return pd.concat([rest, test], ignore_index=True).sort_values("patient_key", kind="stable").reset_index(drop=True)


def predefined(patients: pd.DataFrame, column: str = "split") -> pd.DataFrame:
    """Rows (patient_key, 0, role) from the role each patient's recordings give in ``column``
    (the patients' ``predefined`` values; the dataset's own split for ``split``: EchoNet Split,
    ACDC folders), read through :data:`PREDEFINED` in any case."""
    bad = patients[~patients["predefined"].astype(str).str.lower().isin(PREDEFINED)]
    if len(bad):
        raise SplitError(f"predefined split (column {column!r}): values {sorted(set(bad['predefined'].astype(str)))[:5]} "
                         f"are not one of {sorted(PREDEFINED)} (any case)")
    roles = patients["predefined"].astype(str).str.lower().map(PREDEFINED)
    return pd.DataFrame({"patient_key": patients["patient_key"], "fold": 0, "role": roles.values})
