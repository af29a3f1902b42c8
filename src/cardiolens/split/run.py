"""Entry point of the split stage with files at the edges (used by Snakemake)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import provenance
from cardiolens.errors import InputError
from cardiolens.split.audit import normalisation_check, raise_on_leakage
from cardiolens.split.assign import SplitError
from cardiolens.split.stage import LabelError, anchor_settings_problem, run_split, write_normalisation
from cardiolens.tables import TableError, read_provenance, read_table, write_table
from cardiolens.tables.registry import BALANCE, LEAKAGE, PATIENTS, RECORDINGS, SAMPLES, SPLITS

log = logging.getLogger(__name__)


def split_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """The configuration one study's split depends on. ``test_sources`` and ``column`` enter it
    only when set (not null, not the default column ``split``), so the slices (and the hashes
    that decide reruns) of existing studies keep their value."""
    split = dict(config["studies"][study]["split"])
    if not split.get("test_sources"):
        split.pop("test_sources", None)
    if split.get("column", "split") == "split":
        split.pop("column", None)
    return {"study": study, "seed": config["seed"], "split": split}


def classes_missing_from_roles(samples: pd.DataFrame, splits: pd.DataFrame) -> list[tuple[int, str, str]]:
    """(fold, role, class) for every class of ``samples`` (column ``label``; none for a regression
    study) that no patient of the fold's train or test role carries: a class the model never
    learns, or one its held-out metrics cannot judge."""
    if "label" not in samples or samples["label"].isna().all():
        return []
    if "targets" in samples and samples["targets"].notna().all():  # regression: the label only stratifies
        return []
    classes = sorted(samples["label"].dropna().unique())
    per_patient = samples.groupby("patient_key")["label"].agg(set)
    out = []
    for (fold, role), rows in splits[splits["role"].isin(["train", "test"])].groupby(["fold", "role"]):
        present = set().union(*per_patient.reindex(rows["patient_key"]).dropna())
        out += [(int(fold), str(role), c) for c in classes if c not in present]
    return out


def missing_class_warnings(missing: list[tuple[int, str, str]], n_folds: int) -> list[str]:
    """What the user is told of :func:`classes_missing_from_roles`: each fold whose training role
    lacks a class, and each class no fold's test role holds. A k-fold test role lacks a class in
    some folds as a matter of course (pooled over the folds every patient is tested), so that is
    not said."""
    train = [(fold, label) for fold, role, label in missing if role == "train"]
    out = []
    if train:
        folds = sorted({f for f, _ in train})
        which = "; ".join(f"fold {f}: {', '.join(c for g, c in train if g == f)}" for f in folds)
        out.append(f": the training role lacks a class in {len(folds)} of {n_folds} folds, which never learn it ({which}); "
                   "more patients of that class, or fewer folds, would give it one")
    untested = sorted({c for _, role, c in missing if role == "test"})
    out += [f": no test patient has class {label} in any fold (its held-out metrics leave it out)" for label in untested
            if sum(1 for _, role, c in missing if role == "test" and c == label) == n_folds]
    return out


def _made_with(anchor_path: str) -> dict[str, Any]:
    """The ``split`` settings an anchor ``splits.parquet`` was made with, from its provenance
    (empty for a table without one)."""
    try:
        return dict(((read_provenance(anchor_path).get("config") or {}).get("slice") or {}).get("split") or {})
    except TableError:
        return {}


def run_study_split(samples_path: str, patients_path: str, recordings_path: str, cslice: dict[str, Any], out_dir: str,
                    rule: str = "split_study") -> None:
    """Write splits, leakage, balance and normalisation for one study; stop if the audit fails.

    The normalisation is audited as stored: ``normalisation.npz`` and ``splits.parquet`` are read
    back and the statistics recomputed from the training-role samples of each fold."""
    samples = read_table(samples_path, SAMPLES)
    patients = read_table(patients_path, PATIENTS)
    recordings = read_table(recordings_path, RECORDINGS)
    cfg = cslice["split"]
    study = cslice["study"]
    if cfg.get("anchor") and not Path(cfg["anchor"]).is_file():
        raise InputError(f"config key 'studies.{study}.split.anchor' ({cfg.get('scheme')}): file {cfg['anchor']!r} does not exist")
    anchor = read_table(cfg["anchor"], SPLITS) if cfg.get("anchor") else None
    if anchor is not None:
        made_with = _made_with(cfg["anchor"])
        if problem := anchor_settings_problem(made_with, cfg):
            raise InputError(f"config key 'studies.{study}.split.anchor' ({cfg.get('scheme')}): {problem}; an anchor keeps "
                             "patients where they were only under the split it was made with (or remove the anchor to "
                             "place every patient anew)")
    try:
        splits, leakage, balance, arrays = run_split(study, samples, patients, recordings, cfg, cslice["seed"], anchor)
    except SplitError as exc:  # what the study's patients cannot give: the user's to change, not a crash
        raise InputError(f"config key 'studies.{study}.split' ({cfg.get('scheme')}): {exc}") from None
    except LabelError as exc:
        raise InputError(f"config key 'studies.{study}.label': {exc}") from None
    for warning in missing_class_warnings(classes_missing_from_roles(samples, splits), splits["fold"].nunique()):
        log.warning("split of %s%s", study, warning)
    inputs = provenance.describe_inputs([samples_path, patients_path, recordings_path] + ([cfg["anchor"]] if cfg.get("anchor") else []))
    out = Path(out_dir)
    for name, df, schema in (("splits", splits, SPLITS), ("balance", balance, BALANCE)):
        write_table(df.reindex(columns=schema.names), out / f"{name}.parquet", schema, provenance.build(rule, inputs, cslice))
    write_normalisation(arrays, out / "normalisation.npz")
    with np.load(out / "normalisation.npz") as z:
        stored = {k: z[k] for k in z.files}
    norm_rows = normalisation_check(samples, read_table(out / "splits.parquet", SPLITS), stored).assign(study=cslice["study"])
    leakage = pd.concat([leakage, norm_rows], ignore_index=True)
    write_table(leakage.reindex(columns=LEAKAGE.names), out / "leakage.parquet", LEAKAGE, provenance.build(rule, inputs, cslice))
    raise_on_leakage(leakage)
