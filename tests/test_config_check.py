"""check-config does not give false confidence: each mistake named with its key and fix, files
merged as Snakemake merges them, and every shipped configuration passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cardiolens.cli import main
from cardiolens.config import ConfigError, validate_config
from cardiolens.config_check import (
    class_problems,
    clinical_class_problems,
    merge_configfiles,
    network_problems,
    parse_time_problems,
    read_configfile,
    study_path_problems,
    yaml_number,
)
from conftest import REPO, SHARED_DATA

#: Every file in config/ meant to be given with --configfile (config.yaml is the Snakefile's own).
OVERLAYS = sorted(str(p.relative_to(REPO)) for p in (REPO / "config").rglob("*.yaml") if p != REPO / "config/config.yaml")
ACDC = SHARED_DATA / "acdc/training"  # where config/acdc.yaml points (../shared/data/acdc/training)
NEEDS_ACDC = [pytest.mark.realdata,
              pytest.mark.skipif(not ACDC.is_dir(), reason=f"ACDC not found at {ACDC}: its input path would (rightly) be reported")]


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check-config", *argv])
    return code, capsys.readouterr().out


# --- YAML 1.1 slips and misspelt keys, at every validation (Snakemake parse included) -----------


@pytest.mark.parametrize("text, fixed", [("1e-4", "1.0e-4"), ("1e4", "1.0e+4"), ("2.5E3", "2.5e+3"), ("-3e2", "-3.0e+2")])
def test_yaml_number_is_read_as_a_float_by_yaml_1_1(text, fixed):
    assert yaml.safe_load(f"x: {text}")["x"] == text  # the trap: text, not a number
    assert yaml_number(text) == fixed
    assert yaml.safe_load(f"x: {fixed}")["x"] == float(text)


@pytest.mark.parametrize("text", ["0.001", "abc", "1", ".5"])
def test_yaml_number_leaves_other_text_alone(text):
    assert yaml_number(text) is None


def _errors(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(yaml.safe_load(text))
    return str(err.value)


def test_exponent_without_dot_names_the_key_and_the_yaml_fix():
    msg = _errors("studies: {septal_flash: {train: {lr: 1e-4}}}")
    assert "config key 'studies.septal_flash.train.lr'" in msg and "write 1.0e-4 (YAML 1.1 reads 1e-4 as text)" in msg


def test_quoted_number_and_quoted_integer_say_without_quotes():
    assert "write 0.001 without quotes" in _errors("studies: {septal_flash: {train: {lr: '0.001'}}}")
    assert "write 8 (an integer, without quotes)" in _errors("studies: {septal_flash: {train: {batch_size: '8'}}}")


def test_unquoted_number_classes_say_quote_them():
    """A 0/1 label written `classes: [1, 0]`: YAML reads numbers, the clinical table's values are text."""
    msg = _errors("studies: {septal_flash: {classes: [1, 010]}}")
    assert "config key 'studies.septal_flash.classes[0]': 1 is not of type 'string'; put the value in quotes exactly" in msg
    assert "YAML read it as the number 8)" in msg   # 010 is octal to YAML 1.1: the hint must not suggest '8'
    assert "'8'" not in msg


def test_unquoted_no_where_text_is_expected_says_quote_it():
    msg = _errors("stats: {table1: {summary: no}}")  # 'no' is read as false
    assert "config key 'stats.table1.summary'" in msg and "put the text in quotes" in msg
    assert "is not one of" not in msg  # the enum error of the same key adds nothing: one line per key


@pytest.mark.parametrize("typo", ["netwrok", "Network"])
def test_unknown_key_close_to_a_known_one_says_which(typo):
    msg = _errors(f"studies: {{septal_flash: {{train: {{{typo}: gapcnn}}}}}}")
    assert f"config key 'studies.septal_flash.train.{typo}': unknown key (did you mean 'network'?)" in msg


