"""The ``cardiolens`` command line: the same functions the Snakemake rules call."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cardiolens import __version__


def _cmd_synth(args: argparse.Namespace) -> int:
    from cardiolens.config import load_config, pseudonym_key
    from cardiolens.logs import log_to
    from cardiolens.synth.generate import generate

    config = load_config(args.config)
    synth = config["cohort"]["synthetic"]
    outdir = args.outdir or synth["outdir"]
    with log_to(None):
        manifest = generate(synth, config["seed"] if args.seed is None else args.seed, outdir,
                            key=pseudonym_key(config), workers=args.workers)
    print(json.dumps({k: v for k, v in manifest.items() if k != "config"}, indent=1))
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from cardiolens.config import check_input_paths, load_config, sources
    from cardiolens.ingest.run import run_merge, run_source
    from cardiolens.logs import log_to

    config = load_config(args.config)
    check_input_paths(config)
    config["ingest"]["threads"] = args.workers or config["ingest"]["threads"]
    names = [s["name"] for s in sources(config)]
    if args.source:
        names = [args.source]
    out = Path(args.outdir)
    with log_to(None):
        for name in names:
            run_source(config, name, str(out / name), rule="cli:ingest")
        if not args.source:
            run_merge([str(out / n) for n in names], str(out), {"sources": names}, rule="cli:ingest")
    return 0


def _cmd_provenance(args: argparse.Namespace) -> int:
    from cardiolens.tables import read_provenance

    record = read_provenance(args.file)
    if not args.inputs:
        n = len(record.get("inputs", []))
        record = {**record, "inputs": f"{n} files (use --inputs to list them)"}
    print(json.dumps(record, indent=1, sort_keys=True))
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from cardiolens.audit import audit, lineage
    from cardiolens.logs import log_to

    if args.lineage:
        where = dict(kv.split("=", 1) for kv in args.where)
        for e in lineage(args.lineage, where=where or None):
            extra = "".join(f" {k}={e[k]}" for k in ("rows", "source_sha256") if k in e)
            print(f"{'  ' * e['depth']}{e['table']}  rule={e['rule']} config={str(e['config_sha256'])[:12]} "
                  f"code={str(e['code_sha256'])[:12]} other_inputs={e['other_inputs']}{extra}")
            for f in e.get("source_files", []):
                print(f"{'  ' * e['depth']}  <- {f}")
        return 0
    with log_to(None):
        findings = audit(args.results, images=not args.no_images, checkpoints=not args.no_checkpoints)
    for r in findings.itertuples():
        print(f"{r.kind:11s} {r.path}  ({r.detail}; recorded by {r.referenced_by or '-'})")
    print(f"cardiolens audit {args.results}: {'clean' if findings.empty else f'{len(findings)} finding(s)'}")
    return 0 if findings.empty else 1


def _cmd_rejected(args: argparse.Namespace) -> int:
    from cardiolens.ingest.private import reveal
    from cardiolens.tables import read_table
    from cardiolens.tables.registry import REJECTED

    path = Path(args.results)
    table = read_table(path / "ingest" / "rejected.parquet" if path.is_dir() else path, REJECTED)
    if args.source:
        table = table[table["source"] == args.source]
    for r in reveal(table, args.private_dir).itertuples():
        line = f"{r.source}\t{r.reason}\t{r.path}\t{r.message}"
        # A file name that is not valid UTF-8 is shown with its odd bytes as \xNN escapes.
        print(line.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
    print(f"cardiolens rejected: {len(table)} file(s); paths relative to each source's root", file=sys.stderr)
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from cardiolens.rundiff import compared_files, diff_runs

    diffs = diff_runs(args.a, args.b)
    for d in diffs:
        print(f"{d.kind:9s} {d.path}  ({d.detail})")
    n = len(compared_files(args.a))
    print(f"cardiolens diff: {n} files compared, {'identical' if not diffs else f'{len(diffs)} differ'}")
    return 0 if not diffs else 1


def _cmd_summary(args: argparse.Namespace) -> int:
    from cardiolens.summary import read_summary, summary_lines

    table = read_summary(args.results)
    if args.format == "csv":
        table.assign(warnings=table["warnings"].map("; ".join)).to_csv(sys.stdout, index=False)
    else:
        print("\n".join(summary_lines(table)))
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    import contextlib

    from cardiolens.config_check import DEFAULT_CONFIGFILE, check, merge_configfiles, read_configfile, set_in, summary

    # As Snakemake: the Snakefile's configfile: first, when it exists in the working directory;
    # the --configfile files from where the command runs.
    default = Path(args.directory) / DEFAULT_CONFIGFILE
    names = ([str(default)] if default.is_file() else []) + list(args.files)
    layers, problems = [], []
    for name in names:
        try:
            layers.append((name, read_configfile(name)))
        except ValueError as exc:
            problems.append(str(exc))
    if not names:
        problems.append(f"{default}: no such file, and no configuration file given (snakemake would stop too)")
    files = " + ".join(names) or str(default)
    filled: dict = {}
    if not problems:
        contents = [content for _, content in layers]
        merged = merge_configfiles(contents[0], contents[1:]) if default.is_file() else merge_configfiles(None, contents)
        with contextlib.chdir(args.directory):  # configured paths are relative to the working directory
            filled, problems = check(merged, networks=not args.no_networks)
        problems = [f"{p} (from {origin})" if (origin := set_in(p, layers)) else p for p in problems]
    if problems:
        print("\n".join(problems))
        print(f"cardiolens check-config: {len(problems)} problem{'s' if len(problems) > 1 else ''} in {files}")
        return 1
    print(f"cardiolens check-config: {files}: OK" + (" (networks not built)" if args.no_networks else ""))
    print("\n".join(f"  {line}" for line in summary(filled)))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from cardiolens.predict.bundle import BundleError
    from cardiolens.predict.setup import predict

    extra = args.snakemake_args[1:] if args.snakemake_args[:1] == ["--"] else args.snakemake_args
    try:
        rc = predict(args.model, args.input, args.out, cores=args.cores, key_env=args.key_env, snakemake_args=extra)
    except BundleError as exc:  # exit status 1: the inputs do not fit the model
        print(f"cardiolens predict: error: {exc}", file=sys.stderr)
        return 1
    if rc != 0:
        print(f"cardiolens predict: error: the Snakemake run in {args.out} failed (exit status {rc}); see the job log it names",
              file=sys.stderr)
        return 1
    if set(extra) & {"-n", "--dry-run", "--dryrun", "--unlock", "--until", "--touch", "-t", "--list-untracked"}:
        return 0  # Snakemake ran no job (or not all): the results on disk are not this run's
    print("\n".join(predict_report(Path(args.out), args.model)))
    return 0


def predict_report(out: Path, bundle: str) -> list[str]:
    """The terminal lines of a finished predict run: the bundle hash, then per study the patients
    scored with the headline and its CI (``results/predict/<study>/performance.parquet``), the
    rejected input files, and where the results are."""
    import pandas as pd

    from cardiolens.predict.bundle import BundleError, verify_bundle
    from cardiolens.predict.scores import headline
    from cardiolens.tables import read_provenance

    try:
        lines = [f"bundle {bundle} (sha256 {verify_bundle(bundle)[:16]})"]
    except BundleError as exc:  # changed while the run was going
        lines = [f"bundle {bundle}: {exc}"]
    root = out / "results" / "predict"
    for perf_path in sorted(root.glob("*/performance.parquet")):
        study = perf_path.parent.name
        left = (read_provenance(perf_path).get("extra") or {}).get("left_out") or {}
        lines.append(headline(pd.read_parquet(perf_path), left, study))
    rejected = out / "results" / "ingest" / "rejected.parquet"
    if rejected.is_file():
        r = pd.read_parquet(rejected)
        r = r[r["reason"] != "ancillary"]
        if len(r):
            lines.append(f"rejected input files: {len(r)} ({', '.join(f'{k} {v}' for k, v in r['reason'].value_counts().items())}; "
                         f"`cardiolens rejected {out / 'results'} --private-dir {out / 'private'}` lists them)")
    lines.append(f"predictions: {root}")
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardiolens",
        description="Reproducible, explainable deep learning for cardiac imaging. "
        "The full pipeline runs with `snakemake`; these commands run single steps.",
    )
    parser.add_argument("--version", action="version", version=f"cardiolens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate the synthetic DICOM cohort",
                       description="Write the synthetic cohort (multi-frame echo and cine-MR DICOMs with fake PHI, "
                       "clinical.csv, ground truth) described by cohort.synthetic of the configuration.")
    p.add_argument("--config", default="config/config.yaml", help="configuration file (default: %(default)s)")
    p.add_argument("--outdir", help="output folder (default: cohort.synthetic.outdir)")
    p.add_argument("--seed", type=int, help="override the configuration's seed")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("ingest", help="ingest the configured sources into canonical recordings",
                       description="Ingest every source of the configuration (or one, --source) into OUTDIR: "
                       "canonical ITK images, recordings.parquet, patients.parquet, rejected.parquet (files by path key; "
                       "the real paths go to <privacy.private_dir>/<source>/paths.csv, for the data owner). "
                       "The synthetic source must have been generated first (cardiolens synth).")
    p.add_argument("--config", default="config/config.yaml", help="configuration file (default: %(default)s)")
    p.add_argument("--outdir", default="results/ingest", help="output folder (default: %(default)s)")
    p.add_argument("--source", help="ingest only this source (no merge)")
    p.add_argument("--workers", type=int, help="worker processes (default: ingest.threads)")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("provenance", help="print the provenance record of a Parquet table",
                       description="Print the provenance stored in a table's Parquet schema metadata: producing "
                       "rule, inputs with sha256, configuration slice and hash, package and code versions.")
    p.add_argument("file", help="a Parquet table written by cardiolens")
    p.add_argument("--inputs", action="store_true", help="list every input file instead of their count")
    p.set_defaults(func=_cmd_provenance)

    p = sub.add_parser("audit", help="check every file the results' provenance records; print a table's lineage",
                       description="Re-hash every input file recorded in the provenance of every table under RESULTS "
                       "(raw files, intermediate tables, shards, maps), check checkpoints (zip CRC and weights hash) and "
                       "canonical images (pixel hash), and list what is missing, changed, unreadable or unexplained. "
                       "Exit status 1 when anything is found. With --lineage, print the chain from one table (or, with "
                       "--where, one row) back to the raw files instead.")
    p.add_argument("results", nargs="?", default="results", help="results folder (default: %(default)s)")
    p.add_argument("--no-images", action="store_true", help="skip decoding the canonical images")
    p.add_argument("--no-checkpoints", action="store_true", help="skip the checkpoints")
    p.add_argument("--lineage", metavar="TABLE", help="print the lineage of this table instead of auditing")
    p.add_argument("--where", nargs="*", default=[], metavar="COLUMN=VALUE",
                   help="with --lineage: follow the rows with these values (e.g. recording_id=R...)")
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser("rejected", help="list the rejected input files with their real paths (data owner only)",
                       description="Print results/ingest/rejected.parquet with each path key (F...) replaced by the "
                       "file's real path, read from the private mapping that ingestion writes outside results/ "
                       "(privacy.private_dir): source, reason, path, message, tab-separated. The output names "
                       "patient folders when the export does: it is for the data owner's terminal, not for sharing.")
    p.add_argument("results", nargs="?", default="results", help="results folder or a rejected.parquet (default: %(default)s)")
    p.add_argument("--private-dir", default="private", help="the run's privacy.private_dir (default: %(default)s)")
    p.add_argument("--source", help="only this source")
    p.set_defaults(func=_cmd_rejected)

    p = sub.add_parser("diff", help="compare two results folders byte for byte (determinism check)",
                       description="Compare every file under two results folders byte for byte (same configuration "
                       "and seed must give the same bytes): tables, images, shards, maps, figures, pages. Not compared: "
                       "benchmark files, logs and the report (wall-clock times) and checkpoints (they embed the run "
                       "folder's path; the tables record their weights hash). Exit status 1 when anything differs.")
    p.add_argument("a", help="first results folder")
    p.add_argument("b", help="second results folder")
    p.set_defaults(func=_cmd_diff)

    p = sub.add_parser("summary", help="print each study's headline result",
                       description="Print results/summary.parquet: per study and level, the cohort, the headline "
                       "metrics of the scored role (the last of stats.roles) with their CI (stats.bootstrap.confidence, 95 % by default; Wilson or a patient bootstrap), the attribution verdict "
                       "(sanity check, outside-the-heart rate, pointing game) and the warnings to check.")
    p.add_argument("results", nargs="?", default="results", help="results folder or summary.parquet (default: %(default)s)")
    p.add_argument("--format", choices=("text", "csv"), default="text", help="output format (default: %(default)s)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("check-config", help="check configuration files as a run would use them",
                       description="Check the configuration `snakemake --configfile FILE [FILE ...]` would run: the "
                       "files merged in order over config/config.yaml (the Snakefile's configfile:, when it exists in "
                       "the working directory), as Snakemake merges them (nested keys key by key; later files win). "
                       "Checked: the JSON Schema (workflow/schemas/config.schema.yaml), with the fix for YAML 1.1 slips "
                       "(1e-4 read as text, unquoted yes/no/on/off read as booleans) and misspelt keys; then every "
                       "configured path, each enabled study's classes against the values its label can take and the "
                       "clinical tables hold, the pseudonymisation key, and one forward pass of each enabled study's "
                       "network on a dummy input of the study's shape (CPU); these once the schema passes. Prints one "
                       "line per problem, naming the key, the fix and the file that set it, and exits with status 1; "
                       "otherwise prints the sources and studies the run would use and exits with 0. Snakemake takes "
                       "several files after one --configfile (a second --configfile replaces the first).")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="configuration files in --configfile order (none: config/config.yaml alone)")
    p.add_argument("--directory", "-d", default=".", metavar="DIR",
                   help="the working directory snakemake would use (--directory): where config/config.yaml and "
                   "relative paths are looked up (default: the current directory)")
    p.add_argument("--no-networks", action="store_true",
                   help="skip building the networks (a few seconds per study)")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("predict", help="apply a trained model bundle to new recordings (external validation)",
                       description="Run ingest -> prepare -> predict -> attribute on new recordings with a model bundle "
                       "(results/train/<study>/fold<k>/bundle of a training run), as a Snakemake run in OUT: the command "
                       "writes OUT/config.yaml (the bundle's study and preprocessing settings, every new patient in role "
                       "test, no training) and runs `snakemake --directory OUT`. Results: OUT/results/predict/<study>/ "
                       "(predictions.parquet, patient_predictions.parquet, attribution.parquet, maps; performance.parquet and "
                       "confusion.parquet for the recordings whose label, from a clinical table or ground truth, is one of "
                       "the bundle's classes). Recordings without a label are scored, not judged. Inputs of another "
                       "modality or representation than the bundle's, a changed bundle, an OUT that holds another run, "
                       "and a missing key are refused (exit status 1). The pseudonymisation key comes from the "
                       "environment (--key-env).")
    p.add_argument("--model", required=True, metavar="BUNDLE", help="a model bundle folder (with manifest.json)")
    p.add_argument("--input", required=True, metavar="CONFIG_OR_FOLDER",
                   help="a YAML file with an `inputs:` list as in config/config.yaml (optionally `modality:` and "
                   "`representation:`), or a folder of DICOM files (one dicom source)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the run's working directory: new, empty, or an earlier predict run of the same bundle (continued)")
    p.add_argument("--cores", type=int, default=1, help="Snakemake --cores (default: %(default)s)")
    p.add_argument("--key-env", default="CARDIOLENS_PSEUDONYM_KEY",
                   help="environment variable holding the pseudonymisation key (default: %(default)s)")
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER, metavar="-- SNAKEMAKE_ARGS",
                   help="further arguments for snakemake after --, e.g. -- --profile profiles/slurm")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cardiolens.config import ConfigError
    from cardiolens.ingest.clinical import ClinicalTableError
    from cardiolens.tables.schema import TableError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ClinicalTableError, TableError, FileNotFoundError) as exc:
        print(f"cardiolens {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cardiolens summary | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
