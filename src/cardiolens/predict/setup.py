"""``cardiolens predict``: the run configuration built from a bundle and the new inputs, the checks
that refuse inputs the bundle cannot score, and the Snakemake call.

The run is an ordinary Snakemake run in the output folder (``snakemake --directory OUT
--configfile OUT/config.yaml``): the ingest and prepare rules, then ``predict_study``,
``predict_attribute`` and ``predict_scores`` (workflow/rules/predict.smk). Extra arguments (``--profile``, ``--cores``)
go to Snakemake unchanged, so it runs on a cluster like any other run.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cardiolens.predict.bundle import BundleError, read_config, verify_bundle

#: Modality of every recording of the single-modality adapters; DICOM sources are read.
ADAPTER_MODALITY = {"acdc": "MR", "camus": "US", "echonet": "US"}
SOURCE_NAME = "new"
#: The file that marks an output folder as a predict run's, with the bundle hash it was made with.
MARKER = ".cardiolens-predict.json"


def check_out(out: Path, bundle_hash: str, bundle: str | None = None) -> None:
    """Refuse an ``--out`` that would overwrite what another run wrote: an existing file, a folder
    with files (hidden ones aside) but no :data:`MARKER` (a training run's folder, anything else),
    or a predict run of another bundle that has predictions. A predict run of the same bundle is
    continued (Snakemake reruns what changed); so is one from before the marker whose
    ``config.yaml`` names this ``bundle`` folder.

    Raises:
        BundleError: naming the folder and what to do.
    """
    if out.exists() and not out.is_dir():
        raise BundleError(f"--out {out}: is a file; give a folder (created if missing)")
    if not out.is_dir() or not any(not p.name.startswith(".") for p in out.iterdir()):
        return  # new, empty, or hidden files only (.DS_Store)
    marker, legacy = out / MARKER, out / "config.yaml"
    if marker.is_file():
        try:
            made_with = str(json.loads(marker.read_text(encoding="utf-8")).get("bundle_sha256"))
        except (OSError, ValueError, AttributeError):
            made_with = "unreadable"
        same = made_with == bundle_hash
    elif legacy.is_file() and legacy.read_text(encoding="utf-8", errors="replace").startswith("# Written by `cardiolens predict`"):
        try:  # a predict run from before the marker: its configuration names the bundle folder
            made_with = str((yaml.safe_load(legacy.read_text(encoding="utf-8")).get("predict") or {}).get("bundle"))
        except (yaml.YAMLError, AttributeError):
            made_with = "unreadable"
        same = bundle is not None and Path(made_with) == Path(bundle).resolve()
    else:
        raise BundleError(f"--out {out}: the folder holds files but is not a cardiolens predict run (a training run's "
                          "results would be overwritten); give a new or empty folder")
    if not same and (out / "results" / "predict").exists():
        raise BundleError(f"--out {out}: a predict run of another bundle ({made_with[:12]}); its predictions would be "
                          f"replaced by this bundle's ({bundle_hash[:12]}): give a new folder")


def _absolute(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    """An ``inputs:`` entry with its paths absolute (relative ones are relative to ``base``)."""
    out = copy.deepcopy(entry)

    def fix(p: str) -> str:
        return str((base / p).resolve()) if not os.path.isabs(p) else p

    out["path"] = fix(out["path"])
    if out.get("clinical"):
        out["clinical"]["path"] = fix(out["clinical"]["path"])
    for key in ("truth_dir", "contours_dir"):
        if (out.get("options") or {}).get(key):
            out["options"][key] = fix(out["options"][key])
    return out


def read_inputs(spec: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(``inputs:`` entries with absolute paths, declared facts) from a YAML file or a folder.

    A folder is one ``dicom`` source named ``new``. A YAML file gives ``inputs:`` as in
    config/config.yaml and may declare ``modality`` and ``representation`` (checked against the
    bundle).

    Raises:
        BundleError: no such file or folder, or a YAML file without an ``inputs:`` list.
    """
    path = Path(spec)
    if path.is_dir():
        return [{"name": SOURCE_NAME, "adapter": "dicom", "path": str(path.resolve())}], {}
    if not path.is_file():
        raise BundleError(f"--input {spec}: no such file or folder")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        raise BundleError(f"--input {spec}: not a readable YAML file" + (f" (line {where.line + 1})" if where else "")) from None
    entries = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise BundleError(f"--input {spec}: needs an `inputs:` list (as in config/config.yaml) or a folder of DICOM files")
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("path"), str) or not e.get("name") or not e.get("adapter"):
            raise BundleError(f"--input {spec}: inputs[{i}] needs name, adapter and path, as in config/config.yaml")
        if e.get("options") is not None and not isinstance(e["options"], dict):
            raise BundleError(f"--input {spec}: inputs[{i}].options must be a mapping, e.g. {{truth_dir: truth}}")
        if e.get("clinical") is not None and not (isinstance(e["clinical"], dict) and isinstance(e["clinical"].get("path"), str)):
            raise BundleError(f"--input {spec}: inputs[{i}].clinical needs a path: {{path: clinical.csv, id_column: PatientID}}")
    declared = {k: doc[k] for k in ("modality", "representation") if doc.get(k)}
    return [_absolute(e, path.parent.resolve()) for e in entries], declared


def dicom_modalities(folder: str | os.PathLike[str]) -> set[str]:
    """Modality tags of the DICOM files under ``folder`` (unreadable files are ingest's business)."""
    import pydicom

    found: set[str] = set()
    for f in sorted(Path(folder).rglob("*")):
        if not f.is_file():
            continue
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["Modality"])
        except Exception:  # not DICOM or broken: ingest rejects it with a reason
            continue
        if getattr(ds, "Modality", None):
            found.add(str(ds.Modality))
    return found


