"""Every table cardiolens writes, declared once. Stages import their schema from here."""

from __future__ import annotations

import pyarrow as pa

from cardiolens.ingest.blanking import RULES as KEEP_RULES
from cardiolens.ingest.reasons import Reason
from cardiolens.labels import SEED_LABELS
from cardiolens.tables.schema import Column, TableSchema

_LABEL_COLUMNS = tuple(
    Column(name, pa.string(), f"{name} label (the clinical table's cell as written, or the dataset's metadata)", nullable=True)
    for name in SEED_LABELS
)
#: Labels of the clinical table's other mapped columns (inputs[].clinical.columns): any study may
#: name one as its ``label`` (`cardiolens.prepare.select.with_label`).
_CLINICAL_LABELS = Column(
    "clinical_labels", pa.string(),
    "the clinical table's other mapped columns (inputs[].clinical.columns), as a JSON object name -> value "
    "(text, sorted by name; a missing value is left out): labels of the studies that name them")

RECORDINGS = TableSchema(
    name="recordings",
    version=1,
    description="One row per canonical recording (one ITK image) produced by ingest.",
    key=("recording_id",),
    columns=(
        Column("recording_id", pa.string(), "R + keyed hash of the recording's source UID", unique=True),
        Column("source", pa.string(), "input source name (config inputs[].name or 'synthetic')"),
        Column("patient_key", pa.string(), "P + keyed hash of the source patient identifier"),
        Column("study_key", pa.string(), "S + keyed hash of the StudyInstanceUID"),
        Column("modality", pa.string(), "DICOM modality", allowed=("US", "MR")),
        Column("view", pa.string(), "acquisition view (A4C, SAX, ...) or 'unknown'"),
        Column("n_frames", pa.int64(), "frames (time points)", min=1),
        Column("n_slices", pa.int64(), "spatial slices (1 for 2D+t)", min=1),
        Column("rows", pa.int64(), "image rows", min=1),
        Column("cols", pa.int64(), "image columns", min=1),
        Column("frame_time_ms", pa.float64(), "time between frames in ms (null when the dataset has no timing)", nullable=True, min=1e-3),
        Column("spacing_x_mm", pa.float64(), "column spacing in mm (null when the dataset has none: image in pixels)", nullable=True, min=1e-4),
        Column("spacing_y_mm", pa.float64(), "row spacing in mm (null when the dataset has none)", nullable=True, min=1e-4),
        Column("spacing_z_mm", pa.float64(), "slice spacing in mm (null for 2D+t)", nullable=True, min=1e-4),
        Column("heart_rate_bpm", pa.float64(), "heart rate from the header", nullable=True, min=1, max=400),
        Column("r_peak_frames", pa.list_(pa.int64()), "0-based frames of R peaks (may be empty)"),
        Column("ed_frame", pa.int64(), "0-based end-diastolic frame of the first cycle", nullable=True, min=0),
        Column("es_frame", pa.int64(), "0-based end-systolic frame of the first cycle", nullable=True, min=0),
        Column("mvc_frame", pa.int64(), "0-based mitral valve closure frame of the first cycle", nullable=True, min=0),
        Column("avo_frame", pa.int64(), "0-based aortic valve opening frame of the first cycle", nullable=True, min=0),
        Column("source_frames", pa.list_(pa.int64()), "0-based frame number in the source of each stored frame"),
        Column("quality", pa.string(), "image quality given by the dataset (CAMUS ImageQuality)", nullable=True, allowed=("Good", "Medium", "Poor")),
        Column("ef_percent", pa.float64(), "LV ejection fraction given by the dataset, %", nullable=True, min=0, max=100),
        Column("split", pa.string(), "split predefined by the dataset (EchoNet Split, ACDC training/testing)", nullable=True),
        *_LABEL_COLUMNS,
        _CLINICAL_LABELS,
        Column("image_path", pa.string(), "canonical ITK image (.mha): x, y[, z], t with physical spacing"),
        Column("mask_path", pa.string(), "label map aligned with the image (cardiolens.labels codes)", nullable=True),
        Column("truth_path", pa.string(), "ground-truth JSON (landmarks, events, curves) for synthetic data", nullable=True),
        Column("pixel_type", pa.string(), "pixel type of the canonical image", allowed=("uint8", "float32")),
        Column("pixel_sha256", pa.string(), "sha256 of the decoded pixel array (shape, dtype, bytes): duplicate detection"),
        Column("pixels_kept", pa.string(), "rule that chose the pixels kept, everything else set to 0 before the image was written: "
               "us_regions (union of the DICOM ultrasound regions, image cropped to their bounding box), us_sector_from_image "
               "(ultrasound without usable regions: the sector found from the image), config_region (the source's "
               "options.keep_region), all (nothing blanked: MR without keep_region; MR flagged BurnedInAnnotation is rejected instead)", allowed=KEEP_RULES),
        Column("pixels_blanked", pa.int64(), "pixels per source frame (per slice image for MR) that did not reach the canonical "
               "image: set to 0 or cropped away", min=0),
        Column("pixels_blanked_fraction", pa.float64(), "pixels_blanked over the pixels of a source frame", min=0, max=1),
        Column("source_crop_px", pa.list_(pa.int64()), "[row0, row1, col0, col1] (inclusive, 0-based) of the source frame the "
               "canonical image was cut from: the bounding box of the ultrasound regions' union for us_regions, else the whole "
               "frame; canonical pixel (i, j) is source pixel (row0 + i, col0 + j), and the image's origin stays 0"),
        Column("burned_in_annotation", pa.bool_(), "the DICOM BurnedInAnnotation flag (YES: text burned into the pixels, "
               "removed by the blanking); null when absent or not DICOM", nullable=True),
        Column("source_files", pa.list_(pa.string()), "source files of the recording, each by its path key: F + keyed hash "
               "(HMAC-SHA256, 16 hex) of its path relative to the source root, never the path itself (folder names may name "
               "patients); <privacy.private_dir>/<source>/paths.csv maps them back, for the data owner"),
        Column("source_sha256", pa.string(), "sha256 over the sorted sha256 of the source files"),
        # Written by the segment stage (results/segment/recordings.parquet); ingest fills what it knows.
        Column("mask_source", pa.string(), "where mask_path comes from: expert (masks that came with the data: expert "
               "annotations, the synthetic generator's truth) or predicted (the segment stage's model, segment_model); null "
               "without masks", nullable=True, allowed=("expert", "predicted")),
        Column("segment_model", pa.string(), "the segmentation model behind predicted masks: <model>:<fold0, ensemble>:"
               "<sha256 of its weights, 16 hex>; null for expert masks", nullable=True),
        Column("ed_es_source", pa.string(), "where ed_frame and es_frame come from: source (the dataset, ECG or header) or "
               "lv_area_curve (largest and smallest segmented LV area of the first cycle); null when unknown",
               nullable=True, allowed=("source", "lv_area_curve")),
        Column("cycle_frames", pa.list_(pa.int64()), "0-based frames that start cardiac cycles: the R peaks when the "
               "source has at least two, else the ED frames of the segmented LV area curve (may be empty)"),
        Column("qc_pass", pa.bool_(), "whether predicted masks passed the segment stage's quality control (null for expert "
               "or no masks); a failed recording is left out of the studies unless segment.qc.exclude is false", nullable=True),
        Column("qc_reasons", pa.string(), "codes of the failed checks, JSON list (results/segment/qc.parquet has the "
               "measurements)", nullable=True),
    ),
)

