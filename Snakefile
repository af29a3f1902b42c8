# cardiolens: reproducible, explainable deep learning for cardiac imaging studies.
# Stages: synth (when cohort.source is synthetic) -> ingest -> segment -> prepare -> split -> train -> attribute
# -> measure -> stats -> summary; `snakemake --report results/report.html` builds the report.
# The default workflow profile (workflow/profiles/default, found through ./profiles) applies to every
# plain `snakemake` call. See README.md and docs/.
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# The report opens on the results summary once a run has written it (rule summary).
FRONT_PAGE = (
    os.path.abspath("results/summary.rst")
    if os.path.exists("results/summary.rst")
    else "workflow/report/workflow.rst"
)


report: FRONT_PAGE


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/attribute.smk"
include: "workflow/rules/bundle.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/indices.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        all_targets(),


onsuccess:
    print_summary("results/summary.parquet")
