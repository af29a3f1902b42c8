rule ingest_source:
    """Ingest one input source: canonical ITK images, recordings/patients/rejected tables."""
    input:
        unpack(source_inputs),
    output:
        data=directory("results/ingest/{source}/data"),
        recordings="results/ingest/{source}/recordings.parquet",
        patients="results/ingest/{source}/patients.parquet",
        rejected="results/ingest/{source}/rejected.parquet",
        # The real paths behind the tables' path keys: for the data owner only, outside results/.
        paths=f"{config['privacy']['private_dir']}/{{source}}/paths.csv",
    log:
        "results/logs/ingest_source/{source}.log",
    benchmark:
        "results/benchmarks/ingest_source/{source}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: config["ingest"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    params:
        code=stage_code_hash("ingest"),
        slice=source_params,
        inventory=source_inventory,
        # Keyed hashes (patient_key, recording_id, path keys) depend on the key: a new key reruns ingest.
        key_fingerprint=synth_key_fingerprint,
    script:
        "../scripts/ingest_source.py"


rule ingest_merge:
    """Merge the per-source tables into results/ingest/{recordings,patients,rejected}.parquet."""
    input:
        tables=expand(
            "results/ingest/{source}/{table}.parquet",
            source=list(SOURCES),
            table=["recordings", "patients", "rejected"],
        ),
    output:
        recordings="results/ingest/recordings.parquet",
        patients="results/ingest/patients.parquet",
        rejected="results/ingest/rejected.parquet",
    log:
        "results/logs/ingest_merge.log",
    benchmark:
        "results/benchmarks/ingest_merge.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    params:
        code=stage_code_hash("ingest"),
        sources=list(SOURCES),
    script:
        "../scripts/ingest_merge.py"