def test_misspelt_predefined_study_says_which():
    msg = _errors("studies: {cardiomyopaty: {enabled: false}}")
    assert "config key 'studies.cardiomyopaty'" in msg and "did you mean the predefined study 'cardiomyopathy'?" in msg


# --- class names --------------------------------------------------------------------------------


def test_class_typo_names_the_key_the_label_values_and_the_close_class():
    cfg = validate_config({"studies": {"cardiomyopathy": {"classes": ["NOR", "HCM", "DCN"]}}})
    assert class_problems(cfg) == [
        "config key 'studies.cardiomyopathy.classes': 'DCN' is not a class of label 'cardiomyopathy' "
        "in this run's sources (its values: ['NOR', 'HCM', 'DCM']); did you mean 'DCM'?"]
    assert parse_time_problems(cfg) == class_problems(cfg)  # Snakemake stops on it at parse time


def test_class_check_knows_the_values_each_source_declares():
    """The values come from the run's sources, not from a list per study: ACDC's Info.cfg groups
    include MINF and RV, which the synthetic cohort never generates."""
    acdc = {"name": "acdc", "adapter": "acdc", "path": "/nonexistent"}
    five = ["NOR", "HCM", "DCM", "MINF", "RV"]
    cfg = validate_config({"cohort": {"source": "inputs"}, "inputs": [acdc], "studies": {"cardiomyopathy": {"classes": five}}})
    assert class_problems(cfg) == []
    cfg = validate_config({"studies": {"cardiomyopathy": {"classes": five}}})  # the synthetic cohort alone
    assert [p.split(":")[1].split(" is")[0].strip() for p in class_problems(cfg)] == ["'MINF'", "'RV'"]
    both = validate_config({"inputs": [acdc], "studies": {"cardiomyopathy": {"classes": ["NOR", "DCN"]}}})
    assert class_problems(both) == [
        "config key 'studies.cardiomyopathy.classes': 'DCN' is not a class of label 'cardiomyopathy' "
        "in this run's sources (its values: ['NOR', 'HCM', 'DCM', 'MINF', 'RV']); did you mean 'DCM'?"]


def test_class_check_skips_disabled_studies_and_knows_quality_grades():
    cfg = validate_config({"studies": {"cardiomyopathy": {"enabled": False, "classes": ["NOR", "DCN"]},
                                       "regional_quality": {"classes": ["Good", "Poor"]}}})
    assert class_problems(cfg) == []


def _csv_config(tmp_path: Path, csv: str, adapter: str = "dicom", **study: object) -> dict:
    (tmp_path / "export").mkdir(exist_ok=True)
    (tmp_path / "export" / "a.dcm").write_bytes(b"x")
    clinical = {"path": _write(tmp_path / "clinical.csv", csv), "columns": {"cardiomyopathy": "Diagnosis"}}
    return validate_config({
        "cohort": {"source": "inputs"},
        "inputs": [{"name": "site_a", "adapter": adapter, "path": str(tmp_path / "export"), "clinical": clinical}],
        "studies": {"septal_flash": {"enabled": False}, "takotsubo_stemi": {"enabled": False},
                    "regional_quality": {"enabled": False}, "cardiomyopathy": study},
    })


def test_a_class_no_clinical_table_holds_names_the_values_found(tmp_path):
    cfg = _csv_config(tmp_path, "PatientID,Diagnosis\np1,NOR\np2,HCM\np3,\n", classes=["NOR", "HCM", "DCM"])
    (problem,) = clinical_class_problems(cfg)
    assert problem.startswith("config key 'studies.cardiomyopathy.classes': no data has class 'DCM'")
    assert "hold ['HCM', 'NOR']" in problem and "drop it from the classes" in problem
    cfg = _csv_config(tmp_path, "PatientID,Diagnosis\np1,NOR\np2,HCM\np3,DCM\n", classes=["NOR", "HCM", "DCM"])
    assert clinical_class_problems(cfg) == []