PATIENTS = TableSchema(
    name="patients",
    version=1,
    description="One row per pseudonymised patient: clinical covariates and labels.",
    key=("patient_key",),
    columns=(
        Column("patient_key", pa.string(), "P + keyed hash of the source patient identifier", unique=True),
        Column("source", pa.string(), "input source the clinical row came from"),
        Column("sex", pa.string(), "F or M", nullable=True, allowed=("F", "M")),
        Column("age", pa.float64(), "age in years at the first study, capped (ingest.max_age_years)", nullable=True, min=0, max=120),
        Column("height_cm", pa.float64(), "height in cm", nullable=True, min=30, max=260),
        Column("weight_kg", pa.float64(), "weight in kg", nullable=True, min=1, max=400),
        *_LABEL_COLUMNS,
        _CLINICAL_LABELS,
        Column("n_recordings", pa.int64(), "ingested recordings of this patient", min=0),
        Column("in_clinical_table", pa.bool_(), "whether the clinical table had a row for this patient"),
    ),
)

REJECTED = TableSchema(
    name="rejected",
    version=1,
    description="One row per input file that did not become (part of) a recording, with the reason.",
    key=("source", "path"),
    columns=(
        Column("source", pa.string(), "input source name"),
        Column("path", pa.string(), "the file's path key: F + keyed hash of its path relative to the source root "
               "(cardiolens rejected prints the real paths, from the private mapping)"),
        Column("sha256", pa.string(), "sha256 of the file bytes"),
        Column("reason", pa.string(), "reason code", allowed=tuple(r.value for r in Reason)),
        Column("message", pa.string(), "what is wrong, without patient data; another file is named by its path key"),
    ),
)

SAMPLES = TableSchema(
    name="samples",
    version=1,
    description="One row per model input prepared for a study (prepare stage).",
    key=("sample_id",),
    columns=(
        Column("sample_id", pa.string(), "recording_id-representation-variant-slice-offset", unique=True),
        Column("study", pa.string(), "study name (config studies.<name>)"),
        Column("recording_id", pa.string(), "source recording"),
        Column("patient_key", pa.string(), "pseudonymised patient (splits group by it)"),
        Column("source", pa.string(), "input source of the recording"),
        Column("label", pa.string(), "class of the study label (null only in a `cardiolens predict` run: a recording without one)",
               nullable=True),
        Column("representation", pa.string(), "mmode, frames or clip", allowed=("mmode", "frames", "clip")),
        Column("variant", pa.string(), "original/cropped (mmode), ed_es (frames), cycle (clip)",
               allowed=("original", "cropped", "ed_es", "cycle")),
        Column("offset", pa.int64(), "augmentation offset in contour points (0 = the reference line)"),
        Column("slice_index", pa.int64(), "slice of a multi-slice stack (base = 0)", nullable=True, min=0),
        Column("array_path", pa.string(), "shard file (.npy, float16, (N, *shape))"),
        Column("array_index", pa.int64(), "row of the sample in its shard (same row in roi_path)", min=0),
        Column("roi_path", pa.string(), "ROI shard (.npy, uint8 bitmasks, bits in cardiolens.prepare.samples.ROI_BITS)"),
        Column("shape", pa.list_(pa.int64()), "sample shape"),
        Column("axes", pa.string(), "meaning and unit of each axis"),
        Column("spacing", pa.list_(pa.float64()), "physical spacing per axis (1 for channel axes)"),
        Column("params", pa.string(), "JSON of every parameter that shaped the sample"),
        Column("targets", pa.list_(pa.float64()), "regression targets in the order of the study's targets (null for classification studies)",
               nullable=True),
    ),
)

SPLITS = TableSchema(
    name="splits",
    version=1,
    description="Patient-level assignment: one role per patient and fold.",
    key=("study", "patient_key", "fold"),
    columns=(
        Column("study", pa.string(), "study name"),
        Column("patient_key", pa.string(), "pseudonymised patient"),
        Column("fold", pa.int64(), "fold (0 for hold-out and predefined)", min=0),
        Column("role", pa.string(), "role of the patient in this fold", allowed=("train", "val", "test")),
    ),
)

LEAKAGE = TableSchema(
    name="leakage",
    version=1,
    description="What the leakage audit checked, per fold: identifiers and pixels across roles, normalisation source.",
    key=("study", "fold", "check"),
    columns=(
        Column("study", pa.string(), "study name"),
        Column("fold", pa.int64(), "fold", min=0),
        Column("check", pa.string(), "what was checked",
               allowed=("patient_key", "study_key", "pixel_content", "normalisation_from_train_only")),
        Column("n_checked", pa.int64(), "distinct values (or training samples the normalisation was recomputed from) checked", min=0),
        Column("n_violations", pa.int64(), "values found in more than one role (normalisation: stored arrays missing or "
               "different from the recomputed ones)", min=0),
        Column("status", pa.string(), "pass or fail", allowed=("pass", "fail")),
        Column("detail", pa.string(), "offending values and roles (pseudonymised keys only), or the normalisation arrays that differ"),
    ),
)

BALANCE = TableSchema(
    name="balance",
    version=1,
    description="Per fold and role: label and sex shares, age mean +- SD, SMD against the training role.",
    columns=(
        Column("study", pa.string(), "study name"),
        Column("fold", pa.int64(), "fold", min=0),
        Column("role", pa.string(), "role", allowed=("train", "val", "test")),
        Column("variable", pa.string(), "label, sex or age", allowed=("label", "sex", "age")),
        Column("level", pa.string(), "category, or 'mean' for age"),
        Column("n", pa.int64(), "patients (with the category / with an age)", min=0),
        Column("value", pa.float64(), "share of the category, or mean age", nullable=True),
        Column("sd", pa.float64(), "SD of age", nullable=True),
        Column("smd_vs_train", pa.float64(), "standardised mean difference against the training role", nullable=True),
    ),
)

HISTORY = TableSchema(
    name="history",
    version=1,
    description="Per fold and epoch, every logged metric of training and validation.",
    columns=(
        Column("study", pa.string(), "study name"),
        Column("fold", pa.int64(), "fold", min=0),
        Column("epoch", pa.int64(), "epoch (0-based)", min=0),
        Column("stage", pa.string(), "train or val", allowed=("train", "val")),
        Column("metric", pa.string(), "loss, acc, auroc (classification); loss, mse, mae (regression)"),
        Column("value", pa.float64(), "value at the end of the epoch"),
    ),
)


