"""Studies as configuration: study_defaults, and the selection keys sources, views and where."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from cardiolens.config import ConfigError, validate_config
from cardiolens.prepare.run import study_slice
from cardiolens.prepare.select import condition_mask, select_recordings

INPUT = {"name": "hospital_b", "adapter": "dicom", "path": "/nonexistent"}


def _recordings() -> pd.DataFrame:
    return pd.DataFrame({
        "recording_id": ["r1", "r2", "r3", "r4", "r5"],
        "source": ["synthetic", "synthetic", "hospital_b", "hospital_b", "synthetic"],
        "view": ["A4C", "A2C", "A4C", "A4C", "A4C"],
        "quality": ["Good", "Poor", "Medium", None, "Good"],
        "heart_rate_bpm": [60.0, 70.0, 110.0, 80.0, None],
    })


def test_selection_filters_in_order_and_counts_each():
    study = {"sources": ["synthetic"], "views": ["A4C"], "where": {"quality": ["Good", "Medium"], "heart_rate_bpm": {"max": 100}}}
    kept, counts = select_recordings(_recordings(), study)
    assert kept["recording_id"].tolist() == ["r1"]  # r5 has no heart rate: a missing value never passes
    assert [(before, after) for _, before, after in counts] == [(5, 3), (3, 2), (2, 2), (2, 1)]
    assert counts[0][0] == "sources ['synthetic']" and counts[3][0] == "where heart_rate_bpm {'max': 100}"


def test_no_selection_keeps_everything():
    kept, counts = select_recordings(_recordings(), {"sources": None, "views": None, "where": None})
    assert len(kept) == 5 and counts == []


@pytest.mark.parametrize(("condition", "expected"), [
    ({"min": 70}, [False, True, True, True, False]),
    ({"min": 70, "max": 80}, [False, True, False, True, False]),
    ([60.0, 110.0], [True, False, True, False, False]),
])
def test_where_conditions_are_inclusive_and_skip_missing(condition, expected):
    assert condition_mask(_recordings()["heart_rate_bpm"], condition).tolist() == expected


def _problems(study: dict, **extra) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config({"studies": {"septal_flash": study}, **extra})
    return str(err.value)


def test_selection_errors_name_the_key_and_what_exists():
    msg = _problems({"sources": ["hospital_c"]}, inputs=[INPUT])
    assert "studies.septal_flash.sources': 'hospital_c' is not a source" in msg and "['synthetic', 'hospital_b']" in msg
    msg = _problems({"where": {"qualty": ["Good"]}})
    assert "studies.septal_flash.where.qualty'" in msg and "did you mean 'quality'" in msg and "'heart_rate_bpm'" in msg
    assert "'Best' is not a value of 'quality'" in _problems({"where": {"quality": ["Best"]}})
    assert "min/max need a numeric column" in _problems({"where": {"view": {"min": 1}}})
    assert "views[0]': 'A5C' is not allowed" in _problems({"views": ["A5C"]})
    assert "expected the condition on one recordings column" in _problems({"where": {"quality": []}})


def test_selection_is_part_of_the_prepare_slice_only_when_set():
    plain = validate_config({})
    before = study_slice(plain, "septal_flash")
    assert not {"views", "sources", "where"} & set(before)
    chosen = validate_config({"inputs": [INPUT], "studies": {"septal_flash": {
        "views": ["A4C"], "sources": ["hospital_b"], "where": {"quality": ["Good"]}}}})
    after = study_slice(chosen, "septal_flash")
    assert after == {**before, "views": ["A4C"], "sources": ["hospital_b"], "where": {"quality": ["Good"]}}


def test_prepare_logs_each_filter_and_names_it_when_nothing_is_left(tmp_path, caplog):
    from cardiolens.prepare.samples import prepare_study, study_problem

    cfg = validate_config({"studies": {"septal_flash": {"views": ["PLAX"]}}})["studies"]["septal_flash"]
    recordings = _recordings().assign(septal_flash="flash", modality="US")
    with caplog.at_level(logging.INFO, logger="cardiolens.prepare.samples"):
        samples, skipped = prepare_study(recordings, "septal_flash", cfg, tmp_path)
    assert "views ['PLAX'] kept 0 of 5 recordings" in caplog.text
    assert "views ['PLAX']" in study_problem(recordings, samples, skipped, "septal_flash", cfg)


# --- study_defaults ---------------------------------------------------------------------------


def test_study_defaults_sit_under_predefined_settings_and_the_study_block():
    config = validate_config({
        "study_defaults": {"train": {"accelerator": "cpu", "epochs": 3, "network": "resnet18"}, "views": ["A4C"]},
        "studies": {"septal_flash": {"train": {"epochs": 7}}, "mine": {"label": "quality", "representation": "clip"}},
    })
    studies = config["studies"]
    assert "study_defaults" not in config  # applied: every study carries its own settings
    assert {n: s["train"]["accelerator"] for n, s in studies.items()} == dict.fromkeys(studies, "cpu")
    assert studies["septal_flash"]["train"]["epochs"] == 7           # the study's own block
    assert studies["septal_flash"]["train"]["network"] == "gapcnn"   # predefined settings over study_defaults
    assert studies["cardiomyopathy"]["train"]["epochs"] == 30        # predefined
    assert studies["mine"]["train"]["epochs"] == 3 and studies["mine"]["train"]["network"] == "resnet18"
    assert studies["mine"]["views"] == ["A4C"] and studies["mine"]["train"]["lr"] == 0.001  # schema default below all
    assert validate_config(config) == config  # a second validation changes nothing,
    raw_defaults = {"train": {"accelerator": "cpu", "epochs": 3, "network": "resnet18"}, "views": ["A4C"]}
    assert validate_config({**config, "study_defaults": raw_defaults}) == config  # with the raw block beside (Snakefile)


def test_null_in_a_study_resets_what_study_defaults_give():
    config = validate_config({"study_defaults": {"train": {"network_params": {"init_features": 8}}},
                              "studies": {"mine": {"label": "quality", "representation": "clip", "train": {"network_params": None}},
                                          "other": {"label": "quality", "representation": "clip", "train": {"network_params": {}}}}})
    assert config["studies"]["mine"]["train"]["network_params"] is None
    assert config["studies"]["other"]["train"]["network_params"] == {"init_features": 8}  # {} merges key by key


def test_study_defaults_errors_are_reported_once_where_written():
    with pytest.raises(ConfigError) as err:
        validate_config({"study_defaults": {"train": {"epochs": "x"}, "bogus": 1}})
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 2 and all("study_defaults." in line for line in lines)


def test_study_defaults_need_no_label_but_a_new_study_does():
    validate_config({"study_defaults": {"enabled": False}})
    with pytest.raises(ConfigError, match="studies.mine': 'label' is a required property"):
        validate_config({"studies": {"mine": {"representation": "clip"}}})


def test_check_config_names_study_defaults_as_the_origin():
    from cardiolens.config_check import set_in

    layers = [("config/config.yaml", {"studies": {"a": {"train": {"lr": 1}}}}),
              ("own.yaml", {"study_defaults": {"train": {"network_params": {"x": 1}}}})]
    assert set_in("config key 'studies.a.train.network_params': bad", layers) == "own.yaml"
    assert set_in("config key 'studies.a.train.lr': bad", layers) == "config/config.yaml"
    assert set_in("config key 'studies.a.train.epochs': bad", layers) is None


def test_views_of_the_schema_are_the_views_ingest_writes():
    import pydicom

    from cardiolens.config import load_schema
    from cardiolens.ingest.adapters.camus import VIEWS as CAMUS_VIEWS
    from cardiolens.ingest.dicom_scan import _view
    from cardiolens.labels import VIEWS

    assert load_schema()["$defs"]["study"]["properties"]["views"]["items"]["enum"] == list(VIEWS)
    assert set(CAMUS_VIEWS.values()) <= set(VIEWS)
    for text in ("Apical 4 chamber", "A2C", "PLAX", "short axis", "something else"):
        ds = pydicom.Dataset()
        ds.ViewName = text
        assert _view(ds, "US") in VIEWS


def test_motion_uses_the_same_recordings_as_the_study_samples():
    """Issue 23: the measure stage selects with the study's sources, views, where and classes too."""
    from cardiolens.measure.stage import motion_slice, study_recordings

    rec = pd.DataFrame({"recording_id": ["R3", "R1", "R2", "R4"], "source": ["a", "a", "b", "a"],
                        "view": ["A4C", "A2C", "A4C", "A4C"], "modality": ["US"] * 4,
                        "takotsubo_stemi": ["takotsubo", "stemi", "stemi", None]})
    # sources [a] and views [A4C] leave R3 and R4; R4 has no label
    assert list(study_recordings(rec, "takotsubo_stemi", "US", {"sources": ["a"], "views": ["A4C"]})["recording_id"]) == ["R3"]
    assert list(study_recordings(rec, "takotsubo_stemi", "US", {"classes": ["stemi"]})["recording_id"]) == ["R1", "R2"]
    assert list(study_recordings(rec, "takotsubo_stemi", "US")["recording_id"]) == ["R1", "R2", "R3"]
    cfg = {"studies": {"s": {"label": "takotsubo_stemi", "modality": "US", "motion": {}, "views": ["A4C"], "sources": None}}}
    assert motion_slice(cfg, "s") == {"study": "s", "label": "takotsubo_stemi", "modality": "US", "motion": {}, "views": ["A4C"]}
