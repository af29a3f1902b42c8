"""`cardiolens diff`: two results folders compared file by file, the declared set left out."""

from __future__ import annotations

from pathlib import Path

from cardiolens.cli import main
from cardiolens.rundiff import Difference, compared_files, diff_runs


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_one_flipped_byte_a_missing_table_and_the_files_not_compared(tmp_path, capsys):
    same = {"ingest/recordings.parquet": b"PAR1 table PAR1", "prepare/s/shards/arrays-000.npy": b"\x93NUMPY 123"}
    a = _tree(tmp_path / "a", {**same, "train/s/fold0/history.parquet": b"PAR1 hist PAR1",
                               "stats/s/figures/roc.png": b"png a",
                               "logs/train_fold/s/fold0.log": b"2026-12-02 06:00 started",
                               "benchmarks/train_fold/s/fold0.tsv": b"s\n12.5", "report.html": b"took 12 min",
                               "train/s/fold0/checkpoints/best.ckpt": b"zip /tmp/run-a"})
    b = _tree(tmp_path / "b", {**same, "split/s/splits.parquet": b"PAR1 splits PAR1",
                               "stats/s/figures/roc.png": b"png b",
                               "logs/train_fold/s/fold0.log": b"2026-12-02 07:00 started",
                               "benchmarks/train_fold/s/fold0.tsv": b"s\n13.1", "report.html": b"took 13 min",
                               "train/s/fold0/checkpoints/best.ckpt": b"zip /tmp/run-b"})
    assert diff_runs(a, a) == []
    assert compared_files(a) == ["ingest/recordings.parquet", "prepare/s/shards/arrays-000.npy",
                                 "stats/s/figures/roc.png", "train/s/fold0/history.parquet"]
    (b / "prepare/s/shards/arrays-000.npy").write_bytes(b"\x93NUMPY 124")  # same size, one byte off
    assert diff_runs(a, b) == [
        Difference("prepare/s/shards/arrays-000.npy", "bytes", "10 vs 10 bytes"),
        Difference("split/s/splits.parquet", "only_in_b", "missing from the first run"),
        Difference("stats/s/figures/roc.png", "bytes", "5 vs 5 bytes"),
        Difference("train/s/fold0/history.parquet", "only_in_a", "missing from the second run"),
    ]
    assert main(["diff", str(a), str(b)]) == 1
    assert "4 differ" in capsys.readouterr().out
    assert main(["diff", str(a), str(a)]) == 0
    assert "4 files compared, identical" in capsys.readouterr().out