def test_a_study_no_clinical_table_labels_is_found(tmp_path):
    cfg = _csv_config(tmp_path, "PatientID,Sex\np1,F\n")
    (problem,) = clinical_class_problems(cfg)
    assert problem.startswith("config key 'studies.cardiomyopathy.label': no source gives label 'cardiomyopathy'")


def test_clinical_values_unknown_before_ingest_are_not_judged(tmp_path):
    # ACDC reads the group from Info.cfg and no clinical table: a table there is refused outright
    # (tests/test_config.py), not judged by its values.
    with pytest.raises(ConfigError, match="joined by the dicom adapter only"):
        _csv_config(tmp_path, "PatientID,Diagnosis\np1,NOR\n", adapter="acdc", classes=["NOR", "DCM"])
    # Nor with the synthetic cohort, whose table the run generates.
    cfg = _csv_config(tmp_path, "PatientID,Diagnosis\np1,NOR\n", classes=["NOR", "DCM"])
    cfg["cohort"]["source"] = "synthetic"
    assert clinical_class_problems(cfg) == []


def test_a_malformed_clinical_table_is_a_problem_of_its_key(tmp_path):
    cfg = _csv_config(tmp_path, "PatientID,Diagnosis\np1,DCM\np1,NOR\n")
    (problem,) = clinical_class_problems(cfg)
    assert problem.startswith("config key 'inputs[0].clinical.path':") and "PatientID repeated in rows [3]" in problem


def test_label_values_are_the_tables_text_and_classes_are_checked_against_them(tmp_path):
    # No class list in code: a hospital that writes 'Dilated' has that value; the study's classes must match it.
    cfg = _csv_config(tmp_path, "PatientID,Diagnosis\np1,Dilated\np2,NOR\n", classes=["NOR", "DCM"])
    (problem,) = clinical_class_problems(cfg)
    assert "'studies.cardiomyopathy.classes': no data has class 'DCM'" in problem and "['Dilated', 'NOR']" in problem


# --- paths and networks -------------------------------------------------------------------------


def test_missing_pretrained_weights_and_anchor(tmp_path):
    cfg = validate_config({"studies": {"septal_flash": {"train": {"pretrained": str(tmp_path / "w.pt")},
                                                        "split": {"anchor": str(tmp_path / "splits.parquet")}}}})
    problems = study_path_problems(cfg)
    assert [p.split(":")[0] for p in problems] == ["config key 'studies.septal_flash.train.pretrained'",
                                                  "config key 'studies.septal_flash.split.anchor'"]


def _only(study: str, **block: object) -> dict:
    off = {s: {"enabled": False} for s in ("septal_flash", "cardiomyopathy", "takotsubo_stemi", "regional_quality")}
    return validate_config({"studies": {**off, study: block}})


def test_inherited_network_params_of_another_network_name_the_reset():
    # config.yaml's septal_flash: gapcnn with strides; switching the network keeps the strides.
    cfg = _only("septal_flash", train={"network": "densenet121", "network_params": {"strides": [1, 2, 1, 2, 1, [1, 2]]}})
    (problem,) = network_problems(cfg)
    assert problem.startswith("config key 'studies.septal_flash.train.network_params': densenet121 rejects "
                              "{'strides': [1, 2, 1, 2, 1, [1, 2]]}: ")
    assert "'strides'" in problem.split(": ", 2)[2] and "`network_params: null`" in problem
    assert network_problems(_only("septal_flash", train={"network": "densenet121", "network_params": None})) == []


def test_an_input_too_small_for_the_network_names_the_size_key():
    # DenseNet121 halves the input five times: 16 px leaves nothing for its last pooling; 32 px runs.
    cfg = _only("septal_flash", mmode={"size": [16, 16]}, train={"network": "densenet121", "network_params": None})
    (problem,) = network_problems(cfg)
    assert problem.startswith("config key 'studies.septal_flash.train.network': densenet121 does not run on "
                              "the study's input [1, 16, 16]")
    assert "studies.septal_flash.mmode.size" in problem


