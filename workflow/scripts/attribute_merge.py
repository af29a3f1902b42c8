"""Snakemake adapter: merge the attribution of every fold of one study."""

from pathlib import Path

from cardiolens.attribute.stage import merge
from cardiolens.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]):
        folds = list(dict.fromkeys(str(Path(p).parent) for p in smk.input.folds))  # fold order
        merge(folds, smk.input.samples, str(Path(smk.output.table).parent), smk.params.slice, rule=smk.rule)


main(snakemake)  # noqa: F821
