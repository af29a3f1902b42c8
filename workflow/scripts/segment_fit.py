"""Snakemake adapter: fit one segmentation model."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.segment.stage import run_fit


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_fit(smk.input.recordings, smk.params.slice, str(Path(smk.output.metrics).parent), rule=smk.rule)


main(snakemake)  # noqa: F821
