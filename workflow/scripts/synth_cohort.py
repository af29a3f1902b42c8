"""Snakemake adapter: generate the synthetic cohort."""

from pathlib import Path

from cardiolens.config import pseudonym_key
from cardiolens.logs import log_to
from cardiolens.synth.generate import generate


def main(smk) -> None:
    with log_to(smk.log[0]):
        outdir = Path(smk.output.manifest).parent
        generate(smk.params.synthetic, smk.params.seed, outdir, workers=smk.threads, key=pseudonym_key(smk.config))


main(snakemake)  # noqa: F821
