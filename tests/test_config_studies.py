"""The studies the shipped configuration files give, once validated, are pinned.

``tests/data/validated_studies.json`` holds, per combination of configuration files as they are
used (``--configfile`` over ``config/config.yaml``; ``.test`` on its own as ``--directory .test``
uses it), the sha256 of every validated study and a few of its keys; for the default run it holds
the whole ``studies`` mapping. Rewriting how the files are written (``study_defaults``) must leave
all of them unchanged; keys added to a study since the fixture was written are compared only when
they differ from their default, which changes nothing (:data:`ADDED`). After an intended change of the configuration, rewrite the fixture with
``python tests/test_config_studies.py --write`` and review its diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "data" / "validated_studies.json"
DEFAULT = "config/config.yaml"
#: (default configfile, --configfile files), as the runs and the docs use them.
COMBINATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": (DEFAULT, ()),
    "test_over_default": (DEFAULT, (".test/config/config.yaml",)),
    "test_directory": (".test/config/config.yaml", ()),
    "acdc": (DEFAULT, ("config/acdc.yaml",)),
    "acdc_paper": (DEFAULT, ("config/acdc.yaml", "config/paper/cardiomyopathy.yaml")),
    "shortcut": (DEFAULT, ("config/shortcut.yaml",)),
    "cropped": (DEFAULT, ("config/cropped.yaml",)),
    "paper_septal_flash": (DEFAULT, ("config/paper/septal_flash.yaml",)),
    "paper_cardiomyopathy": (DEFAULT, ("config/paper/cardiomyopathy.yaml",)),
}
#: Study keys added after the fixture was written, with the default that leaves a study as it was.
ADDED: dict[tuple[str, ...], Any] = {("views",): None, ("sources",): None, ("where",): None,
                                     ("split", "test_sources"): None, ("split", "column"): "split"}
#: Keys shown beside each study's hash, so a failing comparison says where to look.
SHOWN = (("label",), ("representation",), ("split", "scheme"), ("train", "network"), ("train", "epochs"))


def validated_studies(default: str, overrides: tuple[str, ...]) -> dict[str, Any]:
    """The ``studies`` of the validated configuration Snakemake would build from these files."""
    from cardiolens.config import validate_config
    from cardiolens.config_check import merge_configfiles, read_configfile

    merged = merge_configfiles(read_configfile(REPO / default), [read_configfile(REPO / f) for f in overrides])
    return {name: without_added(study) for name, study in validate_config(merged)["studies"].items()}


def without_added(study: dict[str, Any]) -> dict[str, Any]:
    """``study`` without the :data:`ADDED` keys that hold their default (a key set otherwise stays)."""
    out = json.loads(json.dumps(study))
    for path, default in ADDED.items():
        parent = out
        for part in path[:-1]:
            parent = parent.get(part, {})
        if path[-1] in parent and parent[path[-1]] == default:
            del parent[path[-1]]
    return out


def fingerprint(studies: dict[str, Any]) -> dict[str, Any]:
    """Per study: its config hash and the :data:`SHOWN` keys."""
    from cardiolens.config import config_hash

    out = {}
    for name, study in sorted(studies.items()):
        shown = {}
        for path in SHOWN:
            node: Any = study
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            shown[".".join(path)] = node
        out[name] = {"sha256": config_hash(study), **shown}
    return out


def current() -> dict[str, Any]:
    """The fixture's content computed from the configuration files as they are now."""
    out: dict[str, Any] = {name: fingerprint(validated_studies(*combo)) for name, combo in COMBINATIONS.items()}
    out["default_studies"] = json.loads(json.dumps(validated_studies(*COMBINATIONS["default"]), sort_keys=True))
    return out


@pytest.fixture(scope="module")
def pinned() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_default_studies_are_unchanged(pinned):
    assert json.loads(json.dumps(validated_studies(*COMBINATIONS["default"]), sort_keys=True)) == pinned["default_studies"]


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_validated_studies_are_unchanged(combination, pinned):
    assert fingerprint(validated_studies(*COMBINATIONS[combination])) == pinned[combination]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_config_studies.py --write")
    FIXTURE.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
