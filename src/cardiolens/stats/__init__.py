"""Statistics stage: performance with patient-bootstrap CIs, model comparisons, subgroups, Table 1,
group comparisons, regional image quality, and the figures drawn from those tables."""