def test_dual_input_needs_the_ed_and_es_frames():
    (problem,) = network_problems(_only("septal_flash", train={"dual_input": True}))
    assert problem.startswith("config key 'studies.septal_flash.train.dual_input': the ED and ES branches need")


def test_dual_input_and_clip_networks_run():
    assert network_problems(_only("cardiomyopathy", frames={"crop_px": 32})) == []
    assert network_problems(_only("takotsubo_stemi", clip={"frames": 16, "size": [32, 32]})) == []


# --- merging files as Snakemake does ------------------------------------------------------------


def test_merge_is_nested_later_wins_lists_and_null_replace_empty_mapping_keeps():
    default = {"a": {"b": 1, "c": [1, 2], "d": {"e": 1}, "f": {"g": 1}}, "h": 1}
    merged = merge_configfiles(default, [{"a": {"b": 2, "c": [3]}}, {"a": {"b": 3, "d": None, "f": {}}}])
    assert merged == {"a": {"b": 3, "c": [3], "d": None, "f": {"g": 1}}, "h": 1}
    assert merge_configfiles(None, [{"a": 1}]) == {"a": 1}


def test_merge_equals_snakemakes_own(tmp_path):
    """The config a Snakefile with `configfile:` sees under `snakemake --configfile A B` (a dry run
    of a one-rule workflow that writes it)."""
    (tmp_path / "config").mkdir()
    default = {"x": {"y": 1, "z": [1], "w": {"v": 1}}, "u": "default", "t": {"s": 1}}
    a = {"x": {"y": 2, "w": {}}, "t": None, "new": {"k": 1}}
    b = {"x": {"z": [2, 3]}, "u": "b", "new": {"k": 2, "j": 3}}
    for name, content in (("config/config.yaml", default), ("a.yaml", a), ("b.yaml", b)):
        _write(tmp_path / name, yaml.safe_dump(content))
    _write(tmp_path / "Snakefile", 'import json\nconfigfile: "config/config.yaml"\n'
           'open("seen.json", "w").write(json.dumps(config))\nrule all:\n    input: []\n')
    subprocess.run([sys.executable, "-m", "snakemake", "-n", "-q", "--workflow-profile", "none", "--configfile",
                    "a.yaml", "b.yaml"], cwd=tmp_path, check=True, capture_output=True)
    seen = json.loads((tmp_path / "seen.json").read_text())
    layers = [read_configfile(tmp_path / f) for f in ("a.yaml", "b.yaml")]
    assert merge_configfiles(read_configfile(tmp_path / "config/config.yaml"), layers) == seen


# --- the command ---------------------------------------------------------------------------------


