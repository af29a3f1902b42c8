"""Snakemake adapter: predicted masks, ED/ES and QC for the recordings that need them."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.segment.stage import run_apply


def main(smk) -> None:
    with log_to(smk.log[0]):
        run_apply(smk.input.recordings, smk.params.slice, dict(smk.params.model_dirs),
                  str(Path(smk.output.recordings).parent), rule=smk.rule)


main(snakemake)  # noqa: F821
