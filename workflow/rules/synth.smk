rule synth_cohort:
    """Generate the synthetic DICOM cohort (cardiolens synth) when cohort.source is synthetic."""
    output:
        dicom=directory(f"{config['cohort']['synthetic']['outdir']}/dicom"),
        truth=directory(f"{config['cohort']['synthetic']['outdir']}/truth"),
        clinical=f"{config['cohort']['synthetic']['outdir']}/clinical.csv",
        manifest=f"{config['cohort']['synthetic']['outdir']}/manifest.json",
    log:
        "results/logs/synth_cohort.log",
    benchmark:
        "results/benchmarks/synth_cohort.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=0,
    params:
        code=stage_code_hash(
            "synth", "ingest/truth.py", "privacy.py", "labels.py", shared=False
        ),
        synthetic=config["cohort"]["synthetic"],
        seed=config["seed"],
        # Sidecar stems are keyed: a new key regenerates the cohort (the key itself stays out of params).
        key_fingerprint=synth_key_fingerprint,
    script:
        "../scripts/synth_cohort.py"
