"""Snakemake adapter: the indices classifier of one study scored and paired with the image model."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.stats.stage import run_indices


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_indices(smk.input.image_patient, smk.input.image_sample, smk.input.indices_patient,
                    str(Path(smk.output.performance).parent), smk.params.slice, rule=smk.rule,
                    diagnoses=smk.input.diagnoses)


main(snakemake)  # noqa: F821
