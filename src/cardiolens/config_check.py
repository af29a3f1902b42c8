"""Checks of a configuration beyond its JSON Schema, so that "valid" means "will run".

The schema (:func:`cardiolens.config.config_problems`) stays the source of truth for keys, types
and ranges; the functions here see what it cannot: configured paths that do not exist, class
names no data has, a network that does not accept its study's input, and the usual YAML 1.1 and
spelling slips behind a schema error. Each check is a pure function of the merged, filled
configuration that returns problem lines, each naming the key and the fix:
``config key 'studies.cardiomyopathy.classes': 'DCN' is not a class of ...; did you mean 'DCM'?``.

Where they run:

- at every Snakemake parse (``workflow/rules/common.smk``): the schema with the hints of
  :func:`schema_hint` and :func:`close_key`, the input paths, and :func:`parse_time_problems`
  (class names against the built-in lists) - cheap, no file read, no network built;
- ``cardiolens check-config`` (:func:`check`): all of those, plus the classes found in the
  clinical tables, the study paths (pretrained weights, split anchor), the pseudonymisation key
  and one forward pass of every enabled study's network. Building networks takes seconds, too
  slow for every parse (every cluster job parses the Snakefile again).

``cardiolens check-config A.yaml B.yaml`` checks what ``snakemake --configfile A.yaml B.yaml``
would run: :func:`merge_configfiles` reproduces Snakemake's merge.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

#: The Snakefile's ``configfile:`` directive: loaded first, relative to the working directory.
DEFAULT_CONFIGFILE = "config/config.yaml"

#: Adapters that read the input's clinical table (the others build theirs from the dataset).
CLINICAL_TABLE_ADAPTERS = frozenset({"dicom"})
#: Labels an adapter reads from the dataset's own metadata: values that cannot be known before
#: ingest (ACDC Info.cfg Group; CAMUS ImageQuality).
METADATA_LABELS: dict[str, frozenset[str]] = {"acdc": frozenset({"cardiomyopathy"}), "camus": frozenset({"quality"})}


def metadata_label_values(adapter: str) -> dict[str, tuple[str, ...]]:
    """The values of the labels adapter ``adapter`` reads from its dataset's metadata (ACDC's
    Info.cfg Group, CAMUS ImageQuality); {} for the other adapters."""
    if adapter == "acdc":
        from cardiolens.ingest.adapters.acdc import GROUPS

        return {"cardiomyopathy": GROUPS}
    if adapter == "camus":
        from cardiolens.ingest.adapters.camus import QUALITIES

        return {"quality": QUALITIES}
    return {}

#: YAML 1.1 (PyYAML, hence Snakemake) reads a float only with a dot in the mantissa and a signed
#: exponent: 1.0e-4 and 1.0e+4 are numbers, 1e-4 and 1.0e4 are text.
_EXPONENT = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?[eE]([+-]?)(\d+)")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")

# --- hints for schema errors (used by cardiolens.config._explain) --------------------------------


def yaml_number(text: str) -> str | None:
    """``text`` written so that YAML 1.1 reads it as a float (``1e-4`` -> ``1.0e-4``), or None
    when it is not a number in exponent notation."""
    m = _EXPONENT.fullmatch(text.strip())
    if not m or not (m[2] or m[3]):
        return None
    return f"{m[1]}{m[2] or '0'}.{m[3] or '0'}e{m[4] or '+'}{m[5]}"


def closest(name: str, known: Sequence[str], cutoff: float = 0.6) -> str | None:
    """The entry of ``known`` that ``name`` differs from only by case or a typo (difflib), or None."""
    lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=cutoff)
    return lower.get(name.lower()) or (lower[match[0]] if match else None)


def close_key(name: str, known: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for an unknown key close to a known one (:func:`closest`), else ''."""
    match = closest(name, known)
    return f" (did you mean {match!r}?)" if match else ""


