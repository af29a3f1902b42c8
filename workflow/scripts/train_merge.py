"""Snakemake adapter: merge the folds of one study."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.train.stage import merge


def main(smk) -> None:
    with log_to(smk.log[0]):
        merge([str(Path(p).parent) for p in smk.input.folds], str(Path(smk.output.predictions).parent), smk.params.slice,
              rule=smk.rule)


main(snakemake)  # noqa: F821
