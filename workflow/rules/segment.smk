rule segment_fit:
    """One segmentation model: trained on the recordings with masks, held-out Dice and HD95."""
    input:
        recordings=rules.ingest_merge.output.recordings,
        data=expand("results/ingest/{source}/data", source=list(SOURCES)),
    output:
        metrics="results/segment/{model}/metrics.parquet",
        summary="results/segment/{model}/summary.parquet",
        history="results/segment/{model}/history.parquet",
        folds="results/segment/{model}/folds.parquet",
    log:
        "results/logs/segment_fit/{model}.log",
    benchmark:
        "results/benchmarks/segment_fit/{model}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: segment_threads()
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=lambda wildcards: segment_gpus(),
    params:
        code=stage_code_hash("segment", "split/assign.py", "train/run.py"),
        slice=lambda wildcards: segment_params(wildcards.model),
    script:
        "../scripts/segment_fit.py"


rule segment_apply:
    """Predicted masks, ED/ES, cycles and QC for the recordings that need them."""
    input:
        recordings=rules.ingest_merge.output.recordings,
        data=expand("results/ingest/{source}/data", source=list(SOURCES)),
        models=expand("results/segment/{model}/folds.parquet", model=SEGMENT_MODELS),
    output:
        recordings="results/segment/recordings.parquet",
        qc="results/segment/qc.parquet",
        masks=directory("results/segment/masks"),
        figures=directory("results/segment/figures"),
    log:
        "results/logs/segment_apply.log",
    benchmark:
        "results/benchmarks/segment_apply.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=0,
    params:
        code=stage_code_hash("segment", "split/assign.py", "train/run.py"),
        slice=lambda wildcards: segment_params(None),
        model_dirs={m: f"results/segment/{m}" for m in SEGMENT_MODELS},
    script:
        "../scripts/segment_apply.py"
