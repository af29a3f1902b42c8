rule prepare_study:
    """Model inputs of one study (M-modes, ED/ES frames or clips) in shards, and samples.parquet."""
    input:
        recordings=RECORDINGS,
        data=expand("results/ingest/{source}/data", source=list(SOURCES)),
    output:
        samples="results/prepare/{study}/samples.parquet",
        shards=directory("results/prepare/{study}/shards"),
    log:
        "results/logs/prepare_study/{study}.log",
    benchmark:
        "results/benchmarks/prepare_study/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: config["prepare"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    params:
        code=stage_code_hash("prepare"),
        slice=lambda wildcards: study_params(wildcards.study),
    script:
        "../scripts/prepare_study.py"
