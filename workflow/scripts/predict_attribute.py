"""Snakemake adapter: attribution of a model bundle's predictions on new recordings."""

from pathlib import Path

import torch

from cardiolens.logs import log_to
from cardiolens.predict.stage import run_predict_attribution


def main(smk) -> None:
    with log_to(smk.log[0]):
        torch.set_num_threads(smk.threads)
        run_predict_attribution(smk.input.samples, smk.input.predictions, smk.input.recordings, smk.params.bundle,
                                str(Path(smk.output.table).parent), rule=smk.rule)


main(snakemake)  # noqa: F821
