"""The manual: it builds strictly, its reference pages are generated from the code, and the README
stays one screen whose links into docs/ resolve."""

from __future__ import annotations

import copy
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cardiolens.reference import config_reference, load_config_schema, table_reference
from conftest import REPO

README = REPO / "README.md"
README_MAX_LINES = 120


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs and mkdocs-material are not installed (pip install -e '.[test]' installs them)")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    cmd = [str(mkdocs)] if mkdocs.exists() else [sys.executable, "-m", "mkdocs"]
    proc = subprocess.run(
        [*cmd, "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    page = (tmp_path / "site" / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "cardiolens:config-reference" not in page and "studies.&lt;name&gt;.train.lr" in page
    assert "<code>patient_key</code>" in (tmp_path / "site" / "tables" / "index.html").read_text(encoding="utf-8")
    assert not (tmp_path / "site" / "hooks.py").exists()


def test_readme_fits_one_screen() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the limit is {README_MAX_LINES}"


def test_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[2] == "```bash" and lines[5] == "```"
    assert lines[3].endswith("&& .venv/bin/snakemake --report results/report.html")
    assert lines[4].endswith(".venv/bin/pytest")


def test_missing_description_names_the_dotted_key() -> None:
    schema = copy.deepcopy(load_config_schema())
    del schema["properties"]["cohort"]["properties"]["synthetic"]["properties"]["echo"]["properties"]["rows"]["description"]
    with pytest.raises(ValueError, match=r"'cohort\.synthetic\.echo\.rows'"):
        config_reference(schema)


def test_missing_description_in_a_definition_names_the_generic_path() -> None:
    schema = copy.deepcopy(load_config_schema())
    schema["$defs"]["study"]["properties"]["train"]["properties"]["lr"]["description"] = "  "
    with pytest.raises(ValueError, match=r"'studies\.<name>\.train\.lr'"):
        config_reference(schema)


def test_description_cut_by_a_yaml_comma_is_caught() -> None:
    schema = copy.deepcopy(load_config_schema())
    schema["properties"]["seed"]["and the rest."] = None  # `{description: a, and the rest.}` parses so
    with pytest.raises(ValueError, match=r"'seed' has 'and the rest\.'"):
        config_reference(schema)


def test_references_generate_from_the_real_schema_and_registry() -> None:
    from cardiolens.tables.registry import ALL

    config = config_reference(load_config_schema())
    for key in ("`seed`", "`studies`", "`inputs[].adapter`", "`studies.<name>.train.network`", "`privacy.key_env`"):
        assert key in config, key
    assert "`20261122`" in config  # the seed's default
    tables = table_reference(ALL)
    for name in ALL:
        assert f"## `{name}`" in tables, name
    for column in ("`patient_key`", "`recording_id`", "`reason`"):
        assert column in tables, column


def test_config_reference_renders_refs_enums_and_patterns() -> None:
    schema = {
        "$defs": {"thing": {"type": "object", "description": "A thing.", "required": ["size"],
                            "properties": {"size": {"type": "integer", "minimum": 1, "default": 2, "description": "Size."}}}},
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": ["a", "b"], "default": "a", "description": "Mode | kind."},
            "things": {"type": "object", "default": {}, "description": "Things by name.",
                       "propertyNames": {"pattern": "^[a-z]+$"}, "additionalProperties": {"$ref": "#/$defs/thing"}},
            "either": {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^x"}], "description": "Either."},
        },
    }
    text = config_reference(schema)
    assert "| `mode` | string | `a` | one of `a`, `b` | Mode \\| kind. |" in text
    assert "| `things.<name>` | [thing](#def-thing) |" in text
    assert "## `things.<name>` {#def-thing}" in text and "| `things.<name>.size` | integer | `2` | required; ≥ 1 | Size. |" in text
    assert "| `either` | integer or string |" in text and "exactly one of: anything; matches `^x`" in text


def test_readme_links_into_docs_exist() -> None:
    text = README.read_text(encoding="utf-8")
    # Links and images (the figure is committed; docs/img/make_overview.py redraws it from a run).
    targets = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text)
    internal = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t)]
    into_docs = [t for t in internal if t.startswith("docs/")]
    assert into_docs, "README.md links to no docs page"
    missing = [t for t in internal if not (REPO / t).exists()]
    assert missing == [], f"README.md links to missing files: {missing}"
