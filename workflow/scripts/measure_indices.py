"""Snakemake adapter: cardiac indices of one study's short-axis stacks."""

from cardiolens.logs import log_to
from cardiolens.measure.indices_stage import run_study


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_study(smk.input.recordings, smk.input.patients, smk.params.slice, smk.output.indices, rule=smk.rule)


main(snakemake)  # noqa: F821