def _predictions(level: str, description: str, outputs: tuple[Column, ...]) -> TableSchema:
    """Rows of the validation and test roles, per fold, at sample or patient level, with ``outputs``."""
    key = ("sample_id",) if level == "sample" else ("patient_key", "fold", "role")
    first = (Column("sample_id", pa.string(), "prepared sample"),) if level == "sample" else ()
    return TableSchema(
        name="predictions" if level == "sample" else "patient_predictions",
        version=1,
        description=f"{level}-level {description} of the validation and test roles, per fold"
                    + ("" if level == "sample" else " (mean over the patient's samples)"),
        key=("study", *key, "fold") if level == "sample" else ("study", *key),
        columns=(
            Column("study", pa.string(), "study name"),
            *first,
            Column("patient_key", pa.string(), "pseudonymised patient"),
            Column("fold", pa.int64(), "fold", min=0),
            Column("role", pa.string(), "val or test", allowed=("val", "test")),
            *outputs,
            Column("checkpoint_sha256", pa.string(), "sha256 of the weights of the checkpoint that made the prediction"),
        ),
    )


def predictions_schema(classes: list[str], level: str = "sample", true_classes: list[str] | None = None) -> TableSchema:
    """Predictions with one probability column per class (declared per study's classes).
    ``true_classes``: the values y_true may take when they are more than the model's classes
    (`cardiolens predict` on recordings of a class the model was not trained on); given, y_true
    may also be null (a `cardiolens predict` run's unlabelled recordings)."""
    return _predictions(level, "predictions", (
        Column("y_true", pa.string(), "true class (null: an unlabelled recording of a `cardiolens predict` run)",
               allowed=tuple(true_classes or classes), nullable=true_classes is not None),
        *(Column(f"p_{c}", pa.float64(), f"probability of {c}", min=0, max=1) for c in classes),
        Column("y_pred", pa.string(), "argmax class", allowed=tuple(classes)),
    ))


def regression_predictions_schema(targets: list[str], level: str = "sample") -> TableSchema:
    """Regression predictions: the true and predicted value of every target (``true_<t>``, ``pred_<t>``)."""
    return _predictions(level, "regression predictions", (
        *(Column(f"true_{t}", pa.float64(), f"true {t}") for t in targets),
        *(Column(f"pred_{t}", pa.float64(), f"predicted {t}") for t in targets),
    ))


def _share(name: str, what: str) -> Column:
    return Column(name, pa.float64(), f"share of the map's attribution {what} (NaN when the ROI is empty)", nullable=True, min=0, max=1)


ATTRIBUTION = TableSchema(
    name="attribution",
    version=1,
    description="One row per sample x method x target: where the attribution map falls and how faithful it is.",
    key=("study", "fold", "sample_id", "method", "target_kind", "target"),
    columns=(
        Column("study", pa.string(), "study name"),
        Column("fold", pa.int64(), "fold", min=0),
        Column("role", pa.string(), "role of the sample's patient in this fold", allowed=("train", "val", "test")),
        Column("sample_id", pa.string(), "prepared sample"),
        Column("recording_id", pa.string(), "source recording"),
        Column("patient_key", pa.string(), "pseudonymised patient"),
        Column("label", pa.string(), "true class (classification) or the study label (regression); null: an unlabelled "
               "recording of a `cardiolens predict` run", nullable=True),
        Column("y_pred", pa.string(), "predicted class (null for regression)", nullable=True),
        Column("correct", pa.bool_(), "prediction equals the label (null for regression)", nullable=True),
        Column("method", pa.string(), "Captum method", allowed=("gradcam", "gradcampp", "integrated_gradients", "occlusion",
                                                                 "guided_gradcam", "saliency")),
        Column("target_kind", pa.string(), "what is explained", allowed=("predicted", "true", "output")),
        Column("target", pa.string(), "class (or regression output) explained"),
        Column("layer", pa.string(), "CAM layer(s), one per input ('' for input-gradient methods)"),
        Column("score", pa.float64(), "model's probability (regression: output) of the target"),
        Column("map_path", pa.string(), "maps file (.npy float16, (N, *map shape), [0, 1] per map)"),
        Column("map_index", pa.int64(), "row of the map in map_path", min=0),
        Column("raw_index", pa.int64(), "row of the layer-resolution CAM (before upsampling and normalisation) in raw_maps.npy",
               nullable=True, min=0),
        Column("map_axes", pa.string(), "meaning of the map's axes (the sample's, inputs first)"),
        Column("spacing", pa.list_(pa.float64()), "physical spacing of the map's axes (the sample's)"),
        _share("mass_heart", "inside the heart"),
        Column("mass_heart_uniform", pa.float64(), "chance level of mass_heart: the heart's share of the input locations that "
               "are not black, i.e. not exactly 0 in the prepared array (a map spread evenly over them; background zeroed by "
               "background_mm, crop padding and intensities clipped to 0 do not count); NaN when the ROI is empty or "
               "nothing is visible", nullable=True, min=0, max=1),
        _share("mass_lv", "inside the LV cavity"),
        _share("mass_myocardium", "inside the myocardium"),
        _share("mass_septum", "inside the septum"),
        _share("mass_septum_window", "inside the septum band x MVC-AVO window (M-mode)"),
        _share("mass_base", "inside the basal third of the LV (clips)"),
        _share("mass_apex", "inside the apical third of the LV (clips)"),
        _share("mass_outside_heart", "outside the heart dilated by outside_heart.margin_px"),
        _share("top_outside_heart", "'s top_fraction most attributed locations lying outside the dilated heart"),
        Column("outside_heart", pa.bool_(), "top_outside_heart above outside_heart.threshold (null without a heart ROI)",
               nullable=True),
        Column("pointing_roi", pa.string(), "ROI bits (joined by &) of the pointing game"),
        Column("pointing_hit", pa.bool_(), "a map maximum within the tolerance of the pointing ROI (null: empty ROI)", nullable=True),
        Column("entropy", pa.float64(), "normalised Shannon entropy of the map (1 = uniform)", nullable=True, min=0, max=1),
        Column("gini", pa.float64(), "Gini coefficient of the map (0 = uniform)", nullable=True, min=0, max=1),
        Column("deletion_auc", pa.float64(), "area under the score while the most attributed locations are removed (low = faithful)"),
        Column("insertion_auc", pa.float64(), "area under the score while they are inserted into the baseline (high = faithful)"),
        Column("temporal_profile", pa.list_(pa.float64()), "share of the attribution per frame (clips)", nullable=True),
        Column("input_mass", pa.list_(pa.float64()), "share of the attribution per input, [ED, ES] (dual input)", nullable=True),
        Column("marker", pa.bool_(), "the recording carries the synthetic shortcut marker (ground truth; null if unknown)",
               nullable=True),
        Column("checkpoint_sha256", pa.string(), "sha256 of the weights explained"),
    ),
)

SANITY = TableSchema(
    name="sanity",
    version=1,
    description="Model-parameter randomisation check (Adebayo et al. 2018): trained vs randomised maps per sample.",
    key=("study", "fold", "sample_id", "method"),
    columns=(
        Column("study", pa.string(), "study name"),
        Column("fold", pa.int64(), "fold", min=0),
        Column("sample_id", pa.string(), "prepared sample"),
        Column("method", pa.string(), "Captum method"),
        Column("target", pa.string(), "class (or output) explained: the trained model's prediction"),
        Column("spearman", pa.float64(), "Spearman rank correlation of the two maps over the locations where the prepared "
               "input is not black; null (NaN) when the trained map is constant or near-constant before normalisation "
               "(degenerate: max - min == 0 or < 1e-6 x max |value|) or constant over those locations, which counts as a "
               "failed check; 0 when only the randomised map is", nullable=True, min=-1, max=1),
        Column("randomisation", pa.string(), "which weights were re-initialised", allowed=("full",)),
        Column("checkpoint_sha256", pa.string(), "sha256 of the trained weights"),
    ),
)

