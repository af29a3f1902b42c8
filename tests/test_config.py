"""Configuration schema: defaults, descriptions, and errors that name the key and allowed values."""

from __future__ import annotations

import pytest
import yaml

from cardiolens.config import DEMO_KEY, ConfigError, load_config, load_schema, redact, resolve_key, sources, validate_config
from conftest import REPO


def _walk(schema, path=""):
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}{name}", sub
        yield from _walk(sub, f"{path}{name}.")
        if "items" in sub and isinstance(sub["items"], dict):
            yield from _walk(sub["items"], f"{path}{name}[].")
    for pattern, sub in schema.get("patternProperties", {}).items():
        yield from _walk(sub, f"{path}<{pattern}>.")


def test_every_schema_key_has_description_and_default():
    missing = [p for p, sub in _walk(load_schema()) if "description" not in sub or "default" not in sub]
    assert missing == []


def test_default_config_file_is_valid_and_equals_schema_defaults():
    from_file = load_config(REPO / "config" / "config.yaml")
    from_schema = validate_config({"privacy": {"key": DEMO_KEY}})
    assert from_file == from_schema


def test_config_comments_cover_every_top_level_key():
    text = (REPO / "config" / "config.yaml").read_text()
    assert set(yaml.safe_load(text)) == set(load_schema()["properties"])


def test_bad_enum_names_key_and_allowed_values():
    with pytest.raises(ConfigError) as err:
        validate_config({"cohort": {"source": "hospital"}})
    msg = str(err.value)
    assert "cohort.source" in msg and "'hospital'" in msg and "['synthetic', 'inputs']" in msg


def test_unknown_key_names_key_and_allowed_keys():
    with pytest.raises(ConfigError) as err:
        validate_config({"cohort": {"synthetic": {"echo": {"rowz": 3}}}})
    msg = str(err.value)
    assert "cohort.synthetic.echo" in msg and "rowz" in msg and "'rows'" in msg


def test_wrong_type_and_range_name_the_key():
    with pytest.raises(ConfigError, match=r"cohort\.synthetic\.label_noise"):
        validate_config({"cohort": {"synthetic": {"label_noise": 0.9}}})
    with pytest.raises(ConfigError, match=r"inputs\[0\]\.adapter.*'dicom'"):
        validate_config({"inputs": [{"name": "site_a", "adapter": "pacs", "path": "/x"}]})


def test_reserved_and_duplicate_source_names():
    with pytest.raises(ConfigError, match="reserved"):
        validate_config({"inputs": [{"name": "synthetic", "adapter": "dicom", "path": "/x"}]})
    with pytest.raises(ConfigError, match="unique"):
        validate_config({"inputs": [{"name": "aa", "adapter": "dicom", "path": "/x"}, {"name": "aa", "adapter": "dicom", "path": "/y"}]})


def test_a_clinical_table_that_would_be_ignored_is_refused():
    """A CSV on an ACDC input (its adapter reads Info.cfg, not the CSV) and a mapped name that a
    recordings column already holds (the empty ``split`` column would win) stop the parse."""
    csv = {"path": "labels.csv", "id_column": "PatientID"}
    with pytest.raises(ConfigError, match=r"inputs\[0\]\.clinical': a clinical table is joined by the dicom adapter only"):
        validate_config({"inputs": [{"name": "hosp", "adapter": "acdc", "path": ".", "clinical": {**csv, "columns": {"amyloid": "A"}}}]})
    with pytest.raises(ConfigError, match=r"inputs\[0\]\.clinical\.columns': \['split', 'view'\] already name columns"):
        validate_config({"inputs": [{"name": "hosp", "adapter": "dicom", "path": ".",
                                     "clinical": {**csv, "columns": {"split": "Cohort", "view": "V", "amyloid": "A"}}}]})
    validate_config({"inputs": [{"name": "hosp", "adapter": "dicom", "path": ".", "clinical": {**csv, "columns": {"amyloid": "A"}}}]})


def test_a_class_listed_twice_is_refused():
    with pytest.raises(ConfigError, match=r"studies\.amyloid\.classes': \['yes', 'yes'\] has non-unique elements"):
        validate_config({"studies": {"amyloid": {"label": "septal_flash", "representation": "mmode", "classes": ["yes", "yes"]}}})


