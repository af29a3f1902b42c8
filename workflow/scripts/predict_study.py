"""Snakemake adapter: predict the new recordings' samples with a model bundle."""

from pathlib import Path

import torch

from cardiolens.logs import log_to
from cardiolens.predict.stage import run_predict


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        run_predict(smk.input.samples, smk.params.bundle, str(Path(smk.output.predictions).parent), rule=smk.rule)


main(snakemake)  # noqa: F821
