"""Snakemake adapter: score a predict run's predictions against the labels it was given."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.predict.scores import run_scores


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_scores(smk.input.predictions, smk.input.patients, smk.params.slice, str(Path(smk.output.performance).parent),
                   rule=smk.rule)


main(snakemake)  # noqa: F821
