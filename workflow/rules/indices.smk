# Cardiac indices from ED/ES short-axis masks and a classifier on them, per study with
# studies.<name>.indices.enabled (docs/indices.md).


rule measure_indices:
    """Cardiac indices of one study's short-axis cine-MR stacks, one row per patient."""
    input:
        recordings=RECORDINGS,
        patients=rules.ingest_merge.output.patients,
        data=expand("results/ingest/{source}/data", source=list(SOURCES)),
    output:
        indices="results/measure/{study}/indices.parquet",
    log:
        "results/logs/measure_indices/{study}.log",
    benchmark:
        "results/benchmarks/measure_indices/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        gpu=0,
    params:
        code=stage_code_hash(
            "measure/indices.py",
            "measure/indices_table.py",
            "measure/indices_stage.py",
            "measure/thickness.py",
            "prepare/select.py",
        ),
        slice=lambda wildcards: indices_params(wildcards.study),
    script:
        "../scripts/measure_indices.py"


rule train_indices:
    """The indices classifier of one study on its splits: patient predictions and explanations."""
    input:
        indices=rules.measure_indices.output.indices,
        splits=rules.split_study.output.splits,
        samples=rules.prepare_study.output.samples,
    output:
        patients="results/train/{study}/indices/patient_predictions.parquet",
        explanations="results/train/{study}/indices/explanations.parquet",
        diagnoses="results/train/{study}/indices/diagnoses.parquet",
    log:
        "results/logs/train_indices/{study}.log",
    benchmark:
        "results/benchmarks/train_indices/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        gpu=0,
    params:
        code=stage_code_hash(
            "train/indices_model.py",
            "train/indices_stage.py",
            "attribute/feature_ablation.py",
        ),
        slice=lambda wildcards: indices_model_params(wildcards.study),
    script:
        "../scripts/train_indices.py"


rule stats_indices:
    """The indices classifier scored (patient level) and paired with the image model (McNemar), the
    soft vote of the two scored too; a report page with each patient's diagnosis and the indices behind it.
    """
    input:
        image_patient=rules.train_merge.output.patients,
        image_sample=rules.train_merge.output.predictions,
        indices_patient=rules.train_indices.output.patients,
        diagnoses=rules.train_indices.output.diagnoses,
    output:
        performance="results/stats/{study}/indices/performance.parquet",
        confusion="results/stats/{study}/indices/confusion.parquet",
        comparison="results/stats/{study}/indices/comparison.parquet",
        combined="results/stats/{study}/indices/combined_performance.parquet",
        page=report(
            "results/stats/{study}/indices/diagnoses.html",
            caption="../report/stats_indices.rst",
            category="Tables",
            subcategory="{study}",
        ),
    log:
        "results/logs/stats_indices/{study}.log",
    benchmark:
        "results/benchmarks/stats_indices/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    params:
        code=stage_code_hash(
            "stats/stage.py",
            "stats/performance.py",
            "stats/compare.py",
            "stats/pages.py",
            "stats/combine.py",
        ),
        slice=lambda wildcards: stats_params(wildcards.study),
    script:
        "../scripts/stats_indices.py"
