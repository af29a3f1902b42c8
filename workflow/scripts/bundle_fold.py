"""Snakemake adapter: export one trained fold as a model bundle."""

from cardiolens.logs import log_to
from cardiolens.predict.export import export_fold


def main(smk) -> None:
    with log_to(smk.log[0]):
        export_fold(smk.input.samples, smk.input.splits, smk.input.normalisation, smk.input.history, smk.input.predictions,
                    smk.params.slice, int(smk.wildcards.fold), smk.output.bundle, code=smk.params.code)


main(snakemake)  # noqa: F821