SEGMENT_SUMMARY = TableSchema(
    name="segment_summary",
    version=1,
    description="Held-out segmentation accuracy per model, phase (ED, ES, other, all) and structure; patient-level means "
                "(a patient's frames averaged first).",
    columns=(
        Column("model", pa.string(), "segmentation model"),
        Column("phase", pa.string(), "ED, ES, other or all", allowed=("ED", "ES", "other", "all")),
        Column("structure", pa.string(), "structure"),
        Column("patients", pa.int64(), "held-out patients (the unit)", min=0),
        Column("frames", pa.int64(), "held-out frames x slices", min=0),
        Column("dice_mean", pa.float64(), "mean over patients of the patient's mean Dice", nullable=True),
        Column("dice_median", pa.float64(), "median over patients of the patient's mean Dice", nullable=True),
        Column("hd95_mean_mm", pa.float64(), "mean over patients of the patient's mean HD95, mm", nullable=True),
        Column("hd95_median_mm", pa.float64(), "median over patients of the patient's mean HD95, mm", nullable=True),
        Column("dice_volume_mean", pa.float64(), "mean over patients of the Dice of whole frames, all slices of a stack's "
               "time point pooled (3-D Dice, the ACDC challenge's metric; equals the frame Dice for 2-D)", nullable=True),
    ),
)

SEGMENT_QC = TableSchema(
    name="segment_qc",
    version=1,
    description="One row per recording given predicted masks: the model, the LV curve's phases and the quality control "
                "(cardiolens.segment.qc).",
    key=("recording_id",),
    columns=(
        Column("recording_id", pa.string(), "recording", unique=True),
        Column("patient_key", pa.string(), "patient"),
        Column("source", pa.string(), "input source"),
        Column("model", pa.string(), "segment_model (see recordings)"),
        Column("phase_method", pa.string(), "how ED/ES were found: r_peaks, autocorrelation, partial or flat"),
        Column("ed_frames", pa.list_(pa.int64()), "ED frames (largest LV area per cycle)"),
        Column("es_frames", pa.list_(pa.int64()), "ES frames (smallest LV area per cycle)"),
        Column("period_ms", pa.float64(), "dominant period of the LV curve, ms", nullable=True),
        Column("qc_pass", pa.bool_(), "all checks passed"),
        Column("qc_reasons", pa.string(), "failed checks, JSON list of [code, message]"),
        Column("metrics", pa.string(), "QC measurements, JSON object (fac, periodicity, component shares, frame Dice)"),
        Column("figure", pa.string(), "LV area curve figure (PNG), when drawn", nullable=True),
    ),
)


SEGMENT_METRICS = TableSchema(
    name="segment_metrics",
    version=1,
    description="Held-out segmentation accuracy: one row per model, fold, held-out frame (and slice) and structure, "
                "on the source grid (cardiolens.segment.evaluate).",
    columns=(
        Column("model", pa.string(), "segmentation model (segment.models.<name>)"),
        Column("fold", pa.int64(), "fold whose model never saw this patient", min=0),
        Column("patient_key", pa.string(), "held-out patient"),
        Column("recording_id", pa.string(), "recording"),
        Column("source", pa.string(), "input source"),
        Column("frame", pa.int64(), "0-based frame", min=0),
        Column("slice", pa.int64(), "slice (0 for 2D+t)", min=0),
        Column("phase", pa.string(), "ED, ES or other", allowed=("ED", "ES", "other")),
        Column("structure", pa.string(), "structure (cardiolens.labels names; the septum counts as myocardium)"),
        Column("dice", pa.float64(), "Dice coefficient; null when the structure is in neither mask", nullable=True, min=0, max=1),
        Column("hd95_mm", pa.float64(), "95th-percentile Hausdorff distance, mm (pixels when the source has no spacing); "
               "null when either mask lacks the structure", nullable=True, min=0),
        Column("ref_pixels", pa.int64(), "pixels of the structure in the reference", min=0),
        Column("pred_pixels", pa.int64(), "pixels of the structure in the prediction", min=0),
    ),
)

ATTRIBUTION_SUMMARY = TableSchema(
    name="attribution_summary",
    version=1,
    description="Per study, method and target kind, for groups of samples: localisation, faithfulness, outside-the-heart "
                "rate and the sanity check.",
    key=("study", "method", "target_kind", "group"),
    columns=(
        Column("study", pa.string(), "study name"),
        Column("method", pa.string(), "Captum method"),
        Column("target_kind", pa.string(), "predicted, true or output"),
        Column("group", pa.string(), "all, correct, incorrect, class=<c>, marker, no_marker"),
        Column("n", pa.int64(), "maps in the group", min=0),
        Column("outside_heart_rate", pa.float64(), "share of the group's maps flagged outside the heart", nullable=True, min=0, max=1),
        Column("pointing_hit_rate", pa.float64(), "share of pointing-game hits (maps with a pointing ROI)", nullable=True, min=0, max=1),
        Column("mass_heart_mean", pa.float64(), "mean share inside the heart", nullable=True),
        Column("mass_heart_sd", pa.float64(), "its standard deviation", nullable=True),
        Column("deletion_auc_mean", pa.float64(), "mean deletion AUC", nullable=True),
        Column("insertion_auc_mean", pa.float64(), "mean insertion AUC", nullable=True),
        Column("sanity_spearman_median", pa.float64(), "median trained-vs-randomised rank correlation of the method (all folds), "
               "over its non-degenerate map pairs (null when all are degenerate)", nullable=True),
        Column("sanity_passed", pa.bool_(), "the median over all map pairs, a degenerate (constant) pair counting as a failure, "
               "is below sanity.threshold: false when the method's maps are constant", nullable=True),
    ),
)


def _c(name: str, dtype: pa.DataType, description: str, nullable: bool = False, **kw) -> Column:
    return Column(name, dtype, description, nullable=nullable, **kw)


_F, _S, _I, _B = pa.float64(), pa.string(), pa.int64(), pa.bool_()

