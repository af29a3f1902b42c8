# Validation, source list and targets. Kept small: logic lives in the cardiolens package.
import os
import time

from cardiolens.config import ConfigError, check_input_paths, sources, validate_config
from cardiolens.config_check import parse_time_problems
from cardiolens.provenance import stage_code_hash
from cardiolens.train.stage import folds_of

try:
    # In place, so scripts see the defaults too.
    config.update(validate_config(config))
    check_input_paths(config)
    # Only the cheap checks: `cardiolens check-config` also reads the clinical tables and builds
    # every network, too slow for every parse (docs/configuration.md).
    if problems := parse_time_problems(config):
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

SOURCES = {s["name"]: s for s in sources(config)}
RUN_STARTED = time.time()  # print_summary says when the summary predates this run
# The report's static front page; rule summary prepends the results to it.
REPORT_INTRO = os.path.join(workflow.basedir, "workflow", "report", "workflow.rst")


STUDIES = [name for name, study in config["studies"].items() if study["enabled"]]
SEGMENT_MODELS = sorted(
    m for m, c in config["segment"]["models"].items() if c.get("enabled", True)
)
# Every stage after segment reads this table: ingest's, with predicted masks, ED/ES and QC added.
RECORDINGS = "results/segment/recordings.parquet"
# `cardiolens predict` runs: the model bundle applied to new recordings (workflow/rules/predict.smk).
PREDICT_BUNDLE = config["predict"]["bundle"]


wildcard_constraints:
    source="[a-z][a-z0-9_]{1,31}",
    study="[a-z][a-z0-9_]{1,31}",
    fold="[0-9]+",
    model="[a-z][a-z0-9_]{1,31}",


def motion_studies():
    return [s for s in STUDIES if config["studies"][s]["motion"]["enabled"]]


def motion_params(study):
    from cardiolens.measure.stage import motion_slice

    return motion_slice(config, study)


def indices_studies():
    return [s for s in STUDIES if config["studies"][s]["indices"]["enabled"]]


def indices_params(study):
    from cardiolens.measure.indices_stage import indices_slice

    return indices_slice(config, study)


def indices_model_params(study):
    from cardiolens.train.indices_stage import indices_model_slice

    return indices_model_slice(config, study)


def motion_stats_params(study):
    from cardiolens.stats.stage import motion_stats_slice

    return motion_stats_slice(config, study)


def stats_studies():
    return [s for s in STUDIES if config["studies"][s]["stats"]["enabled"]]


def final_tables():
    """Every table the default target ends in (the report's provenance page lists them)."""
    return (
        expand(
            "results/ingest/{table}.parquet",
            table=["recordings", "patients", "rejected"],
        )
        + ["results/segment/recordings.parquet", "results/segment/qc.parquet"]
        + expand("results/segment/{model}/summary.parquet", model=SEGMENT_MODELS)
        + expand(
            "results/split/{study}/{table}.parquet",
            study=STUDIES,
            table=["splits", "leakage", "balance"],
        )
        + expand("results/train/{study}/patient_predictions.parquet", study=STUDIES)
        + expand(
            "results/attribute/{study}/summary.parquet",
            study=[s for s in STUDIES if config["studies"][s]["attribute"]["enabled"]],
        )
        + expand(
            "results/stats/{study}/{table}.parquet",
            study=stats_studies(),
            table=["performance", "confusion", "subgroups", "cohort"],
        )
        + expand("results/measure/{study}/motion.parquet", study=motion_studies())
        + expand("results/measure/{study}/indices.parquet", study=indices_studies())
        + expand(
            "results/train/{study}/indices/{table}.parquet",
            study=indices_studies(),
            table=["patient_predictions", "explanations", "diagnoses"],
        )
        + expand(
            "results/stats/{study}/indices/{table}.parquet",
            study=[s for s in indices_studies() if s in stats_studies()],
            table=["performance", "confusion", "comparison"],
        )
        + expand(
            "results/stats/{study}/{table}.parquet",
            study=[
                s for s in motion_studies() if config["studies"][s]["stats"]["enabled"]
            ],
            table=["motion_patients", "motion_groups"],
        )
        + (
            ["results/stats/comparisons.parquet"]
            if config["stats"]["comparisons"]
            else []
        )
    )


def predict_targets():
    """Outputs of a `cardiolens predict` run: predictions and attribution of each study."""
    return expand(
        "results/predict/{study}/{table}.parquet",
        study=STUDIES,
        table=[
            "predictions",
            "patient_predictions",
            "attribution",
            "performance",
            "confusion",
        ],
    )


def bundle_targets():
    """The model bundle of every trained fold."""
    return [
        f"results/train/{s}/fold{k}/bundle"
        for s in STUDIES
        for k in folds_of(config, s)
    ]


def all_targets():
    if PREDICT_BUNDLE:
        return predict_targets()
    return (
        final_tables()
        + bundle_targets()
        + (["results/stats/provenance.html"] if stats_studies() else [])
        + (["results/summary.parquet", "results/summary.rst"] if STUDIES else [])
    )


def summary_studies():
    """The configuration the results summary depends on, per enabled study."""
    out = {}
    for s in STUDIES:
        study = config["studies"][s]
        attribute = study["attribute"]
        out[s] = {
            "label": study["label"],
            "split": {"scheme": study["split"]["scheme"]},
            "train": {"task": study["train"].get("task", "classification")},
            "attribute": (
                {
                    "methods": attribute["methods"],
                    "gallery": {"method": attribute["gallery"]["method"]},
                    "outside_heart": attribute["outside_heart"],
                }
                if attribute["enabled"]
                else None
            ),
        }
    return out


