rule summary:
    """The run's headline (results/summary.parquet) and the report's front page that shows it."""
    input:
        unpack(summary_inputs),
        intro=REPORT_INTRO,
        rejected="results/ingest/rejected.parquet",
    output:
        table="results/summary.parquet",
        page="results/summary.rst",
    log:
        "results/logs/summary.log",
    benchmark:
        "results/benchmarks/summary.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
        gpu=0,
    params:
        code=stage_code_hash("summary.py", "split/balance.py", "attribute/stage.py"),
        studies=lambda wildcards: summary_studies(),
        role=config["stats"]["roles"][-1],
    script:
        "../scripts/summary.py"