PERFORMANCE = TableSchema(
    name="performance",
    version=2,
    description="Per study, level (sample/patient), role and fold (or pooled / mean across folds): one metric value "
                "with a CI that counts patients (Wilson for a proportion of patients, else a patient-cluster bootstrap; "
                "ci_method says which, or why there is none) (stats stage).",
    key=("study", "level", "role", "scope", "fold", "metric", "class"),
    columns=(
        _c("study", _S, "study name"),
        _c("task", _S, "classification or regression", allowed=("classification", "regression")),
        _c("level", _S, "sample or patient", allowed=("sample", "patient")),
        _c("role", _S, "split role scored", allowed=("train", "val", "test")),
        _c("scope", _S, "fold (one fold), pooled (all folds' predictions), across_folds (mean and SD of fold values)",
           allowed=("fold", "pooled", "across_folds")),
        _c("fold", _I, "fold (null for pooled and across_folds)", True, min=0),
        _c("metric", _S, "accuracy, balanced_accuracy, auc, sensitivity, specificity; mae, rmse, spearman (regression)"),
        _c("class", _S, "class (per-class metrics) or regression target; null for overall metrics", True),
        _c("value", _F, "the metric (mean across folds for scope across_folds); NaN when undefined", True),
        _c("sd", _F, "SD across folds (scope across_folds only)", True),
        _c("ci_low", _F, "lower bound of the CI (stats.bootstrap.confidence); null where there is none (ci_method)", True),
        _c("ci_high", _F, "upper bound of the CI", True),
        _c("ci_method", _S, "how the CI was computed (Wilson; patient-cluster bootstrap, percentile), or 'none: <why>' "
                            "(a degenerate bootstrap, too few patients, a mean across folds)"),
        _c("ci_level", _F, "confidence level of the CIs (stats.bootstrap.confidence, e.g. 0.95)", min=0, max=1),
        _c("unit", _S, "unit of independence the CI counts: patient (fold for across_folds rows)",
           allowed=("patient", "fold")),
        _c("n_units", _I, "units: patients scored (folds for across_folds rows)", min=0),
        _c("n_samples", _I, "rows scored", min=0),
        _c("n_patients", _I, "patients scored", min=0),
    ),
)

CONFUSION = TableSchema(
    name="confusion",
    version=1,
    description="Confusion-matrix cells per study, level, role and fold; fold null = summed across folds.",
    key=("study", "level", "role", "fold", "true", "pred"),
    columns=(_c("study", _S, "study name"), _c("level", _S, "sample or patient"), _c("role", _S, "split role"),
             _c("fold", _I, "fold, null for the sum across folds", True), _c("true", _S, "true class"),
             _c("pred", _S, "predicted class"), _c("count", _I, "predictions in the cell", min=0)),
)

SUBGROUPS = TableSchema(
    name="subgroups",
    version=1,
    description="Performance by sex and age tertile (pooled over folds), with CIs that count patients (ci_method).",
    key=("study", "level", "role", "subgroup", "value", "metric"),
    columns=(_c("study", _S, "study name"), _c("level", _S, "sample or patient"), _c("role", _S, "split role"),
             _c("subgroup", _S, "sex or age_tertile"), _c("value", _S, "subgroup value (tertile with its age range)"),
             _c("metric", _S, "accuracy, balanced_accuracy or mae"), _c("estimate", _F, "metric value", True),
             _c("ci_low", _F, "CI lower bound; null where there is none (ci_method)", True), _c("ci_high", _F, "CI upper bound", True),
             _c("ci_method", _S, "Wilson (a proportion of patients), patient-cluster bootstrap, or 'none: <why>'"),
             _c("unit", _S, "unit of independence: patient", allowed=("patient",)), _c("n_units", _I, "patients", min=0),
             _c("n_samples", _I, "rows", min=0), _c("n_patients", _I, "patients", min=0)),
)

COHORT = TableSchema(
    name="cohort",
    version=1,
    description="Table 1 of a study by label: counts and percentages, mean ± SD or median [IQR], with the test per covariate "
                "(one value per patient).",
    key=("variable", "category", "group"),
    columns=(_c("variable", _S, "covariate (n = group size)"), _c("kind", _S, "count, categorical or continuous"),
             _c("category", _S, "category of a categorical covariate", True), _c("group", _S, "study class, or all"),
             _c("n", _I, "patients (in the category, or with a value)", min=0), _c("percent", _F, "percentage within the group", True),
             _c("summary", _S, "the cell as printed"), _c("mean", _F, "mean", True), _c("sd", _F, "SD", True),
             _c("median", _F, "median", True), _c("q1", _F, "25th percentile", True), _c("q3", _F, "75th percentile", True),
             _c("n_missing", _I, "patients without a value", min=0), _c("test", _S, "test name", True),
             _c("statistic", _F, "test statistic (chi-square, F, H or t; the odds ratio for Fisher's exact test, infinite with a zero cell)", True), _c("dof", _F, "degrees of freedom", True),
             _c("p_value", _F, "p-value", True, min=0, max=1),
             _c("unit", _S, "unit of independence tested: patient", allowed=("patient",)),
             _c("n_units", _I, "patients in the table (with a group)", min=0),
             _c("n_samples", _I, "the study's samples of those patients", min=0)),
)

_GROUP_TEST_COLUMNS = (
    _c("measure", _S, "measured column"), _c("group_col", _S, "grouping column"), _c("group_a", _S, "first group"),
    _c("group_b", _S, "second group"), _c("n_a", _I, "values in group a", min=0), _c("n_b", _I, "values in group b", min=0),
    _c("mean_a", _F, "mean in a", True), _c("sd_a", _F, "SD in a", True), _c("mean_b", _F, "mean in b", True),
    _c("sd_b", _F, "SD in b", True), _c("median_a", _F, "median in a", True), _c("median_b", _F, "median in b", True),
    _c("test", _S, "student, welch or mannwhitney"), _c("statistic", _F, "t or U", True),
    _c("p_value", _F, "two-sided p-value", True, min=0, max=1), _c("effect_size", _F, "Hedges' g or rank-biserial r", True),
    _c("effect_size_name", _S, "which effect size", True), _c("correction", _S, "holm, fdr_bh or none"),
    _c("p_adjusted", _F, "p-value corrected across every row of the table", True, min=0, max=1),
    _c("note", _S, "why a row has no test (a group with fewer than two values), else null", True),
)

ATTRIBUTION_TESTS = TableSchema(
    name="attribution_tests",
    version=2,
    description="Attribution measures, correct vs incorrect predictions, per method and target kind (group comparison) on "
                "one value per patient and group: the mean of its maps (n_a, n_b count patients).",
    key=("study", "method", "target_kind", "measure", "group_a", "group_b"),
    columns=(_c("study", _S, "study name"), _c("method", _S, "Captum method"), _c("target_kind", _S, "predicted, true or output"))
    + _GROUP_TEST_COLUMNS
    + (_c("unit", _S, "unit of independence tested: patient", allowed=("patient",)),
       _c("n_units", _I, "patients with a value of the measure", min=0),
       _c("n_units_both", _I, "of those, patients in both groups (their two means are not independent)", min=0),
       _c("n_samples", _I, "maps with a value of the measure", min=0)),
)

