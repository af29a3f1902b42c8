"""The split stage for one study: samples -> splits, leakage audit, balance report, normalisation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.errors import InputError
from cardiolens.split.assign import PREDEFINED, SplitError, external, holdout, kfold, predefined, strata
from cardiolens.split.audit import leakage_table
from cardiolens.split.balance import balance_table

log = logging.getLogger(__name__)



class LabelError(InputError):
    """The study's label cannot be split on (several values for one patient)."""


def patient_roles(samples: pd.DataFrame, recordings: pd.DataFrame, column: str) -> pd.Series:
    """patient_key -> the sorted distinct roles that recordings column ``column`` gives the
    recordings of the patient's samples: accepted spellings read as train, val or test
    (:data:`~cardiolens.split.assign.PREDEFINED`, any case), other values kept as text, missing
    ones left out."""
    rec = recordings.set_index("recording_id")
    return samples.assign(_value=samples["recording_id"].map(rec[column])).groupby("patient_key")["_value"].agg(
        lambda v: sorted({PREDEFINED.get(str(x).strip().lower(), str(x)) for x in v if x is not None and not pd.isna(x)}))


def disagreements(values: pd.Series, column: str) -> str | None:
    """Why ``values`` (:func:`patient_roles`) cannot give each patient one predefined role - the
    patients whose recordings disagree, by key, with their values - or None."""
    mixed = values[values.map(len) > 1]
    if not len(mixed):
        return None
    shown = "; ".join(f"{key} {vals}" for key, vals in list(mixed.items())[:5])
    more = f" (and {len(mixed) - 5} more)" if len(mixed) > 5 else ""
    return (f"predefined split (column {column!r}): the recordings of {len(mixed)} patient(s) disagree on their role: "
            f"{shown}{more}")


def patient_table(samples: pd.DataFrame, patients: pd.DataFrame, recordings: pd.DataFrame, column: str = "split") -> pd.DataFrame:
    """One row per patient of the study: label, sex, age, source, predefined split (the value of
    recordings column ``column`` its recordings agree on, else None).

    In a classification study a patient must have one label. In a regression study (samples
    carry ``targets``) the label only stratifies the split and may vary between a patient's
    recordings (image quality does): the patient's most frequent label is used, ties going to
    the first in sorted order.
    """
    regression = "targets" in samples and len(samples) and samples["targets"].notna().all()
    if regression:
        labels = samples.groupby("patient_key")["label"].agg(lambda v: [v.value_counts().sort_index().idxmax()])
    else:
        labels = samples.groupby("patient_key")["label"].agg(lambda v: sorted(set(v)))
    mixed = labels[labels.map(len) > 1]
    if len(mixed):
        raise LabelError(f"patients with several values of the label {list(mixed.index[:5])}: a classification "
                         "label must be one value per patient")
    split_of = patient_roles(samples, recordings, column)
    out = pd.DataFrame({"patient_key": labels.index, "label": [v[0] for v in labels]})
    out["predefined"] = [v[0] if len(v) == 1 else None for v in split_of.reindex(out["patient_key"])]
    pat = patients.set_index("patient_key")
    for col in ("sex", "age", "source"):
        out[col] = out["patient_key"].map(pat[col]) if len(pat) else None
    return out.sort_values("patient_key").reset_index(drop=True)


def anchor_settings_problem(made_with: dict[str, Any], cfg: dict[str, Any]) -> str | None:
    """Why an anchor made with the split settings ``made_with`` (the ``split`` of its provenance)
    cannot keep its patients under ``cfg``, or None: another scheme (a hold-out anchor and an
    external split both hold one fold, which :func:`anchor_problem` cannot tell apart), another
    ``k``, or other external test sources."""
    if not made_with.get("scheme"):
        return None
    was, now = dict(made_with), dict(cfg)
    if was["scheme"] != now["scheme"]:
        return f"it was made with scheme {was['scheme']!r}, this split is {now['scheme']!r}"
    if now["scheme"] == "kfold" and was.get("k") is not None and was["k"] != now["k"]:
        return f"it was made with k={was['k']}, this split has k={now['k']}"
    if now["scheme"] == "external" and sorted(was.get("test_sources") or []) != sorted(now.get("test_sources") or []):
        return f"it was made with test_sources {sorted(was.get('test_sources') or [])}, this split has {sorted(now['test_sources'])}"
    return None


def anchor_problem(anchor: pd.DataFrame, cfg: dict[str, Any]) -> str | None:
    """Why an anchor (an earlier ``splits`` table) cannot keep its patients where they were under
    the split ``cfg``, or None. Patients keep their fold and role only if the anchor was made with
    the same scheme's folds: k test folds, one per patient, for k-fold; one fold for hold-out and
    external. Without this check an anchor of other folds would re-place patients silently (a
    5-fold anchor's folds 5-9 under k=10 left empty, or its patients of folds 5-9 under k=5 moved)."""
    scheme = cfg["scheme"]
    if scheme == "predefined":
        return "a predefined split takes every role from its column; an anchor would change nothing (remove it)"
    if anchor.empty:
        return None
    folds = sorted(int(f) for f in anchor["fold"].unique())
    if scheme == "kfold":
        tests = anchor[anchor["role"] == "test"].groupby("patient_key")["fold"].nunique()
        per_patient = anchor.groupby("patient_key")["fold"].nunique()
        if len(folds) != cfg["k"] or folds != list(range(len(folds))) or (per_patient != len(folds)).any() \
                or len(tests) != len(per_patient) or (tests != 1).any():
            return (f"the anchor holds {len(folds)} fold(s), not the {cfg['k']} folds of a k-fold split with one test "
                    f"fold per patient: it must be a splits.parquet made with k={cfg['k']} (or remove the anchor to "
                    "place every patient anew)")
        return None
    if folds != [0]:
        return (f"the anchor holds {len(folds)} folds: a {scheme} split has one; it must be a splits.parquet made "
                f"with scheme {scheme!r} (or remove the anchor to place every patient anew)")
    return None