def test_sources_lists_synthetic_then_inputs():
    cfg = validate_config({"inputs": [{"name": "site_a", "adapter": "dicom", "path": "/data/a"}]})
    assert [s["name"] for s in sources(cfg)] == ["synthetic", "site_a"]
    cfg = validate_config({"cohort": {"source": "inputs"}, "inputs": [{"name": "site_a", "adapter": "dicom", "path": "/data/a"}]})
    assert [s["name"] for s in sources(cfg)] == ["site_a"]


def test_demo_key_refused_for_real_inputs(monkeypatch):
    monkeypatch.delenv("CARDIOLENS_PSEUDONYM_KEY", raising=False)
    cfg = validate_config({"privacy": {"key": DEMO_KEY}})
    assert resolve_key(cfg, synthetic_only=True) == DEMO_KEY.encode()
    with pytest.raises(ConfigError, match="demo key"):
        resolve_key(cfg, synthetic_only=False)
    secret = "s3cret-" + "x" * 25  # 32 characters
    monkeypatch.setenv("CARDIOLENS_PSEUDONYM_KEY", secret)
    assert resolve_key(cfg, synthetic_only=False) == secret.encode()


def test_short_real_data_key_is_refused_with_the_rule_and_where_it_came_from(monkeypatch):
    monkeypatch.setenv("CARDIOLENS_PSEUDONYM_KEY", "x" * 31)
    cfg = validate_config({})
    with pytest.raises(ConfigError, match=r"environment variable CARDIOLENS_PSEUDONYM_KEY: .* 31 characters; .* at least 32"):
        resolve_key(cfg, synthetic_only=False)
    assert resolve_key(cfg, synthetic_only=True) == b"x" * 31  # the synthetic cohort holds no real patient
    monkeypatch.delenv("CARDIOLENS_PSEUDONYM_KEY")
    with pytest.raises(ConfigError, match=r"config key 'privacy.key': .* 5 characters; .* at least 32"):
        resolve_key(validate_config({"privacy": {"key": "short"}}), synthetic_only=False)
    assert resolve_key(validate_config({"privacy": {"key": "k" * 32}}), synthetic_only=False) == b"k" * 32


def test_private_dir_defaults_outside_results_and_is_refused_under_it():
    assert validate_config({})["privacy"]["private_dir"] == "private"
    with pytest.raises(ConfigError, match="privacy.private_dir"):
        validate_config({"privacy": {"private_dir": "results/private"}})


def test_missing_key_is_an_error(monkeypatch):
    monkeypatch.delenv("CARDIOLENS_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ConfigError, match="CARDIOLENS_PSEUDONYM_KEY"):
        resolve_key(validate_config({}), synthetic_only=True)


def test_redact_removes_the_key():
    cfg = validate_config({"privacy": {"key": "abc"}})
    assert "key" not in redact(cfg)["privacy"] and cfg["privacy"]["key"] == "abc"


def test_a_predefined_study_can_be_switched_off_alone():
    cfg = validate_config({"studies": {"septal_flash": {"enabled": False}, "cardiomyopathy": {"split": {"k": 3}}}})
    assert cfg["studies"]["septal_flash"]["enabled"] is False and cfg["studies"]["septal_flash"]["representation"] == "mmode"
    assert cfg["studies"]["cardiomyopathy"]["split"]["scheme"] == "kfold" and cfg["studies"]["cardiomyopathy"]["split"]["k"] == 3
    with pytest.raises(ConfigError, match="studies.my_study.*'label' is a required property"):
        validate_config({"studies": {"my_study": {"representation": "clip"}}})


@pytest.mark.parametrize("overlay", ["acdc.yaml", "cropped.yaml", "shortcut.yaml", "paper/septal_flash.yaml", "paper/cardiomyopathy.yaml"])
def test_shipped_config_files_validate_over_the_default_and_build_their_networks(overlay):
    """Each shipped --configfile, merged over config.yaml the way Snakemake merges (nested keys),
    is valid, and every enabled study's network builds for that study's sample shape
    (tests/test_config_check.py runs the whole of `cardiolens check-config` on them)."""
    from snakemake.utils import update_config

    from cardiolens.prepare.shapes import input_shape
    from cardiolens.train.run import make_network

    merged = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(merged, yaml.safe_load((REPO / "config" / overlay).read_text()))
    cfg = validate_config(merged)
    enabled = {n: s for n, s in cfg["studies"].items() if s["enabled"]}
    assert enabled
    for name, study in enabled.items():
        classes = len(study["classes"] or []) or 2
        make_network(study["train"], input_shape(study), classes, study["representation"])
