"""Workflow-planning benchmark: `snakemake -n` on a 10,000-recording cohort, and the no-op rerun.

Targets (issue 10): the dry run on 10,000 recordings under 10 s, the no-op rerun of the default
configuration under 10 s, on the 2-core development machine.

In the same run, each measured as the median of ``--repeats`` wall-clock runs of the command:
  - baseline: `snakemake -n` of a one-rule Snakefile (Snakemake's own start-up, parsing, DAG);
  - `snakemake -n` of the cardiolens workflow on a 10-recording DICOM source;
  - `snakemake -n` on a 10,000-recording source (the generated export tree: one multi-frame echo
    DICOM per recording, P<n>/ST1/SE1/IM00001, hard links to pydicom's example file, so no
    image is read: planning only stats the files);
  - with ``--run-dir DIR`` (a folder where the default configuration has run to completion, e.g.
    kept by tests/test_determinism.py), the no-op rerun there: `snakemake` with nothing to do.
Ratios are against the baseline (the cost cardiolens' parse-time work adds) and 10k / 10.

    python benchmarks/bench_dag.py [--recordings 10000] [--repeats 3] [--run-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def export_tree(root: Path, n: int) -> Path:
    """A DICOM export of ``n`` recordings (one file each), hard links to one real echo DICOM."""
    from pydicom.data import get_testdata_file

    src = Path(get_testdata_file("examples_ybr_color.dcm"))
    for i in range(n):
        d = root / f"P{i:05d}" / "ST1" / "SE1"
        d.mkdir(parents=True)
        os.link(src, d / "IM00001")
    return root


def site_config(work: Path, export: Path) -> Path:
    cfg = work / "site.yaml"
    cfg.write_text(f"cohort: {{source: inputs}}\ninputs: [{{name: site_a, adapter: dicom, path: {export}}}]\n")
    return cfg


def timed(cmd: list[str], cwd: Path, repeats: int, expect: str) -> float:
    env = {**os.environ, "CARDIOLENS_PSEUDONYM_KEY": "bench-key-0123456789abcdef0123456789abcdef"}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        out = proc.stdout + proc.stderr
        if proc.returncode != 0 or expect not in out:
            raise SystemExit(f"{' '.join(cmd)} (in {cwd}) failed or did not say {expect!r}:\n{out[-3000:]}")
    return statistics.median(times)


def count_jobs(cmd: list[str], cwd: Path) -> int:
    env = {**os.environ, "CARDIOLENS_PSEUDONYM_KEY": "bench-key-0123456789abcdef0123456789abcdef"}
    out = subprocess.run([*cmd, "--quiet", "rules"], cwd=cwd, env=env, capture_output=True, text=True).stdout
    total = [line.split()[-1] for line in out.splitlines() if line.strip().startswith("total")]
    return int(total[0]) if total else -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recordings", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--run-dir", type=Path, help="folder of a complete default run (for the no-op rerun)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / "baseline"
        base.mkdir()
        (base / "Snakefile").write_text('rule all:\n    input: "a.txt"\n\nrule a:\n    output: "a.txt"\n    shell: "touch {output}"\n')
        timed([SNAKEMAKE, "-n", "--cores", "1"], base, 1, "rule a")  # warm-up: imports from a cold disk cache
        t_base = timed([SNAKEMAKE, "-n", "--cores", "1"], base, args.repeats, "rule a")

        rows = [("baseline: one-rule Snakefile, -n", t_base)]
        wf = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--cores", "2", "-n"]
        for n in (10, args.recordings):
            work = tmp / f"n{n}"
            work.mkdir()
            t0 = time.perf_counter()
            export = export_tree(work / "export", n)
            made = time.perf_counter() - t0
            cmd = [*wf, "--configfile", str(site_config(work, export))]
            t = timed(cmd, work, args.repeats, "ingest_source")
            jobs = count_jobs(cmd, work)
            rows.append((f"cardiolens -n, {n} recordings ({jobs} jobs; tree made in {made:.1f} s)", t))
        if args.run_dir:
            cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--cores", "2",
                   "--configfile", str(REPO / "config/config.yaml")]
            t = timed(cmd, args.run_dir, args.repeats, "Nothing to be done")
            rows.append((f"no-op rerun of the default configuration ({args.run_dir})", t))

    print(f"{'what':78s} {'median s':>9s} {'x baseline':>11s}")
    for what, t in rows:
        print(f"{what:78s} {t:9.2f} {t / t_base:11.2f}")
    t10, tbig = rows[1][1], rows[2][1]
    print(f"\n{args.recordings} vs 10 recordings: x{tbig / t10:.2f}; target: dry run on {args.recordings} < 10 s: "
          f"{'met' if tbig < 10 else 'NOT met'}")
    if args.run_dir:
        print(f"no-op rerun < 10 s: {'met' if rows[3][1] < 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