ATTRIBUTION_GROUPS = TableSchema(
    name="attribution_groups",
    version=2,
    description="Attribution metrics by class and correctness (means and SDs over maps); outside-the-heart rate over maps "
                "with a patient-cluster bootstrap CI (Clopper-Pearson over patients at a rate of 0 or 1); the heart mass as "
                "a mean of per-patient means with a patient bootstrap CI, its chance level and the excess over it.",
    key=("study", "method", "target_kind", "class", "correct"),
    columns=(_c("study", _S, "study name"), _c("method", _S, "Captum method"), _c("target_kind", _S, "target kind"),
             _c("class", _S, "true class, or all"), _c("correct", _B, "prediction correct"), _c("n", _I, "maps", min=0),
             _c("outside_heart_rate", _F, "share flagged outside the heart", True, min=0, max=1),
             _c("outside_heart_ci_low", _F, "CI lower bound (patient-cluster bootstrap; Clopper-Pearson over patients at a rate "
                "of 0 or 1); null where there is none (ci_method)", True),
             _c("outside_heart_ci_high", _F, "CI upper bound", True),
             _c("ci_method", _S, "how the outside-the-heart CI was computed, or 'none: <why>'"),
             _c("unit", _S, "unit of independence the CI counts: patient", allowed=("patient",)),
             _c("n_units", _I, "patients with a map with a heart ROI", min=0),
             _c("n_samples", _I, "maps with a heart ROI (the rate's denominator)", min=0),
             _c("pointing_hit_rate", _F, "pointing-game hit rate", True, min=0, max=1),
             _c("mass_heart_patient_mean", _F, "share of attribution inside the heart, mean over patients of each patient's "
                "mean over its maps", True, min=0, max=1),
             _c("mass_heart_ci_low", _F, "its patient bootstrap CI lower bound (percentile); null where there is none "
                "(mass_heart_ci_method says why)", True),
             _c("mass_heart_ci_high", _F, "its CI upper bound", True),
             _c("mass_heart_ci_method", _S, "how the heart-mass and excess CIs were computed, or 'none: <why>' (fewer "
                "than 5 patients, every replicate equal)", True),
             _c("mass_heart_uniform_patient_mean", _F, "the same mean of mass_heart_uniform: the chance level, a map spread "
                "evenly over the input that is not black (the null of methods that give black locations nothing, such as "
                "integrated gradients from the black baseline); null unless every map has one", True, min=0, max=1),
             _c("mass_heart_excess_patient_mean", _F, "mean over patients of mass_heart minus mass_heart_uniform (each "
                "patient's means): how far the maps prefer the heart over what the network sees", True, min=-1, max=1),
             _c("mass_heart_excess_ci_low", _F, "its patient bootstrap CI lower bound (percentile, paired within patients); "
                "null where there is none", True),
             _c("mass_heart_excess_ci_high", _F, "its CI upper bound", True),
             _c("mass_heart_n_units", _I, "patients with a heart mass (the CIs' n)", min=0))
    + tuple(_c(f"{m}_{s}", _F, f"{'mean' if s == 'mean' else 'SD'} of {m}", True)
            for m in ("mass_heart", "mass_outside_heart", "mass_septum_window", "mass_base", "mass_apex", "entropy", "gini",
                      "deletion_auc", "insertion_auc") for s in ("mean", "sd")),
)

QUALITY = TableSchema(
    name="quality",
    version=1,
    description="Regional image quality per recording (ED frame) and myocardial region: CR, CNR, gCNR (kernel density "
                "estimate) against the LV lumen after histogram matching of the sector to N(127, 32), with a permutation test "
                "of the gCNR.",
    key=("recording_id", "region"),
    columns=(_c("study", _S, "study name"), _c("recording_id", _S, "recording"), _c("patient_key", _S, "patient"),
             _c("frame", _I, "0-based frame measured (ED)", min=0), _c("region", _S, "myocardial region"),
             _c("n_pixels", _I, "pixels in the region", min=0), _c("cr_db", _F, "contrast ratio, dB", True),
             _c("cnr", _F, "contrast-to-noise ratio", True), _c("gcnr", _F, "generalised CNR (0..1)", True, min=0, max=1),
             _c("gcnr_p", _F, "permutation p-value of the gCNR (region and lumen pixels reshuffled): the unit is the pixel, so "
                "it is descriptive (above the estimator's noise floor when < 0.05), anti-conservative under correlated speckle, "
                "not an inference over patients", True, min=0, max=1),
             _c("gcnr_null95", _F, "95th percentile of the gCNR's permutation null", True, min=0, max=1),
             _c("grade", _F, "ground-truth regional grade (1 poor .. 3 good), synthetic data", True),
             _c("quality", _S, "dataset's per-view image quality (CAMUS ImageQuality)", True)),
)

QUALITY_CORRELATION = TableSchema(
    name="quality_correlation",
    version=1,
    description="Spearman correlation of each regional quality metric with the quality labels, one pair per patient "
                "(means over its recordings; region all: over its regions too).",
    key=("study", "region", "metric", "label"),
    columns=(_c("study", _S, "study name"), _c("region", _S, "region, or all"), _c("metric", _S, "cr_db, cnr or gcnr"),
             _c("label", _S, "grade (per region) or quality (per view)"), _c("n", _I, "pairs (one per patient)", min=0),
             _c("rho", _F, "Spearman's rho", True), _c("p_value", _F, "p-value", True, min=0, max=1),
             _c("unit", _S, "unit of independence paired: patient", allowed=("patient",)),
             _c("n_units", _I, "patients paired (= n)", min=0),
             _c("n_samples", _I, "region measurements with both values behind the pairs", min=0)),
)

COMPARISONS = TableSchema(
    name="comparisons",
    version=1,
    description="Declared model comparisons on paired patient-level predictions: McNemar and DeLong.",
    key=("comparison", "level", "role", "test", "class"),
    columns=(_c("comparison", _S, "comparison name (config comparisons[].name)"), _c("study_a", _S, "first study"),
             _c("study_b", _S, "second study"), _c("level", _S, "patient (sample level is refused)", allowed=("patient",)),
             _c("role", _S, "split role"),
             _c("test", _S, "mcnemar or delong"), _c("class", _S, "positive class (DeLong)", True),
             _c("n_pairs", _I, "paired predictions", min=0), _c("statistic", _F, "chi-square / binomial count or z", True),
             _c("p_value", _F, "p-value", True, min=0, max=1), _c("estimate_a", _F, "AUC of a (DeLong)", True),
             _c("estimate_b", _F, "AUC of b (DeLong)", True), _c("a_only_correct", _I, "pairs only a got right (McNemar)", True),
             _c("b_only_correct", _I, "pairs only b got right (McNemar)", True),
             _c("ci_low", _F, "CI lower bound of estimate_a - estimate_b (DeLong: asymptotic normal, clipped to [-1, 1])", True),
             _c("ci_high", _F, "CI upper bound of estimate_a - estimate_b (DeLong)", True),
             _c("ci_method", _S, "how the CI was computed, or 'none: <why>'"),
             _c("unit", _S, "unit of independence paired: patient", allowed=("patient",)),
             _c("n_units", _I, "patients paired", min=0),
             _c("n_samples", _I, "sample predictions of study a behind the paired patients", min=0)),
)


_LF = pa.list_(pa.float64())

