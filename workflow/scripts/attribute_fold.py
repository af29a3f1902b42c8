"""Snakemake adapter: attribute one fold."""

from pathlib import Path

import torch

from cardiolens.attribute.stage import run_attribution
from cardiolens.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        run_attribution(smk.input.samples, smk.input.splits, smk.input.normalisation, smk.input.predictions,
                        smk.input.recordings, smk.params.slice, int(smk.wildcards.fold), str(Path(smk.output.table).parent),
                        rule=smk.rule)


main(snakemake)  # noqa: F821
