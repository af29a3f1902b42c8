"""The conda environments the rules reference agree with pyproject.toml (issue 10, item 1)."""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO


def _pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for r in requirements:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", r)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_every_rule_uses_an_existing_env_that_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = _pins(project["dependencies"])
    rules = sorted((REPO / "workflow" / "rules").glob("*.smk"))
    referenced = set()
    for smk in rules:
        text = smk.read_text()
        n_rules = len(re.findall(r"^rule \w+:", text, flags=re.M))
        envs = re.findall(r'conda:\s*\n\s*"([^"]+)"', text)
        if smk.name != "common.smk":
            assert len(envs) == n_rules, f"{smk.name}: {n_rules} rules, {len(envs)} conda directives"
        referenced |= {(smk.parent / e).resolve() for e in envs}
    assert referenced, "no rule references a conda environment"
    for env_path in referenced:
        assert env_path.is_file(), env_path
        env = yaml.safe_load(env_path.read_text())
        deps = env["dependencies"]
        python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
        assert python == "python=3.11", python  # pyproject: requires-python >=3.11,<3.12
        pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
        # The environment installs this checkout (so every pin of pyproject applies) ...
        assert any(p.startswith("-e ") and (env_path.parent / p[3:]).resolve() == REPO for p in pip), pip
        # ... and what it pins itself must be pyproject's pin (torch: the exact CPU build).
        for name, version in _pins(pip).items():
            assert pins.get(name) == version, f"{env_path.name}: {name}=={version}, pyproject says {pins.get(name)}"
        assert _pins(pip).get("torch") == pins["torch"] == "2.13.0"


def test_every_rule_declares_threads_memory_runtime_and_gpus():
    """A cluster scheduler sizes jobs from these; a rule without them gets the site's defaults."""
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        blocks = re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M)[1:]
        for block in blocks:
            name = re.match(r"rule (\w+):", block).group(1)
            assert re.search(r"^    threads:", block, flags=re.M), f"{smk.name}:{name} has no threads"
            assert "mem_mb=" in block and "runtime=" in block, f"{smk.name}:{name} lacks mem_mb or runtime"
            assert re.search(r"^        gpu=", block, flags=re.M), f"{smk.name}:{name} does not say how many GPUs it needs"
