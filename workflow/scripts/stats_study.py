"""Snakemake adapter: statistics of one study."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.stats.pages import study_page
from cardiolens.stats.stage import run_study


def main(smk) -> None:
    with log_to(smk.log[0]):
        out = Path(smk.output.performance).parent
        attribution = smk.input.attribution if smk.input.attribution else None
        run_study(smk.input.predictions, smk.input.patient_predictions, smk.input.patients, smk.input.recordings,
                  smk.input.samples, attribution, str(out), smk.params.slice, rule=smk.rule)
        study_page(out, smk.wildcards.study)


main(snakemake)  # noqa: F821
