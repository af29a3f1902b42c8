"""Snakemake adapter: merge per-source ingest tables."""

from pathlib import Path

from cardiolens.ingest.run import run_merge
from cardiolens.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]):
        dirs = [str(Path(smk.output.recordings).parent / name) for name in smk.params.sources]
        run_merge(dirs, str(Path(smk.output.recordings).parent), {"sources": smk.params.sources}, rule=smk.rule)


main(snakemake)  # noqa: F821