def schema_hint(error: jsonschema.ValidationError) -> str:
    """The fix for a schema error caused by a YAML 1.1 reading or a misspelt study name, as
    '; ...' to append to the error's message, or '' when there is none to give."""
    value = error.instance
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        if isinstance(value, str) and {"number", "integer"} & set(wanted):
            text, fixed = value.strip(), yaml_number(value)
            if fixed and "number" in wanted:
                return f"; write {fixed} (YAML 1.1 reads {text} as text)"
            if fixed or _DECIMAL.fullmatch(text):
                if "number" in wanted:
                    return f"; write {text} without quotes (quoted, it is text)"
                if float(text).is_integer():
                    return f"; write {int(float(text))} (an integer, without quotes)"
        if isinstance(value, bool) and "string" in wanted:
            return "; put the text in quotes (YAML 1.1 reads yes, no, on and off unquoted as true and false)"
        if isinstance(value, (int, float)) and not isinstance(value, bool) and "string" in wanted:
            return (f"; put the value in quotes exactly as you wrote it (this key takes text, such as a label's values; "
                    f"YAML read it as the number {value})")
    if error.validator == "required" and len(error.absolute_path) == 2 and error.absolute_path[0] == "studies":
        from cardiolens.config import load_schema

        predefined = list(load_schema()["properties"]["studies"]["properties"])
        name = str(error.absolute_path[1])
        match = closest(name, predefined)
        if match and name not in predefined:
            return (f"; did you mean the predefined study {match!r}? Another name starts a new study, which needs "
                    "its label and representation")
    return ""


# --- merging configuration files as Snakemake does ----------------------------------------------


