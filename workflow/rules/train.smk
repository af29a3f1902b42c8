rule train_fold:
    """Train one fold of one study (Lightning + MONAI); resumes from its last checkpoint."""
    input:
        samples=rules.prepare_study.output.samples,
        splits=rules.split_study.output.splits,
        normalisation=rules.split_study.output.normalisation,
    output:
        history="results/train/{study}/fold{fold}/history.parquet",
        predictions="results/train/{study}/fold{fold}/predictions.parquet",
    log:
        "results/logs/train_fold/{study}/fold{fold}.log",
    benchmark:
        "results/benchmarks/train_fold/{study}/fold{fold}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=lambda wildcards: train_gpus(wildcards.study),
    params:
        code=stage_code_hash("train"),
        slice=lambda wildcards: train_params(wildcards.study),
    script:
        "../scripts/train_fold.py"


rule train_merge:
    """All folds of one study: predictions (sample and patient level) and history."""
    input:
        folds=lambda wildcards: expand(
            "results/train/{study}/fold{fold}/predictions.parquet",
            study=wildcards.study,
            fold=folds_of(config, wildcards.study),
        ),
    output:
        predictions="results/train/{study}/predictions.parquet",
        patients="results/train/{study}/patient_predictions.parquet",
        history="results/train/{study}/history.parquet",
    log:
        "results/logs/train_merge/{study}.log",
    benchmark:
        "results/benchmarks/train_merge/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    params:
        code=stage_code_hash("train"),
        slice=lambda wildcards: train_params(wildcards.study),
    script:
        "../scripts/train_merge.py"