def split_patients(patients: pd.DataFrame, cfg: dict[str, Any], seed: int, anchor: pd.DataFrame | None = None) -> pd.DataFrame:
    if anchor is not None and (problem := anchor_problem(anchor, cfg)):
        raise SplitError(f"anchor {cfg.get('anchor', '')!r}: {problem}" if cfg.get("anchor") else f"anchor: {problem}")
    p = patients.assign(stratum=strata(patients, cfg["stratify_by"], cfg["age_bins"]))
    if cfg["scheme"] == "kfold":
        if cfg["k"] > len(p):
            raise SplitError(f"k-fold with k={cfg['k']} needs at least {cfg['k']} patients; the study has {len(p)}")
        return kfold(p, cfg["k"], cfg["val_fraction"], seed, anchor)
    if cfg["scheme"] == "holdout":
        return holdout(p, cfg["test_fraction"], cfg["val_fraction"], seed, anchor)
    if cfg["scheme"] == "external":
        return external(p, cfg["test_sources"], cfg["val_fraction"], seed, anchor)
    column = cfg.get("column", "split")
    if p["predefined"].isna().any():
        raise SplitError(f"predefined split (column {column!r}): {int(p['predefined'].isna().sum())} patients have no split value")
    return predefined(p, column)


def normalisation(samples: pd.DataFrame, splits: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per fold: mean image ``fold<k>_mean`` (float32, the samples' shape) and scalar SD
    ``fold<k>_sd`` (sqrt of the mean over pixels of the per-pixel variance) of the training-role
    samples only (training subtracts the mean and divides by the SD). The leakage audit recomputes
    both from the stored file (:func:`cardiolens.split.audit.normalisation_check`)."""
    arrays: dict[str, np.ndarray] = {}
    merged = samples.merge(splits, on="patient_key")
    for fold, g in merged.groupby("fold", sort=True):
        train = g[g["role"] == "train"]
        total, total_sq, n = None, 0.0, 0
        for path, group in train.groupby("array_path", sort=True):
            shard = np.load(path, mmap_mode="r")
            block = np.asarray(shard[sorted(group["array_index"])], dtype=np.float64)
            total = block.sum(axis=0) if total is None else total + block.sum(axis=0)
            total_sq += float((block**2).sum())
            n += len(block)
        mean = total / n if n else np.zeros(0)
        sd = float(np.sqrt(max(total_sq / (n * mean.size) - float((mean**2).mean()), 0.0))) if n else 0.0
        arrays[f"fold{int(fold)}_mean"] = mean.astype(np.float32)
        arrays[f"fold{int(fold)}_sd"] = np.array(sd, np.float32)
    return arrays


def run_split(study: str, samples: pd.DataFrame, patients: pd.DataFrame, recordings: pd.DataFrame, cfg: dict[str, Any],
              seed: int, anchor: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """(splits, leakage, balance, normalisation arrays) for one study. Leakage of identifiers and
    pixels is checked, not raised; the normalisation is audited once stored
    (:func:`cardiolens.split.run.run_study_split`)."""
    column = cfg.get("column", "split")
    if cfg["scheme"] == "predefined":
        from cardiolens.prepare.select import with_label

        recordings = with_label(recordings, column)  # a clinical-table column, e.g. the CSV's split
    if cfg["scheme"] == "predefined" and (problem := disagreements(patient_roles(samples, recordings, column), column)):
        raise SplitError(f"split of {study}: {problem}")
    table = patient_table(samples, patients, recordings, column)
    splits = split_patients(table, cfg, seed, anchor).assign(study=study)
    empty = sorted(set(splits["fold"]) - set(splits.loc[splits["role"] == "test", "fold"]))
    if empty and cfg["scheme"] != "predefined":
        raise SplitError(f"split of {study}: folds {empty} have no test patient ({len(table)} patients); "
                         "use more patients or a larger test_fraction / smaller k")
    rec = recordings.set_index("recording_id")
    assigned = samples.merge(splits[["patient_key", "fold", "role"]], on="patient_key")
    assigned["study_key"] = assigned["recording_id"].map(rec["study_key"])
    assigned["pixel_sha256"] = assigned["recording_id"].map(rec["pixel_sha256"])
    leakage = leakage_table(study, assigned)
    arrays = normalisation(samples, splits[["patient_key", "fold", "role"]])
    balance = balance_table(study, table, splits[["patient_key", "fold", "role"]])
    n_folds = splits["fold"].nunique()
    log.info("split %s: %s, %d patients, %d fold%s", study, cfg["scheme"], len(table), n_folds, "" if n_folds == 1 else "s")
    return splits[["study", "patient_key", "fold", "role"]], leakage, balance, arrays


def write_normalisation(arrays: dict[str, np.ndarray], path: str | Path) -> None:
    import os

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