MOTION = TableSchema(
    name="motion",
    version=1,
    description="Regional motion per echo recording and A4C segment over one cardiac cycle (ITK diffeomorphic demons): "
                "longitudinal displacement of the segment's anchor point and strain of its mid-wall polyline.",
    key=("recording_id", "segment"),
    columns=(_c("study", _S, "study name"), _c("recording_id", _S, "recording"), _c("patient_key", _S, "patient"),
             _c("label", _S, "the recording's value of the study label", True), _c("view", _S, "acquisition view"),
             _c("segment", _S, "A4C segment (ASE names)"), _c("wall", _S, "septal or lateral", allowed=("septal", "lateral")),
             _c("level", _S, "basal, mid or apical", allowed=("basal", "mid", "apical")),
             _c("window", _S, "frames tracked", allowed=("r_peak_to_r_peak", "ed_to_end", "ed_es")),
             _c("frames", pa.list_(_I), "0-based recording frames tracked (the first is ED, the reference)"),
             _c("frame_time_ms", _F, "time between frames (null when the dataset has no timing)", True, min=1e-3),
             _c("anchor_x_mm", _F, "ED position of the anchor point, x (mm)"), _c("anchor_y_mm", _F, "ED position of the anchor point, y (mm)"),
             _c("displacement_mm", _LF, "longitudinal displacement of the anchor per tracked frame, mm, + towards the apex"),
             _c("displacement_px", _LF, "the same in pixels of the recording"),
             _c("strain", _LF, "Lagrangian strain of the segment's mid-wall polyline per tracked frame"),
             _c("peak_systolic_mm", _F, "peak (maximum) longitudinal displacement, mm"),
             _c("peak_systolic_px", _F, "peak longitudinal displacement, pixels"),
             _c("peak_systolic_frame", _F, "frames after ED at which 95 % of the peak is first reached (null: two-point)", True, min=0),
             _c("peak_systolic_ms", _F, "the same in ms (null without timing)", True, min=0),
             _c("peak_diastolic_mm", _F, "largest return towards the base after the peak, mm (null: two-point)", True),
             _c("peak_diastolic_px", _F, "the same in pixels", True),
             _c("end_displacement_mm", _F, "displacement at the last tracked frame: drift when it is the next R peak", True),
             _c("peak_strain", _F, "most negative strain"), _c("peak_strain_frame", _F, "frames after ED to 95 % of it", True, min=0),
             _c("tracking_spacing_mm", _F, "pixel size of the tracking grid", min=1e-4),
             _c("method", _S, "motion estimator and its settings")),
)

MOTION_PATIENTS = TableSchema(
    name="motion_patients",
    version=1,
    description="Per patient and segment: how the segment moved (means over the patient's recordings) and where the network "
                "looked (saliency mass on the LV base and apex, mean over the patient's attributed samples).",
    key=("study", "patient_key", "segment"),
    columns=(_c("study", _S, "study name"), _c("patient_key", _S, "patient"), _c("label", _S, "the patient's study label"),
             _c("segment", _S, "A4C segment"), _c("wall", _S, "septal or lateral"), _c("level", _S, "basal, mid or apical"),
             _c("n_recordings", _I, "recordings measured", min=1),
             _c("peak_systolic_mm", _F, "mean peak systolic displacement, mm"),
             _c("peak_systolic_px", _F, "mean peak systolic displacement, pixels"),
             _c("peak_diastolic_mm", _F, "mean peak diastolic displacement, mm", True),
             _c("peak_strain", _F, "mean peak strain"),
             _c("saliency_method", _S, "attribution method joined"),
             _c("n_attributed", _I, "attributed samples of the patient (0: not in an attributed role)", min=0),
             _c("correct_fraction", _F, "share of those samples predicted correctly", True, min=0, max=1),
             _c("saliency_base", _F, "mean attribution share on the basal third of the LV", True, min=0, max=1),
             _c("saliency_apex", _F, "mean attribution share on the apical third of the LV", True, min=0, max=1),
             _c("saliency_level", _F, "the share on this segment's level (base for basal, apex for apical; null for mid)",
                True, min=0, max=1)),
)

MOTION_GROUPS = TableSchema(
    name="motion_groups",
    version=2,
    description="Motion measures compared between the study's classes, patient level (the seed's mean +- SD with p-values): "
                "one value per patient, the mean over its recordings.",
    key=("study", "segment", "measure", "group_a", "group_b"),
    columns=(_c("study", _S, "study name"), _c("segment", _S, "A4C segment")) + _GROUP_TEST_COLUMNS
    + (_c("unit", _S, "unit of independence tested: patient", allowed=("patient",)),
       _c("n_units", _I, "patients compared (n_a + n_b)", min=0),
       _c("n_samples", _I, "recordings behind those patients' values", min=0)),
)

_VOLUME = "at {phase}, voxel count x dx*dy*dz over the measured slices (Simpson's summation), ml"
_PER_M2 = "divided by bsa_m2 (null without height or weight)"

INDICES = TableSchema(
    name="indices",
    version=1,
    description="Cardiac indices of a short-axis cine-MR stack, one row per patient (cardiolens.measure.indices): LV and RV "
                "volumes and ejection fractions, LV mass, wall thickness along rays from the LV-cavity centroid, indexed by "
                "body-surface area (Mosteller). Slices with unlabelled pixels at ED or ES are left out of both frames.",
    key=("patient_key",),
    columns=(
        _c("patient_key", _S, "pseudonymised patient", unique=True),
        _c("recording_id", _S, "short-axis recording measured"),
        _c("mask_source", _S, "expert (the dataset's ground truth) or predicted (a segmentation model's)",
           allowed=("expert", "predicted")),
        _c("ed_frame", _I, "0-based end-diastolic frame of the recording", min=0),
        _c("es_frame", _I, "0-based end-systolic frame of the recording", min=0),
        _c("n_slices", _I, "slices measured: labelled at both ED and ES", min=1),
        _c("height_cm", _F, "height, cm", True, min=30, max=260),
        _c("weight_kg", _F, "weight, kg", True, min=1, max=400),
        _c("bsa_m2", _F, "body-surface area sqrt(height_cm * weight_kg / 3600), m^2 (Mosteller, NEJM 1987); null without "
           "height or weight", True, min=0),
        _c("lv_edv_ml", _F, "LV end-diastolic volume: LV cavity " + _VOLUME.format(phase="ED"), min=0),
        _c("lv_esv_ml", _F, "LV end-systolic volume: LV cavity " + _VOLUME.format(phase="ES"), min=0),
        _c("lv_sv_ml", _F, "LV stroke volume lv_edv_ml - lv_esv_ml, ml (negative: ES mask larger than ED)"),
        _c("lv_ef_percent", _F, "LV ejection fraction 100 * lv_sv_ml / lv_edv_ml, % (negative: ES mask larger)", max=100),
        _c("rv_edv_ml", _F, "RV end-diastolic volume: RV cavity " + _VOLUME.format(phase="ED"), min=0),
        _c("rv_esv_ml", _F, "RV end-systolic volume: RV cavity " + _VOLUME.format(phase="ES"), min=0),
        _c("rv_ef_percent", _F, "RV ejection fraction, % (null without RV at ED)", True, max=100),
        _c("lv_mass_g", _F, "LV mass: ED myocardium (septum included) volume x 1.05 g/ml, g", min=0),
        _c("myo_thickness_max_mm", _F, "largest ED wall thickness of any ray of any slice (the maximum over slices of the "
           "per-slice maximum), mm; radial, so an upper bound where a ray crosses the wall obliquely (null: no ray measured)",
           True, min=0),
        _c("myo_thickness_mean_mm", _F, "mean ED wall thickness over all measured rays, mm", True, min=0),
        _c("myo_thickness_max_es_mm", _F, "largest ES wall thickness, mm", True, min=0),
        _c("myo_thickness_sd_mm", _F, "ED wall-thickness spread: standard deviation of a slice's ray thicknesses, "
           "mean over the slices with at least half their rays measured, mm (null: no such slice)", True, min=0),
        _c("myo_thickness_sd_es_mm", _F, "the same spread at ES, mm", True, min=0),
        _c("rv_lv_edv_ratio", _F, "rv_edv_ml / lv_edv_ml (null without RV at ED)", True, min=0),
        _c("lv_mass_edv_ratio", _F, "lv_mass_g / lv_edv_ml, g/ml", min=0),
        _c("lv_edv_ml_per_m2", _F, "lv_edv_ml " + _PER_M2 + ", ml/m^2", True, min=0),
        _c("lv_esv_ml_per_m2", _F, "lv_esv_ml " + _PER_M2 + ", ml/m^2", True, min=0),
        _c("rv_edv_ml_per_m2", _F, "rv_edv_ml " + _PER_M2 + ", ml/m^2", True, min=0),
        _c("rv_esv_ml_per_m2", _F, "rv_esv_ml " + _PER_M2 + ", ml/m^2", True, min=0),
        _c("lv_mass_g_per_m2", _F, "lv_mass_g " + _PER_M2 + ", g/m^2", True, min=0),
    ),
)

