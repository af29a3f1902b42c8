"""Snakemake adapter: train one fold."""

from pathlib import Path

import torch

from cardiolens.logs import log_to
from cardiolens.train.stage import run_fold


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        run_fold(smk.input.samples, smk.input.splits, smk.input.normalisation, smk.params.slice, int(smk.wildcards.fold),
                 str(Path(smk.output.predictions).parent), rule=smk.rule, code=smk.params.code)


main(snakemake)  # noqa: F821
