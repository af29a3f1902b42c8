"""Snakemake adapter: prepare one study's samples."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.prepare.run import run_study


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_study(smk.input.recordings, smk.params.slice, str(Path(smk.output.samples).parent), smk.threads, rule=smk.rule)


main(snakemake)  # noqa: F821
