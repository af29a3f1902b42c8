"""Segment stage: label masks predicted for recordings without expert masks, their cardiac phases and QC."""
