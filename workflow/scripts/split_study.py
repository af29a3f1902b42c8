"""Snakemake adapter: split one study."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.split.run import run_study_split


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_study_split(smk.input.samples, smk.input.patients, smk.input.recordings, smk.params.slice,
                        str(Path(smk.output.splits).parent), rule=smk.rule)


main(snakemake)  # noqa: F821
