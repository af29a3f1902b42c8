"""Snakemake adapter: regional motion of one study's echo recordings."""

from cardiolens.logs import log_to
from cardiolens.measure.stage import run_study


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_study(smk.input.recordings, smk.params.slice, smk.output.motion, smk.threads, rule=smk.rule)


main(snakemake)  # noqa: F821