def summary_inputs(wildcards):
    """Per study: performance (stats on; with indices on, the indices classifier's and the combined model's), attribution
    summary and table (attribution on), balance, splits."""
    files = {}
    for s in STUDIES:
        files[f"{s}__splits"] = f"results/split/{s}/splits.parquet"
        files[f"{s}__balance"] = f"results/split/{s}/balance.parquet"
        if config["studies"][s]["stats"]["enabled"]:
            files[f"{s}__performance"] = f"results/stats/{s}/performance.parquet"
            if config["studies"][s]["indices"]["enabled"]:
                files[f"{s}__indices_performance"] = (
                    f"results/stats/{s}/indices/performance.parquet"
                )
                files[f"{s}__combined_performance"] = (
                    f"results/stats/{s}/indices/combined_performance.parquet"
                )
        if config["studies"][s]["attribute"]["enabled"]:
            files[f"{s}__attribution"] = f"results/attribute/{s}/summary.parquet"
            files[f"{s}__maps"] = f"results/attribute/{s}/attribution.parquet"
    return files


def provenance_tables(wildcards):
    return final_tables()


def stats_params(study):
    from cardiolens.stats.stage import stats_slice

    return stats_slice(config, study)


def comparison_inputs(wildcards):
    """Prediction tables of every compared study (patient level; sample level for n_samples)."""
    files = {}
    for c in config["stats"]["comparisons"]:
        for study in (c["a"], c["b"]):
            if study not in STUDIES:
                raise WorkflowError(
                    f"stats.comparisons {c['name']}: study {study!r} is not an enabled study ({STUDIES})"
                )
            files[f"{study}_sample"] = f"results/train/{study}/predictions.parquet"
            files[f"{study}_patient"] = (
                f"results/train/{study}/patient_predictions.parquet"
            )
    return files


def train_params(study):
    from cardiolens.train.stage import train_slice

    return train_slice(config, study)


def bundle_params(study):
    from cardiolens.predict.export import bundle_slice

    return bundle_slice(config, study)


def attribute_params(study):
    from cardiolens.attribute.stage import attribute_slice

    return attribute_slice(config, study)


def segment_gpus():
    from cardiolens.train.stage import gpus_requested

    return gpus_requested(config["segment"]["train"])


def segment_threads():
    """Cores of a segment_fit job: 2, or the training process plus its augmenting workers."""
    seg = config["segment"]
    workers = [seg["train"].get("num_workers") or 0]
    workers += [
        (m.get("train") or {}).get("num_workers") or 0 for m in seg["models"].values()
    ]
    return max(2, 1 + max(workers))


def segment_params(model):
    from cardiolens.segment.stage import segment_slice

    return segment_slice(config, model)


def train_gpus(study):
    from cardiolens.train.stage import gpus_requested

    return gpus_requested(config["studies"][study]["train"])


def split_params(study):
    from cardiolens.split.run import split_slice

    return split_slice(config, study)


def study_params(study):
    from cardiolens.prepare.run import study_slice

    return study_slice(config, study)


def source_inputs(wildcards):
    """Raw inputs of one source: the generator's output or the configured folder."""
    src = SOURCES[wildcards.source]
    if src["name"] == "synthetic":
        return {
            "raw": rules.synth_cohort.output.dicom,
            "clinical": rules.synth_cohort.output.clinical,
            "truth": rules.synth_cohort.output.truth,
        }
    out = {"raw": src["path"]}
    if src.get("clinical"):
        out["clinical"] = src["clinical"]["path"]
    if src["options"].get("truth_dir"):
        out["truth"] = src["options"]["truth_dir"]
    return out


def synth_key_fingerprint(wildcards):
    """Fingerprint of the pseudonymisation key: the generator names ground-truth sidecars with it,
    and every keyed hash ingest writes depends on it, so a new key reruns both (the key itself
    stays out of params). Without a usable key: a marker, and the job says what is missing.
    """
    from cardiolens.config import pseudonym_key
    from cardiolens.privacy import key_fingerprint

    try:
        return key_fingerprint(pseudonym_key(config))
    except ConfigError:
        return "no usable key"


def source_params(wildcards):
    from cardiolens.ingest.run import source_slice

    return source_slice(config, wildcards.source)


def source_inventory(wildcards):
    """Digest of the files under a user source (the synthetic one is tracked as a rule output)."""
    from cardiolens.hashing import inventory_digest

    src = SOURCES[wildcards.source]
    return "generated" if src["name"] == "synthetic" else inventory_digest(src["path"])


def print_summary(path):
    """At the end of a successful run: the results summary (as `cardiolens summary` prints it), the
    folds whose split is imbalanced and the rejected input files by reason; a summary this run did
    not write is labelled as such.
    """
    if not os.path.exists(path):
        return
    from cardiolens.summary import (
        balance_lines,
        read_summary,
        rejection_line,
        summary_lines,
    )
    from cardiolens.tables import read_table
    from cardiolens.tables.registry import BALANCE, REJECTED

    try:
        lines = summary_lines(read_summary(path))
        tables = {}
        for s in STUDIES:
            p = f"results/split/{s}/balance.parquet"
            if os.path.exists(p):
                tables[s] = read_table(p, BALANCE)
        lines += balance_lines(tables)
        if os.path.exists("results/ingest/rejected.parquet"):
            lines.append(
                rejection_line(read_table("results/ingest/rejected.parquet", REJECTED))
            )
    # The run succeeded; a summary that cannot be read must not hide that.
    except Exception as exc:
        print(f"cardiolens: could not print {path}: {exc}", flush=True)
        return
    if os.path.getmtime(path) < RUN_STARTED:
        lines[0] += " - not rewritten by this run"
    print("\n".join(lines), flush=True)
