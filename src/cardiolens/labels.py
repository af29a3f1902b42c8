"""Canonical label codes of every mask cardiolens writes, whatever the source convention.

Septum is the septal part of the myocardium (interventricular), coded apart so the prepare and
attribute stages can use it directly; MYOCARDIUM is the rest of the LV wall.
"""

from __future__ import annotations

BACKGROUND = 0
LV_CAVITY = 1
MYOCARDIUM = 2
SEPTUM = 3
RV_CAVITY = 4
LEFT_ATRIUM = 5
RIGHT_ATRIUM = 6
#: Pixel or frame without annotation (e.g. ACDC frames other than ED/ES): neither organ nor background.
UNLABELLED = 255

NAMES = {
    BACKGROUND: "background",
    LV_CAVITY: "lv_cavity",
    MYOCARDIUM: "myocardium",
    SEPTUM: "septum",
    RV_CAVITY: "rv_cavity",
    LEFT_ATRIUM: "left_atrium",
    RIGHT_ATRIUM: "right_atrium",
    UNLABELLED: "unlabelled",
}

#: Label columns of their own in the recordings and patients tables: the labels the synthetic
#: cohort and the public datasets carry. Their values come from the data, not from code: the
#: synthetic cohort's (:data:`cardiolens.synth.cohort.LABEL_VALUES`), ACDC's Info.cfg Group
#: (:data:`cardiolens.ingest.adapters.acdc.GROUPS`), a clinical table's cells as written. A study
#: lists the classes it uses in its configuration (``studies.<name>.classes``); any other
#: clinical-table column is a label through ``clinical_labels`` the same way.
SEED_LABELS = ("septal_flash", "takotsubo_stemi", "cardiomyopathy")

#: Acquisition views ingest writes to the recordings column ``view`` (a fixed vocabulary: free-text
#: descriptions never reach the tables), plus ``unknown`` when the source does not say. A study's
#: ``views`` key takes these values (the configuration schema's enum lists the same).
VIEWS = ("A4C", "A2C", "PLAX", "SAX", "unknown")
