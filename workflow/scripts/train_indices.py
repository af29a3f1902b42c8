"""Snakemake adapter: the indices classifier of one study, per fold, with explanations."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.train.indices_stage import run_study


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_study(smk.input.indices, smk.input.splits, smk.input.samples, smk.params.slice,
                  str(Path(smk.output.patients).parent), rule=smk.rule)


main(snakemake)  # noqa: F821
