"""The command line: --help everywhere, clear errors, the same functions as the workflow."""

from __future__ import annotations

import pytest

from cardiolens.cli import build_parser, main

SUBCOMMANDS = ("synth", "ingest", "provenance", "check-config", "audit", "rejected", "diff", "summary", "predict")


def test_help_on_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    top = capsys.readouterr().out
    for sub in SUBCOMMANDS:
        assert sub in top
        with pytest.raises(SystemExit) as exc:
            main([sub, "--help"])
        assert exc.value.code == 0
        assert "usage: cardiolens " + sub in capsys.readouterr().out


def test_parser_lists_exactly_the_documented_subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(SUBCOMMANDS)


def test_check_config_reports_the_bad_key(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("ingest: {threads: 0}\n")
    assert main(["check-config", str(bad), "--no-networks"]) == 1  # a finding, not a usage error
    out = capsys.readouterr().out
    assert f"config key 'ingest.threads': 0 is less than the minimum of 1 (from {bad})" in out


def test_summary_without_a_run_names_the_missing_table(tmp_path, capsys):
    assert main(["summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "summary.parquet") in err and "run the workflow first" in err


def test_synth_and_ingest_from_the_command_line(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "privacy: {key: cardiolens-synthetic-demo-key}\n"
        f"cohort: {{synthetic: {{outdir: {tmp_path / 'syn'}, broken_files: 0, echo: {{rows: 96, cols: 96, spacing_mm: 1.4, "
        "cycles: [1, 1], septal_flash: {patients: 1}, takotsubo_stemi: {patients: 0}}, cmr: {patients: 0}}}\n"
    )
    monkeypatch.delenv("CARDIOLENS_PSEUDONYM_KEY", raising=False)
    assert main(["synth", "--config", str(cfg)]) == 0
    assert '"patients": 1' in capsys.readouterr().out
    assert main(["ingest", "--config", str(cfg), "--outdir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "recordings.parquet").exists() and (tmp_path / "out" / "synthetic" / "data").is_dir()
    assert main(["provenance", str(tmp_path / "out" / "recordings.parquet")]) == 0
    assert "cli:ingest" in capsys.readouterr().out
