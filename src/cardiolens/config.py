"""Configuration: load, validate against the JSON Schema, fill defaults, slice and hash.

The schema lives in ``workflow/schemas/config.schema.yaml`` (one source of truth for the
Snakefile and the command line). Validation happens before any job runs; an error names the
offending key (dotted path) and, for enumerations, the allowed values.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cardiolens.errors import InputError
from cardiolens.hashing import has_files

#: Demo key of the default configuration; accepted for the synthetic cohort only.
DEMO_KEY = "cardiolens-synthetic-demo-key"
#: Name of the config input that is produced by the generator rather than given by the user.
SYNTHETIC_SOURCE = "synthetic"


class ConfigError(InputError):
    """The configuration is invalid; the message names the key and what is allowed."""


def repo_root() -> Path:
    """The project root (where the Snakefile is), found from this file's location."""
    return Path(__file__).resolve().parents[2]


def schema_path() -> Path:
    return repo_root() / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: Path | None = None) -> dict[str, Any]:
    with open(path or schema_path(), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _with_defaults(validator_class: type) -> type:
    """A validator that fills ``default`` values of absent properties before validating them."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            required = set(schema.get("required", []))
            for name, sub in properties.items():
                # Required keys are never filled (so a missing one is reported as missing).
                if "default" in sub and name not in instance and name not in required:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFiller = _with_defaults(jsonschema.Draft202012Validator)


def _dotted(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "<root>"


# Values refused on purpose, with the fix: (path without list indices, refused value) -> why.
_REFUSED = {("stats", "comparisons", "level", "sample"):
            "samples of one patient are not independent, so McNemar and DeLong over samples give p-values far too small; "
            "set level: patient (each patient's prediction from its mean probability over its samples)"}


def _explain(error: jsonschema.ValidationError) -> list[str]:
    """One line per problem of a schema error, naming the key (dotted path), what is allowed and,
    for the usual YAML and spelling slips, the fix (:mod:`cardiolens.config_check`)."""
    # Imported here: config_check builds on this module.
    from cardiolens.config_check import close_key, schema_hint

    key = _dotted(error.absolute_path)
    if error.validator == "enum":
        why = _REFUSED.get((*(p for p in error.absolute_path if not isinstance(p, int)), error.instance))
        if why:
            return [f"config key '{key}': {error.instance!r} is refused: {why}"]
        return [f"config key '{key}': {error.instance!r} is not allowed; allowed values: {error.validator_value}"]
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        pattern = list(error.schema.get("patternProperties", {}))
        extra = f"allowed keys: {allowed}" if allowed else f"keys must match {pattern}"
        unknown = [k for k in error.instance if k not in allowed and not any(re.search(p, k) for p in pattern)]
        return [f"config key '{_dotted([*error.absolute_path, k])}': unknown key{close_key(k, allowed)}; {extra}"
                for k in unknown] or [f"config key '{key}': {error.message}; {extra}"]
    if error.validator in ("oneOf", "anyOf") and error.schema.get("description"):
        return [f"config key '{key}': {error.instance!r} is not valid; expected {error.schema['description']}"]
    return [f"config key '{key}': {error.message}{schema_hint(error)}"]


def _schema_errors(config: dict[str, Any], schema: Mapping[str, Any], fill_defaults: bool = True) -> list[str]:
    """The schema errors of ``config`` (with ``fill_defaults``, defaults filled in place), one line
    each, sorted by key.

    A value of the wrong type also fails the enum or range of its key; only the type error is
    kept, since it carries the fix (e.g. quoting a YAML boolean).
    """
    validator = _DefaultFiller(schema) if fill_defaults else jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    return [line for e in errors if e.validator == "type" or tuple(e.absolute_path) not in typed for line in _explain(e)]


def _without_defaults(schema: Any) -> Any:
    """A deep copy of a (sub)schema without its ``default`` values."""
    if isinstance(schema, Mapping):
        return {k: _without_defaults(v) for k, v in schema.items() if k != "default"}
    return [_without_defaults(v) for v in schema] if isinstance(schema, list) else schema


def _model_train_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Problems of each ``segment.models.<name>.train`` block, checked against ``segment.train``'s
    keys, types and ranges: an override is merged key by key over ``segment.train`` by the stage
    (:func:`cardiolens.segment.stage.model_config`), so a misspelt key would be dropped without a word. Its
    defaults are not filled: an absent key keeps ``segment.train``'s value."""
    seg_schema = schema.get("properties", {}).get("segment", {}).get("properties", {})
    models = (config.get("segment") or {}).get("models")
    if "train" not in seg_schema or not isinstance(models, Mapping):
        return []
    train = _without_defaults(seg_schema["train"])
    wrapped = {"type": "object", "properties": {"segment": {"type": "object", "properties": {
        "models": {"type": "object", "additionalProperties": {"type": "object", "properties": {"train": train}}}}}}}
    instance = {"segment": {"models": {name: {"train": m["train"]} for name, m in models.items()
                                       if isinstance(m, Mapping) and "train" in m}}}
    return _schema_errors(instance, wrapped, fill_defaults=False)


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        base[key] = _deep_merge(base[key], value) if isinstance(value, Mapping) and isinstance(base.get(key), dict) else value
    return base


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return a validated deep copy of ``config`` with every default filled in.

    Raises:
        ConfigError: naming every offending key (dotted path) and the allowed values.
    """
    filled, problems = config_problems(config, schema)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return filled


def config_problems(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """``config`` with every default filled in, and its problems (one line each, naming the key).

    The schema is checked first; the cross-key rules only when it passes (they read filled keys).
    """
    schema = dict(schema or load_schema())
    filled = copy.deepcopy(dict(config))
    errors = _study_defaults_errors(filled.get("study_defaults", {}), schema)
    if errors:
        return filled, errors
    predefined = {name: sub.get("default", {})
                  for name, sub in schema.get("properties", {}).get("studies", {}).get("properties", {}).items()}
    if isinstance(filled.get("studies", {}), dict):
        filled["studies"] = with_study_defaults(filled.get("studies", {}), filled.get("study_defaults") or {}, predefined)
    errors = _schema_errors(filled, schema)
    errors += _model_train_errors(filled, schema) if not errors else []
    # Applied: every study now carries its own settings (a second validation changes nothing).
    filled.pop("study_defaults", None)
    if errors:
        return filled, errors
    names = [entry["name"] for entry in filled.get("inputs", [])]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        return filled, [f"config key 'inputs': names must be unique; repeated: {dupes}"]
    if SYNTHETIC_SOURCE in names:
        return filled, [f"config key 'inputs': the name '{SYNTHETIC_SOURCE}' is reserved for the generated cohort"]
    source_names = [s["name"] for s in sources(filled)]
    clinical = clinical_label_names(filled)
    problems = clinical_input_problems(filled)
    problems += [p for name, study in filled.get("studies", {}).items() for p in _study_problems(name, study, source_names, clinical)]
    private = (filled.get("privacy") or {}).get("private_dir")
    if private and Path(os.path.abspath(private)).is_relative_to(os.path.abspath("results")):
        problems.append(f"config key 'privacy.private_dir': {private!r} is under results/; the real paths it "
                        "holds are for the data owner only (default: private)")
    return filled, problems


def with_study_defaults(studies: Mapping[str, Any], study_defaults: Mapping[str, Any],
                        predefined: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every study's block merged over what it starts from: ``study_defaults``, then, for a
    predefined study, its predefined settings (the schema's ``default`` of ``studies.<name>``),
    then the study's own keys. Nested mappings merge key by key; anything else (a list, null)
    replaces. A predefined study the configuration leaves out is built the same way; a block
    that is not a mapping is left as it is for the schema to report. The schema's own defaults
    are filled afterwards, under all of these.

    Returns:
        The studies in the configuration's order, then the predefined ones it leaves out.
    """
    out: dict[str, Any] = {}
    for name in [*studies, *(n for n in predefined if n not in studies)]:
        own = studies.get(name, {})
        if not isinstance(own, dict):
            out[name] = own
            continue
        base = _deep_merge(copy.deepcopy(dict(study_defaults)), copy.deepcopy(dict(predefined.get(name, {}))))
        out[name] = _deep_merge(base, copy.deepcopy(own))
    return out


def _study_defaults_errors(study_defaults: Any, schema: Mapping[str, Any]) -> list[str]:
    """Schema errors of the ``study_defaults`` block alone (key paths ``study_defaults.*``), so
    that a bad value is reported once, where it is written, rather than in every study."""
    sub = schema.get("properties", {}).get("study_defaults")
    if sub is None:
        return []
    single = {"$defs": schema.get("$defs", {}), "type": "object", "properties": {"study_defaults": sub}}
    return _schema_errors({"study_defaults": copy.deepcopy(study_defaults)}, single)


REGRESSION_MONITORS = ("val/mse", "val/mae", "val/loss")
CLASSIFICATION_MONITORS = ("val/auroc", "val/acc", "val/loss")


def clinical_input_problems(config: Mapping[str, Any]) -> list[str]:
    """A clinical table where it would be ignored: on an input whose adapter is not ``dicom``
    (ACDC, CAMUS and EchoNet take covariates and labels from their own metadata files), or a
    mapped name that is already a column of the recordings or patients tables (``split``,
    ``quality``, ``view``...), which would shadow it."""
    from cardiolens.config_check import CLINICAL_TABLE_ADAPTERS
    from cardiolens.ingest.clinical import CANONICAL, extra_label_names
    from cardiolens.tables.registry import PATIENTS, RECORDINGS

    problems = []
    taken = sorted((set(RECORDINGS.names) | set(PATIENTS.names)) - set(CANONICAL))
    for i, entry in enumerate(config.get("inputs", [])):
        clinical = entry.get("clinical") or {}
        if not clinical:
            continue
        if entry.get("adapter") not in CLINICAL_TABLE_ADAPTERS:
            problems.append(f"config key 'inputs[{i}].clinical': a clinical table is joined by the dicom adapter only "
                            f"(by PatientID); the {entry.get('adapter')} adapter takes covariates and labels from its "
                            "dataset's own metadata files, so this table would be ignored")
        clash = [n for n in extra_label_names(dict(clinical.get("columns") or {})) if n in taken]
        if clash:
            problems.append(f"config key 'inputs[{i}].clinical.columns': {clash} already name columns of the "
                            "recordings or patients tables; map the CSV column under another name (a predefined split reads it "
                            "with split: {scheme: predefined, column: <that name>})")
    return problems


def clinical_label_names(config: Mapping[str, Any]) -> list[str]:
    """Names the inputs' clinical tables map besides the covariates and seed labels
    (``inputs[].clinical.columns``, e.g. ``amyloid``): labels a study may name, sorted."""
    from cardiolens.ingest.clinical import extra_label_names

    names: set[str] = set()
    for entry in config.get("inputs", []):
        names |= set(extra_label_names(dict((entry.get("clinical") or {}).get("columns") or {})))
    return sorted(names)


def recording_labels() -> list[str]:
    """Labels the recordings table holds in columns of their own: the seed labels and ``quality``."""
    from cardiolens.labels import SEED_LABELS

    return [*SEED_LABELS, "quality"]


def _study_problems(name: str, study: Mapping[str, Any], source_names: list[str], clinical: Sequence[str] = ()) -> list[str]:
    """Cross-key rules the schema cannot express: the label against the run's labels; the
    selection and the split against the run's sources and the recordings columns (with the
    clinical tables' mapped columns, ``clinical``); task vs targets vs monitored metric."""
    from cardiolens.prepare.select import selection_problems

    return (label_problems(name, study, clinical) + selection_problems(name, study, source_names, clinical)
            + split_problems(name, study, source_names, clinical) + _task_problems(name, study))


def label_problems(name: str, study: Mapping[str, Any], clinical: Sequence[str]) -> list[str]:
    """A study label that is neither a recordings label column nor a mapped clinical-table column."""
    from cardiolens.config_check import did_you_mean

    label, known = study.get("label"), [*recording_labels(), *clinical]
    if label is None or label in known:
        return []
    return [f"config key 'studies.{name}.label': {label!r} is not a label of this run{did_you_mean(label, known)}; labels: {known}. "
            f"A clinical-table column becomes a label when an input maps it under that name: "
            f"inputs[].clinical.columns: {{{label}: <CSV column>}}"]


def split_problems(name: str, study: Mapping[str, Any], source_names: list[str], clinical: Sequence[str] = ()) -> list[str]:
    """The split's keys against its scheme and the run: ``test_sources`` is for scheme external,
    which needs it, names sources of the run and, when the study selects sources, some of those;
    ``column`` of scheme predefined is a recordings column."""
    from cardiolens.prepare.select import filterable_columns

    split, key = study.get("split", {}), f"config key 'studies.{name}.split"
    tests = list(split.get("test_sources") or [])
    if split.get("scheme") != "external":
        out = [f"{key}.test_sources': test_sources are for scheme external (this split's is {split.get('scheme')})"] if tests else []
    elif not tests:
        out = [f"{key}.test_sources': scheme external needs the sources whose patients are the test set, e.g. [{source_names[-1]}]; "
               f"sources: {source_names}"]
    else:
        out = [f"{key}.test_sources': {s!r} is not a source of this run; sources: {source_names}" for s in tests if s not in source_names]
        used = list(study.get("sources") or source_names)
        if not out and not set(tests) & set(used):
            out.append(f"{key}.test_sources': none of {tests} is among the study's sources {used}: the test set would be empty")
        elif not out and set(used) <= set(tests):
            out.append(f"{key}.test_sources': {tests} are every source the study uses ({used}): no patient is left to train on")
    column = split.get("column", "split")
    if split.get("scheme") == "predefined" and column not in [*filterable_columns(), *clinical]:
        from cardiolens.config_check import did_you_mean

        out.append(f"{key}.column': the recordings table has no column {column!r}{did_you_mean(column, filterable_columns())}; "
                   f"columns: {filterable_columns()}")
    return out


def _task_problems(name: str, study: Mapping[str, Any]) -> list[str]:
    """Task vs targets vs monitored metric."""
    train, key = study.get("train", {}), f"config key 'studies.{name}"
    if train.get("task") == "regression":
        out = [] if study.get("targets") else [f"{key}.targets': a regression study needs its targets (region names)"]
        if train.get("monitor") not in REGRESSION_MONITORS:
            out.append(f"{key}.train.monitor': {train.get('monitor')!r} is not a regression metric; allowed values: {list(REGRESSION_MONITORS)}")
        return out
    out = [f"{key}.targets': targets are for train.task regression"] if study.get("targets") else []
    if train.get("monitor") not in CLASSIFICATION_MONITORS:
        out.append(f"{key}.train.monitor': {train.get('monitor')!r} is not a classification metric; allowed values: {list(CLASSIFICATION_MONITORS)}")
    return out


def check_input_paths(config: Mapping[str, Any]) -> None:
    """Stop with a clear message when a configured input path does not exist, or a source folder
    holds no file at all (before any job)."""
    problems = input_path_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def input_path_problems(config: Mapping[str, Any]) -> list[str]:
    """The problems :func:`check_input_paths` stops on, one line each naming the key."""
    problems: list[str] = []
    for i, entry in enumerate(config.get("inputs", [])):
        if not Path(entry["path"]).is_dir():
            problems.append(f"config key 'inputs[{i}].path': folder {entry['path']!r} does not exist")
        elif not has_files(entry["path"]):
            problems.append(f"config key 'inputs[{i}].path': source {entry.get('name', entry['adapter'])!r} yields no file: "
                            f"folder {entry['path']!r} is empty (symbolic links are followed)")
        clinical = entry.get("clinical") or {}
        if clinical.get("path") and not Path(clinical["path"]).is_file():
            problems.append(f"config key 'inputs[{i}].clinical.path': file {clinical['path']!r} does not exist")
        for opt in ("contours_dir", "truth_dir"):
            value = (entry.get("options") or {}).get(opt)
            if value and not Path(value).is_dir():
                problems.append(f"config key 'inputs[{i}].options.{opt}': folder {value!r} does not exist")
        link = (entry.get("options") or {}).get("contours_link")
        if link and not Path(link).is_file():
            problems.append(f"config key 'inputs[{i}].options.contours_link': file {link!r} does not exist")
        if bool((entry.get("options") or {}).get("contours_dir")) != bool(link):
            problems.append(f"config key 'inputs[{i}].options': contours_dir and contours_link go together")
        if entry["adapter"] != "echonet" and (entry.get("options") or {}).get("pixel_spacing_mm"):
            problems.append(f"config key 'inputs[{i}].options.pixel_spacing_mm': only for the echonet adapter")
    return problems




def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML configuration file and validate it (see :func:`validate_config`)."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    try:
        return validate_config(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


#: Shortest pseudonymisation key accepted for real data, in characters (a 32-character random key
#: cannot be guessed; short or memorable ones can, and every pseudonym would follow).
MIN_KEY_CHARS = 32


def resolve_key(config: Mapping[str, Any], *, synthetic_only: bool) -> bytes:
    """The pseudonymisation key: environment variable first, then ``privacy.key``.

    The demo key is refused unless every ingested source is synthetic, so a real cohort can
    never be pseudonymised with a key that is published in this repository; for real data a key
    shorter than :data:`MIN_KEY_CHARS` characters is refused too.

    Raises:
        ConfigError: no key, the demo key for real inputs, or a real-data key that is too short.
    """
    privacy = config.get("privacy", {})
    env_name = privacy.get("key_env", "CARDIOLENS_PSEUDONYM_KEY")
    from_env = os.environ.get(env_name)
    key = from_env or privacy.get("key")
    if not key:
        raise ConfigError(
            f"no pseudonymisation key: set the environment variable {env_name} or config key 'privacy.key'"
        )
    if key == DEMO_KEY and not synthetic_only:
        raise ConfigError(
            "config key 'privacy.key': the published demo key may only pseudonymise the synthetic cohort; "
            f"export a secret key in {env_name} for real inputs"
        )
    if len(key) < MIN_KEY_CHARS and not synthetic_only:
        where = f"environment variable {env_name}" if from_env else "config key 'privacy.key'"
        raise ConfigError(
            f"{where}: the pseudonymisation key has {len(key)} characters; real inputs need at least "
            f"{MIN_KEY_CHARS} (a short key can be guessed, and every patient_key with it). Generate one with "
            f"python -c 'import secrets; print(secrets.token_hex(32))' and export it in {env_name}"
        )
    return key.encode("utf-8")


def pseudonym_key(config: Mapping[str, Any]) -> bytes:
    """The key ingestion and the synthetic generator use for ``config`` (:func:`resolve_key`,
    with the demo key allowed when every source is the synthetic cohort)."""
    return resolve_key(config, synthetic_only=all(s["name"] == SYNTHETIC_SOURCE for s in sources(config)))


def canonical_json(obj: Any) -> str:
    """Stable JSON (sorted keys, no whitespace) used for hashing and metadata."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of a configuration slice."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to write into outputs: the pseudonymisation key is removed."""
    out = copy.deepcopy(dict(config))
    if "privacy" in out:
        out["privacy"] = {k: v for k, v in out["privacy"].items() if k != "key"}
    return out


def sources(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every input source to ingest, the synthetic cohort first when it is enabled.

    Each entry has ``name``, ``adapter``, ``path``, ``clinical`` and ``options``.
    """
    out: list[dict[str, Any]] = []
    if config["cohort"]["source"] == SYNTHETIC_SOURCE:
        outdir = config["cohort"]["synthetic"]["outdir"]
        out.append(
            {
                "name": SYNTHETIC_SOURCE,
                "adapter": "dicom",
                "path": f"{outdir}/dicom",
                "clinical": {"path": f"{outdir}/clinical.csv", "id_column": "PatientID", "columns": {}},
                "options": {"truth_dir": f"{outdir}/truth"},
            }
        )
    for entry in config.get("inputs", []):
        full = {"clinical": None, "options": {}}
        full.update(copy.deepcopy(entry))
        out.append(full)
    return out


def source_by_name(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    for entry in sources(config):
        if entry["name"] == name:
            return entry
    raise ConfigError(f"no input source named {name!r}; known: {[s['name'] for s in sources(config)]}")