_ROLE = _c("role", _S, "role of the patient in this fold (val or test: the classifier learnt from the others)", allowed=("val", "test"))

INDICES_EXPLANATIONS = TableSchema(
    name="indices_explanations",
    version=1,
    description="Per patient, fold and class explained: how each cardiac index moved the indices classifier's probability "
                "(cardiolens.attribute.feature_ablation): p(class | patient) - p(class | patient with the index replaced by "
                "the training median), Captum FeatureAblation. The predicted class of every val/test patient; the true "
                "class too where the prediction is wrong.",
    key=("study", "patient_key", "fold", "role", "target_kind", "feature"),
    columns=(_c("study", _S, "study name"), _c("patient_key", _S, "patient"), _c("fold", _I, "fold", min=0), _ROLE,
             _c("y_true", _S, "true class"), _c("y_pred", _S, "predicted class"),
             _c("target_kind", _S, "which class is explained", allowed=("predicted", "true")),
             _c("target", _S, "class explained"), _c("score", _F, "probability of that class", min=0, max=1),
             _c("feature", _S, "index (a column of the indices table)"), _c("name", _S, "the index as a clinician reads it"),
             _c("value", _F, "the patient's value (null: not measured, imputed by the training median)", True),
             _c("unit", _S, "unit of value and reference ('' for a ratio)"),
             _c("reference", _F, "median of the index over the fold's training patients (the ablation baseline)", True),
             _c("contribution", _F, "score minus the class probability with the index set to the reference: > 0 moves "
                "the prediction towards the class", min=-1, max=1),
             _c("rank", _I, "1 = the largest contribution of this patient, fold and class", min=1)),
)

INDICES_DIAGNOSES = TableSchema(
    name="indices_diagnoses",
    version=1,
    description="Per patient and fold: the indices classifier's diagnosis and why, in a line a clinician reads (the indices "
                "that moved the prediction most towards the predicted class, with their values and the training medians).",
    key=("study", "patient_key", "fold", "role"),
    columns=(_c("study", _S, "study name"), _c("patient_key", _S, "patient"), _c("fold", _I, "fold", min=0), _ROLE,
             _c("y_true", _S, "true class"), _c("y_pred", _S, "predicted class"),
             _c("probability", _F, "probability of the predicted class", min=0, max=1),
             _c("correct", _B, "y_pred equals y_true"),
             _c("explanation", _S, "e.g. 'DCM (p 0.91): LV EF 16.0 % (median 55.2, +0.31), ...': the top indices with value, "
                "unit, training median and contribution"),
             _c("model_sha256", _S, "sha256 of the fold's fitted classifier")),
)


SUMMARY = TableSchema(
    name="summary",
    version=3,
    description="The run's headline: one row per study, model and level (patient; sample where the study has several "
                "samples per patient): cohort, headline metrics of the final role with their CI, the attribution verdict "
                "and the warnings a reader must see. First page of the report; printed by `cardiolens summary`.",
    key=("study", "model", "level"),
    columns=(
        _c("study", _S, "study name"),
        _c("model", _S, "image: the study's network on its samples; indices: the classifier on the cardiac indices "
                        "(studies.<name>.indices), on the same splits; combined: the soft vote of the two",
           allowed=("image", "indices", "combined")),
        _c("task", _S, "classification or regression", allowed=("classification", "regression")),
        _c("label", _S, "the study's label (column of the clinical table or dataset metadata)"),
        _c("level", _S, "unit the metrics are computed on", allowed=("sample", "patient")),
        _c("role", _S, "split role scored (the last of stats.roles)", allowed=("train", "val", "test")),
        _c("split", _S, "split scheme (with the test sources of an external split) and number of folds, e.g. "
                        "'holdout, 1 fold', 'kfold, 6 folds' or 'external, test hospital_b, 1 fold'"),
        _c("n_patients", _I, "patients in the study (all roles)", min=0),
        _c("n_scored", _I, "units scored at this level in that role (pooled over folds)", min=0),
        _c("n_patients_scored", _I, "patients behind those units: the n of every CI (patient bootstrap)", min=0),
        _c("metric", _S, "headline metric: accuracy (classification) or mae (regression, mean over targets)"),
        _c("value", _F, "its value, pooled over folds", True),
        _c("ci_low", _F, "lower bound of its CI (stats.bootstrap.confidence)", True),
        _c("ci_high", _F, "upper bound", True),
        _c("metric_2", _S, "second metric: auc (classification) or spearman (regression)"),
        _c("value_2", _F, "its value", True),
        _c("ci_low_2", _F, "lower bound of its CI", True),
        _c("ci_high_2", _F, "upper bound", True),
        _c("ci_method", _S, "how the CIs were computed"),
        _c("ci_level", _F, "confidence level of the CIs (stats.bootstrap.confidence, e.g. 0.95)", True, min=0, max=1),
        _c("attribution_method", _S, "the study's gallery method (attribute.gallery.method; null when not attributed)", True),
        _c("sanity_passed", _B, "that method's maps change when the weights are randomised (Adebayo et al. 2018)", True),
        _c("outside_heart_rate", _F, "share of that method's maps (predicted class, all samples) flagged outside the heart",
           True, min=0, max=1),
        _c("pointing_hit_rate", _F, "its pointing-game hit rate where the study has a pointing ROI", True, min=0, max=1),
        _c("warnings", pa.list_(_S), "what a reader must check: possible shortcut, imbalance, failed sanity check, "
                                     "degenerate interval"),
    ),
)

ALL = {s.name: s for s in (RECORDINGS, PATIENTS, REJECTED, SEGMENT_METRICS, SEGMENT_SUMMARY, SEGMENT_QC, SAMPLES, SPLITS, LEAKAGE, BALANCE, HISTORY, ATTRIBUTION, SANITY,
                             ATTRIBUTION_SUMMARY, PERFORMANCE,
                             CONFUSION, SUBGROUPS, COHORT, ATTRIBUTION_TESTS, ATTRIBUTION_GROUPS, QUALITY, QUALITY_CORRELATION,
                             COMPARISONS, MOTION, MOTION_PATIENTS, MOTION_GROUPS, INDICES, INDICES_EXPLANATIONS, INDICES_DIAGNOSES,
                             SUMMARY)}