def read_configfile(path: str | os.PathLike[str]) -> dict[str, Any]:
    """One configuration file read as Snakemake reads it (JSON, else YAML 1.1 through yte).

    Raises:
        ValueError: naming the file, when it is missing, unreadable or not a mapping.
    """
    import yaml
    from snakemake.common.configfile import load_configfile
    from snakemake.exceptions import WorkflowError

    try:
        return load_configfile(str(path))
    except (WorkflowError, OSError, ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {str(exc).strip()}") from None


def merge_configfiles(default: Mapping[str, Any] | None, overrides: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The configuration ``snakemake --configfile`` builds from the Snakefile's ``configfile:``
    (``default``; None when that file does not exist) and the ``--configfile`` files in order.

    Exactly Snakemake 9's steps (``ConfigSettings._get_overwrite_config``, ``Workflow.configfile``):
    the overrides are merged into one, the default is merged over a copy of it and the overrides
    again over the result, each merge by ``snakemake.utils.update_config``: nested mappings
    merge key by key, anything else (lists, null) replaces. So an empty mapping (``{}``) changes
    nothing, and ``null`` is the way to drop an inherited mapping such as ``network_params``.
    """
    from snakemake.utils import update_config

    overwrite: dict[str, Any] = {}
    for layer in overrides:
        update_config(overwrite, copy.deepcopy(dict(layer)))
    config = copy.deepcopy(overwrite)
    if default is not None:
        update_config(config, copy.deepcopy(dict(default)))
        update_config(config, copy.deepcopy(overwrite))
    return config


def key_parts(key: str) -> list[str | int]:
    """'inputs[0].clinical.path' -> ['inputs', 0, 'clinical', 'path']."""
    return [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", key)]


def set_in(problem: str, layers: Sequence[tuple[str, Mapping[str, Any]]]) -> str | None:
    """The file that gives the key a problem names (the last one in merge order), or None when
    the value is a default of the schema. ``layers``: (file name, its content) in merge order.

    A study's key no file sets for the study itself comes from ``study_defaults`` when a file sets
    it there (``studies.x.train.network_params`` <- ``study_defaults.train.network_params``): a
    study's own keys win over ``study_defaults`` whatever the file order.
    """
    m = re.match(r"config key '([^']+)'", problem)
    if not m:
        return None
    parts = key_parts(m[1])
    found = _last_setting(parts, layers)
    if found is None and len(parts) > 2 and parts[0] == "studies":
        found = _last_setting(["study_defaults", *parts[2:]], layers)
    return found


def _last_setting(parts: Sequence[str | int], layers: Sequence[tuple[str, Mapping[str, Any]]]) -> str | None:
    """The last of ``layers`` whose content holds the key at ``parts``, or None."""
    found = None
    for name, content in layers:
        node: Any = content
        for part in parts:
            if isinstance(part, int) and isinstance(node, list) and part < len(node):
                node = node[part]
            elif isinstance(part, str) and isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                break
        else:
            found = name
    return found


# --- checks of a merged, filled configuration ---------------------------------------------------


def enabled_studies(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The studies a run prepares, by name."""
    return {name: study for name, study in config.get("studies", {}).items() if study.get("enabled", True)}


def did_you_mean(value: str, known: Sequence[str]) -> str:
    """'; did you mean 'x'?' for the closest of ``known`` (:func:`closest`), or ''."""
    match = closest(value, known)
    return f"; did you mean {match!r}?" if match else ""


def source_label_values(config: Mapping[str, Any], label: str) -> list[str] | None:
    """The values ``label`` can take in this run, when every source that can give it declares
    them before ingest: the synthetic cohort (:data:`cardiolens.synth.cohort.LABEL_VALUES`) and
    the datasets whose adapters read it from their metadata (:func:`metadata_label_values`).
    None when a source's values are known only from its data (a clinical table, which
    :func:`clinical_class_problems` reads). Sources that give no label (DICOM without a clinical
    table, EchoNet) add nothing."""
    from cardiolens.config import SYNTHETIC_SOURCE, sources
    from cardiolens.synth.cohort import LABEL_VALUES

    values: list[str] = []
    for source in sources(config):
        if source["name"] == SYNTHETIC_SOURCE:
            vocabulary: Mapping[str, Sequence[str]] = LABEL_VALUES
        elif source["adapter"] in METADATA_LABELS:
            vocabulary = metadata_label_values(source["adapter"])
        elif (source.get("clinical") or {}).get("path"):
            return None
        else:
            continue
        values += [v for v in vocabulary.get(label, ()) if v not in values]
    return values


def class_problems(config: Mapping[str, Any]) -> list[str]:
    """Classes of enabled studies that their label cannot take in this run (the values its
    sources declare, :func:`source_label_values`).

    A misspelt class (``[NOR, HCM, DCN]``) would otherwise stop the run only at prepare, where
    the class has no sample.
    """
    out = []
    for name, study in enabled_studies(config).items():
        if not study.get("classes"):
            continue
        known = source_label_values(config, study["label"])
        for cls in study["classes"]:
            if known and cls not in known:
                out.append(f"config key 'studies.{name}.classes': {cls!r} is not a class of label {study['label']!r} "
                           f"in this run's sources (its values: {list(known)}){did_you_mean(cls, known)}")
    return out


def parse_time_problems(config: Mapping[str, Any]) -> list[str]:
    """The checks cheap enough for every Snakemake parse (no file read, no network built)."""
    return class_problems(config) + segment_problems(config) + indices_problems(config)


def indices_problems(config: Mapping[str, Any]) -> list[str]:
    """The indices classifier needs a classification study whose recordings can be cine-MR."""
    out = []
    for name, study in enabled_studies(config).items():
        if not (study.get("indices") or {}).get("enabled"):
            continue
        key = f"config key 'studies.{name}.indices.enabled'"
        if study.get("targets") or (study.get("train") or {}).get("task", "classification") != "classification":
            out.append(f"{key}: the indices classifier predicts a class; study {name!r} is a regression study")
        if study.get("modality") not in (None, "MR"):
            out.append(f"{key}: indices are measured on short-axis cine-MR; study {name!r} has modality {study['modality']!r}")
    return out


def segment_problems(config: Mapping[str, Any]) -> list[str]:
    """segment.masks predicted needs each patient held out by one fold (kfold); a model's classes
    must be known structures (the schema's enum says which)."""
    seg = config.get("segment") or {}
    out = []
    if seg.get("masks") == "predicted" and (seg.get("split") or {}).get("scheme") != "kfold":
        out.append("segment.masks: predicted gives every patient the masks of the model that held it out: it needs "
                   f"segment.split.scheme: kfold (got {(seg.get('split') or {}).get('scheme')!r})")
    return out


def clinical_class_problems(config: Mapping[str, Any]) -> list[str]:
    """Classes of enabled studies that no clinical table holds, and studies no source gives a label.

    The values a label can take in a run are those of the clinical tables of the inputs whose
    adapter reads one (:data:`CLINICAL_TABLE_ADAPTERS`). The check is conclusive only when every
    source's values are known before ingest: the synthetic cohort (its table is generated by the
    run) and adapters that read the label from their own metadata (:data:`METADATA_LABELS`) leave
    a label unchecked; so does an unreadable table, which is reported on its own key. A class the
    label cannot take at all is :func:`class_problems`' finding. The tables are read as ingest
    reads them (:func:`cardiolens.ingest.clinical.read_clinical`).
    """
    from cardiolens.config import SYNTHETIC_SOURCE, sources
    from cardiolens.ingest.clinical import ClinicalTableError, read_clinical

    inputs = config.get("inputs", [])
    out: list[str] = []
    tables: dict[int, Any] = {}  # input index -> its clinical table (canonical columns)
    unreadable: set[int] = set()
    for i, entry in enumerate(inputs):
        clinical = entry.get("clinical") or {}
        if entry["adapter"] not in CLINICAL_TABLE_ADAPTERS or not clinical.get("path"):
            continue
        if not Path(clinical["path"]).is_file():
            unreadable.add(i)  # input_path_problems reports it
            continue
        try:
            tables[i] = read_clinical(clinical["path"], clinical.get("id_column", "PatientID"), dict(clinical.get("columns") or {}))
        except ClinicalTableError as exc:
            unreadable.add(i)
            out.append(f"config key 'inputs[{i}].clinical.path': {exc}")
    if any(s["name"] == SYNTHETIC_SOURCE for s in sources(config)) or unreadable:
        return out
    paths = [inputs[i]["clinical"]["path"] for i in tables]
    for name, study in enabled_studies(config).items():
        label = study["label"]
        if label == "quality" or any(label in METADATA_LABELS.get(e["adapter"], ()) for e in inputs):
            continue
        values = {v for table in tables.values() if label in table.columns for v in table[label] if isinstance(v, str)}
        if not values:
            where = f"the clinical tables {paths} have no {label} column" if paths else "no input has a clinical table"
            out.append(f"config key 'studies.{name}.label': no source gives label {label!r} ({where}); map its column "
                       f"in inputs[].clinical.columns ({label}: <column>) or set studies.{name}.enabled: false")
            continue
        for cls in study.get("classes") or []:
            if cls not in values:
                out.append(f"config key 'studies.{name}.classes': no data has class {cls!r} of label {label!r}: "
                           f"the clinical tables {paths} hold {sorted(values)}; drop it from the classes or add "
                           "the source that has it")
    return out


def study_path_problems(config: Mapping[str, Any]) -> list[str]:
    """Files enabled studies read that do not exist: pretrained weights, the split anchor."""
    out = []
    for name, study in enabled_studies(config).items():
        pretrained = study["train"].get("pretrained")
        if pretrained and not Path(pretrained).is_file():
            out.append(f"config key 'studies.{name}.train.pretrained': file {pretrained!r} does not exist "
                       "(weights are never downloaded: give a local file, or null)")
        anchor = study["split"].get("anchor")
        if anchor and not Path(anchor).is_file():
            out.append(f"config key 'studies.{name}.split.anchor': file {anchor!r} does not exist "
                       "(an earlier run's splits.parquet, or null)")
    return out


def key_problems(config: Mapping[str, Any]) -> list[str]:
    """The pseudonymisation key ingest would refuse in this environment: none, the published demo
    key for inputs other than the synthetic cohort, or a real-data key shorter than 32 characters
    (:func:`cardiolens.config.resolve_key`)."""
    from cardiolens.config import ConfigError, pseudonym_key

    try:
        pseudonym_key(config)
    except ConfigError as exc:
        text = str(exc)
        return [text if text.startswith(("config key", "environment variable")) else f"config key 'privacy.key': {text}"]
    return []


def n_outputs(study: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> int:
    """Outputs of the study's network: one per target (regression) or per class (the configured
    classes, else every value the run's sources declare for the label, else 2)."""
    if study["train"].get("task") == "regression":
        return len(study.get("targets") or [])
    declared = source_label_values(config, study["label"]) if config is not None else None
    return len(study.get("classes") or declared or ()) or 2


def forward_error(train: Mapping[str, Any], sample_shape: tuple[int, ...], outputs: int, representation: str) -> str | None:
    """Why the network of ``train`` cannot take one sample of ``sample_shape``, or None.

    Builds it as training does (:func:`cardiolens.train.networks.make_network`, without the
    pretrained weights) and runs one forward pass of zeros on the CPU without gradients; a
    batch of one in evaluation mode, so batch normalisation uses its running statistics.
    """
    import torch

    from cardiolens.train.networks import make_network

    # Clips are stored (T, H, W); the data loader adds the channel axis of the 3-D network.
    x = torch.zeros(1, *((1, *sample_shape) if representation == "clip" else sample_shape))
    try:
        net = make_network({**train, "pretrained": None}, sample_shape, outputs, representation).eval()
        with torch.no_grad():
            y = net(x)
    except Exception as exc:  # any failure is the finding: construction or forward, MONAI or torch
        return _first_line(exc)
    if tuple(y.shape) != (1, outputs):
        return f"it returns shape {tuple(y.shape)} instead of (1, {outputs})"
    return None


def _first_line(exc: BaseException) -> str:
    """The first line of the innermost message (build_network wraps the constructor's TypeError)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 240 else text[:237] + "..."


def network_problems(config: Mapping[str, Any]) -> list[str]:
    """Enabled studies whose network does not run on their input (:func:`forward_error`).

    When the configured ``network_params`` are to blame (the network runs without them), the
    problem is reported on ``train.network_params`` with the usual cause: they were inherited,
    through the merge of config files, from the network the study used before.
    """
    from cardiolens.prepare.shapes import input_shape

    out = []
    for name, study in enabled_studies(config).items():
        train, rep = study["train"], study["representation"]
        if train.get("dual_input") and rep != "frames":
            out.append(f"config key 'studies.{name}.train.dual_input': the ED and ES branches need representation "
                       f"frames (this study's is {rep}); set dual_input: false")
            continue
        shape, outputs = input_shape(study), n_outputs(study, config)
        error = forward_error(train, shape, outputs, rep)
        if error is None:
            out += _pretrained_problem(name, train, shape, outputs, rep)
            continue
        params = train.get("network_params")
        net = train["network"]
        if params and forward_error({**train, "network_params": None}, shape, outputs, rep) is None:
            out.append(f"config key 'studies.{name}.train.network_params': {net} rejects {params}: {error}; network_params "
                       f"are inherited from the study's defaults when train.network changes: reset them with "
                       f"`network_params: null` beside `network: {net}` (an empty {{}} is merged key by key and keeps "
                       f"them), or give {net}'s own arguments")
        else:
            size_key = {"mmode": "mmode.size", "frames": "frames.crop_px", "clip": "clip.frames and clip.size"}[rep]
            out.append(f"config key 'studies.{name}.train.network': {net} does not run on the study's input "
                       f"{list(shape)}: {error}; choose a larger input (studies.{name}.{size_key}) or a network "
                       "that downsamples less")
    return out


def _pretrained_problem(name: str, train: Mapping[str, Any], shape: tuple[int, ...], outputs: int,
                        rep: str) -> list[str]:
    """Local weights that do not fit the built network (only when the file exists)."""
    path = train.get("pretrained")
    if not path or not Path(path).is_file():
        return []
    from cardiolens.train.networks import load_pretrained, make_network

    try:
        load_pretrained(make_network({**train, "pretrained": None}, shape, outputs, rep), path)
    except Exception as exc:  # unreadable file or architecture mismatch: both stop training
        return [f"config key 'studies.{name}.train.pretrained': {_first_line(exc)}"]
    return []


def check(config: Mapping[str, Any], *, networks: bool = True) -> tuple[dict[str, Any], list[str]]:
    """Every check of ``config`` (a merged, unfilled configuration): the filled configuration
    and its problems. The schema comes first; the others need a valid configuration and run
    only when it is. Paths are relative to the working directory, as in a run."""
    from cardiolens.config import config_problems, input_path_problems

    filled, problems = config_problems(config)
    if problems:
        return filled, problems
    problems = (input_path_problems(filled) + study_path_problems(filled) + class_problems(filled)
                + clinical_class_problems(filled) + key_problems(filled))
    if networks:
        problems += network_problems(filled)
    return filled, problems


def summary(config: Mapping[str, Any]) -> list[str]:
    """Short lines saying what a valid configuration runs: its sources and enabled studies."""
    from cardiolens.config import sources
    from cardiolens.prepare.select import describe_selection
    from cardiolens.prepare.shapes import input_shape

    srcs = ", ".join(f"{s['name']} ({s['adapter']}, {s['path']})" for s in sources(config)) or "none"
    studies = []
    for name, study in enabled_studies(config).items():
        train = study["train"]
        classes = (f", classes {study['classes']}" if study.get("classes") else "") + describe_selection(study)
        dual = " dual-input" if train.get("dual_input") else ""
        shape = "x".join(map(str, input_shape(study)))
        studies.append(f"{name} ({study['label']}{classes}; {study['representation']} {shape}; {train['network']}{dual})")
    return [f"sources: {srcs}", *(f"study {line}" for line in studies)] if studies else [f"sources: {srcs}", "no study enabled"]
