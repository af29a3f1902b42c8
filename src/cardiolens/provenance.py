"""Provenance records stored in every table's schema metadata.

A record says which rule produced the file, from which input files (path and sha256), under
which configuration slice (and its hash), with which package versions and which code. It holds
no wall-clock time, host name or user name, so the same inputs, configuration and code give
byte-identical tables.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from cardiolens import __version__
from cardiolens.config import config_hash, redact, repo_root
from cardiolens.hashing import sha256_file

#: Distributions whose versions are recorded (those that shape the numbers).
TRACKED_PACKAGES = (
    "cardiolens", "numpy", "pandas", "pyarrow", "pydicom", "itk-core", "itk-io", "scipy",
    "snakemake", "torch", "lightning", "monai", "captum", "statsmodels", "scikit-learn",
)


@functools.cache
def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@functools.cache
def code_version() -> dict[str, str]:
    """Package version, sha256 of the package and workflow sources, and the git commit if any."""
    root = repo_root()
    h = hashlib.sha256()
    files = sorted((root / "src" / "cardiolens").rglob("*.py"))
    files += sorted(p for p in (root / "workflow").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if (root / "Snakefile").exists():
        files.append(root / "Snakefile")
    for path in files:
        h.update(str(path.relative_to(root)).encode("utf-8") + b"\0" + sha256_file(path).encode("ascii"))
    commit = "unknown"
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"version": __version__, "source_sha256": h.hexdigest(), "git_commit": commit}


#: Package modules each stage's outputs depend on, besides its own subpackage.
SHARED_MODULES = ("config.py", "privacy.py", "labels.py", "hashing.py", "provenance.py", "tables")


@functools.cache
def stage_code_hash(*parts: str, shared: bool = True) -> str:
    """sha256 of the package sources a stage runs (its subpackages plus the shared modules).

    Rules pass it as a parameter, so editing e.g. ``cardiolens/ingest`` reruns ingestion and what
    depends on it, while editing ``cardiolens/prepare`` leaves ingestion alone (Snakemake's own
    code trigger only sees the rule's script, not the package).
    """
    pkg = repo_root() / "src" / "cardiolens"
    h = hashlib.sha256()
    for part in sorted(set(parts) | (set(SHARED_MODULES) if shared else set())):
        target = pkg / part
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for f in files:
            h.update(str(f.relative_to(pkg)).encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


def describe_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Path, size and sha256 of every input file, sorted by path."""
    out = []
    for p in sorted({str(p) for p in paths}):
        out.append({"path": p, "bytes": Path(p).stat().st_size, "sha256": sha256_file(p)})
    return out


def build(
    rule: str,
    inputs: list[dict[str, Any]],
    config_slice: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of one output table.

    Args:
        rule: producing Snakemake rule (or CLI command).
        inputs: entries from :func:`describe_inputs` (or precomputed ones with the same keys).
        config_slice: the part of the configuration the output depends on; the key is redacted.
        extra: further JSON-able facts (e.g. counts).
    """
    safe = redact(dict(config_slice))
    record: dict[str, Any] = {
        "rule": rule,
        "inputs": inputs,
        "config": {"slice": safe, "sha256": config_hash(safe)},
        "packages": package_versions(),
        "code": code_version(),
    }
    if extra:
        record["extra"] = dict(extra)
    return record