def check_inputs(bundle: str, cfg: dict[str, Any], entries: list[dict[str, Any]], declared: dict[str, Any]) -> None:
    """Refuse inputs whose modality or representation differ from the bundle's.

    Raises:
        BundleError: naming the bundle, the source and the mismatch.
    """
    prep = cfg["prepare"]
    if declared.get("representation") and declared["representation"] != prep["representation"]:
        raise BundleError(f"bundle {bundle}: representation {prep['representation']!r}, "
                          f"the input declares {declared['representation']!r}")
    want = prep.get("modality")
    if not want:
        return
    if declared.get("modality") and declared["modality"] != want:
        raise BundleError(f"bundle {bundle}: modality {want!r}, the input declares {declared['modality']!r}")
    for e in entries:
        if not Path(e["path"]).exists():
            raise BundleError(f"input source {e['name']!r}: {e['path']} does not exist")
        have = {ADAPTER_MODALITY[e["adapter"]]} if e["adapter"] in ADAPTER_MODALITY else dicom_modalities(e["path"])
        if want not in have:
            raise BundleError(f"bundle {bundle}: modality {want!r}, input source {e['name']!r} has "
                              f"{', '.join(repr(m) for m in sorted(have)) or 'no readable DICOM recording'}")


def run_config(bundle: str, cfg: dict[str, Any], entries: list[dict[str, Any]], key_env: str) -> dict[str, Any]:
    """The Snakemake configuration of a predict run: one study with the bundle's settings, the new
    sources (``cohort.source: inputs``), every other study disabled, ``predict.bundle`` set."""
    from cardiolens.config import validate_config

    prep, study = cfg["prepare"], cfg["study"]
    block: dict[str, Any] = {"enabled": True, "label": prep["label"], "modality": prep.get("modality"),
                             "representation": prep["representation"], prep["representation"]: prep[prep["representation"]],
                             "train": cfg["train"], "attribute": cfg["attribute"], "stats": {"enabled": False},
                             "motion": {"enabled": False}}
    # No `classes` (null, not absent: absent, the built-in study's defaults would fill them in):
    # recordings of a class the model was not trained on are scored too (their y_true shows what the
    # model makes of them); the outputs are the bundle's classes whatever the labels.
    block["classes"] = None
    if cfg["train"].get("task", "classification") != "classification":
        block["targets"] = cfg.get("targets") or list(cfg["names"])
    block.update({k: prep[k] for k in ("views", "where") if prep.get(k)})  # the training sources are not these
    defaults = validate_config({"cohort": {"source": "inputs"}, "inputs": entries})["studies"]
    studies = {name: {"enabled": False} for name in defaults if name != study}
    studies[study] = block
    return {"seed": int(cfg["seed"]), "privacy": {"key_env": key_env}, "cohort": {"source": "inputs"}, "inputs": entries,
            "studies": studies, "stats": {"comparisons": []}, "predict": {"bundle": str(Path(bundle).resolve())}}


def snakefile() -> Path:
    """The workflow's Snakefile (the repository the package runs from)."""
    from cardiolens.config import repo_root

    return repo_root() / "Snakefile"


def predict(bundle: str, spec: str, out: str, cores: int = 1, key_env: str = "CARDIOLENS_PSEUDONYM_KEY",
            snakemake_args: list[str] | None = None) -> int:
    """Check the bundle and inputs, write ``out/config.yaml``, run Snakemake in ``out``; its exit status.

    Raises:
        BundleError: a changed or incomplete bundle, missing inputs, a modality/representation mismatch.
    """
    from cardiolens.config import ConfigError, resolve_key

    bundle_hash = verify_bundle(bundle)
    cfg = read_config(bundle)
    entries, declared = read_inputs(spec)
    check_inputs(bundle, cfg, entries, declared)
    for e in entries:  # what ingest would stop on inside Snakemake, said before anything runs
        for what, p in (("clinical table", (e.get("clinical") or {}).get("path")),
                        ("truth_dir", (e.get("options") or {}).get("truth_dir"))):
            if p and not Path(p).exists():
                raise BundleError(f"input source {e['name']!r}: {what} {p} does not exist")
    try:
        resolve_key({"privacy": {"key_env": key_env}}, synthetic_only=False)
    except ConfigError as exc:
        raise BundleError(str(exc)) from None
    outdir = Path(out).resolve()
    if outdir == Path(bundle).resolve() or Path(bundle).resolve() in outdir.parents:
        raise BundleError(f"--out {out}: inside the bundle {bundle}, whose files must stay as exported; give a folder "
                          "outside it")
    check_out(outdir, bundle_hash, bundle)
    try:
        config = run_config(bundle, cfg, entries, key_env)
    except ConfigError as exc:
        raise BundleError(f"--input {spec}: {exc}") from None
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = outdir / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"bundle_sha256": bundle_hash}) + "\n", encoding="utf-8")
    os.replace(tmp, outdir / MARKER)
    (outdir / "config.yaml").write_text(
        "# Written by `cardiolens predict`; rerun with\n"
        f"#   snakemake --snakefile {snakefile()} --directory {outdir} --configfile {outdir / 'config.yaml'} --cores 1\n"
        + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(snakefile()), "--directory", str(outdir),
           "--configfile", str(outdir / "config.yaml"), "--cores", str(cores), *(snakemake_args or [])]
    return subprocess.run(cmd, cwd=outdir).returncode