def test_check_config_of_two_files_checks_their_merge(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # config/config.yaml below them, as the Snakefile loads it
    a = _write(tmp_path / "a.yaml", "studies: {septal_flash: {train: {network: densenet121, network_params: null, lr: 1e-4}}}\n")
    b = _write(tmp_path / "b.yaml", "studies: {septal_flash: {train: {lr: 1.0e-4}}}\n")
    code, out = _check(capsys, a)
    assert code == 1 and f"write 1.0e-4 (YAML 1.1 reads 1e-4 as text) (from {a})" in out
    code, out = _check(capsys, a, b)  # b's learning rate overrides a's
    assert code == 0 and f"config/config.yaml + {a} + {b}: OK" in out and "study septal_flash (" in out
    # A 16 px M-mode suits GapCNN (b alone) and DenseNet121 runs on 64 px (a and b), but not both.
    small = _write(tmp_path / "small.yaml", "studies: {septal_flash: {mmode: {size: [16, 16]}}}\n")
    assert _check(capsys, small)[0] == 0
    code, out = _check(capsys, a, b, small)
    assert code == 1 and "config key 'studies.septal_flash.train.network': densenet121 does not run" in out
    assert out.splitlines()[-1] == f"cardiolens check-config: 1 problem in config/config.yaml + {a} + {b} + {small}"


def test_check_config_reports_each_mistake_on_its_own_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    own = _write(tmp_path / "own.yaml", f"""
cohort: {{source: inputs}}
inputs: [{{name: site_a, adapter: dicom, path: {tmp_path / 'missing'}}}]
studies:
  cardiomyopathy: {{classes: [NOR, HCM, DCN]}}
  septal_flash: {{train: {{network: densenet121}}}}
""")
    monkeypatch.setenv("CARDIOLENS_PSEUDONYM_KEY", "a-secret-for-the-test-0123456789abcdef")  # real inputs refuse the demo key
    code, out = _check(capsys, own)
    lines = out.splitlines()
    assert code == 1 and lines[-1] == f"cardiolens check-config: 5 problems in config/config.yaml + {own}"
    assert lines[0].startswith("config key 'inputs[0].path': folder") and lines[0].endswith(f"(from {own})")
    # A DICOM export without a clinical table labels nothing: each enabled clinical-label study says so
    # (the values a source declares are what classes are checked against: here there are none, so
    # DCN is not judged; with a clinical table or ACDC it is, see the class tests above).
    assert [line.split("'")[1] for line in lines[1:4]] == [f"studies.{s}.label" for s in
                                                           ("cardiomyopathy", "septal_flash", "takotsubo_stemi")]
    # The strides come from config.yaml: the line says so.
    assert lines[4].startswith("config key 'studies.septal_flash.train.network_params'")
    assert lines[4].endswith("(from config/config.yaml)")


def test_check_config_without_the_key_for_real_inputs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("CARDIOLENS_PSEUDONYM_KEY", raising=False)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "a.dcm").write_bytes(b"x")
    own = _write(tmp_path / "own.yaml", f"inputs: [{{name: site_a, adapter: dicom, path: {tmp_path / 'export'}}}]\n")
    code, out = _check(capsys, own, "--no-networks")
    assert code == 1 and "config key 'privacy.key': the published demo key" in out


def test_unreadable_file_is_a_problem(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    bad = _write(tmp_path / "bad.yaml", "studies: [unclosed\n")
    code, out = _check(capsys, bad, str(tmp_path / "absent.yaml"))
    assert code == 1 and out.count("\n") == 3 and str(bad) in out and "absent.yaml" in out


def test_default_configuration_passes(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code, out = _check(capsys)
    assert code == 0 and out.startswith("cardiolens check-config: config/config.yaml: OK")
    assert "sources: synthetic" in out and "study septal_flash (septal_flash, classes ['flash', 'none']; mmode 1x64x64; gapcnn)" in out


def test_tiny_configuration_passes_in_its_directory(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code, out = _check(capsys, "--directory", ".test")  # as `snakemake --directory .test`
    assert code == 0 and out.startswith("cardiolens check-config: .test/config/config.yaml: OK")


@pytest.mark.parametrize("overlay", [pytest.param(f, marks=NEEDS_ACDC if f == "config/acdc.yaml" else []) for f in OVERLAYS])
def test_every_shipped_configfile_passes_over_the_default(overlay, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("CARDIOLENS_PSEUDONYM_KEY", "a-secret-for-the-test-0123456789abcdef")  # real inputs refuse the demo key
    code, out = _check(capsys, overlay)
    assert code == 0, out


@pytest.mark.realdata
@pytest.mark.skipif(not ACDC.is_dir(), reason=f"ACDC not found at {ACDC}")
def test_the_paper_files_combine_with_the_data_file(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("CARDIOLENS_PSEUDONYM_KEY", "a-secret-for-the-test-0123456789abcdef")
    code, out = _check(capsys, "config/acdc.yaml", "config/paper/cardiomyopathy.yaml")
    assert code == 0 and "frames 2x128x128; vgg dual-input" in out
