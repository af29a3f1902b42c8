"""The patient header a synthetic echo machine burns into its images, above the imaging area.

Real consoles print the patient's name, ID, birth date and institution in a band above the
sector, in the same pixels as the image, and declare the imaging area in the DICOM
``SequenceOfUltrasoundRegions``. The synthetic cohort does the same
(:func:`cardiolens.synth.dicom_write.write_us_multiframe` prepends the band to the rendered
frames), so ingest must remove the text (:mod:`cardiolens.ingest.blanking`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cardiolens.synth.font import GLYPH_ROWS, draw_text
from cardiolens.synth.phi import PatientPHI

MARGIN = 2      # blank pixels around the text
LINE_GAP = 2    # blank rows between lines
LINES = 4       # name, ID, birth date, institution
HEADER_ROWS = 2 * MARGIN + LINES * GLYPH_ROWS + (LINES - 1) * LINE_GAP  # 38 rows
TEXT_VALUE = 255


def header_lines(phi: PatientPHI) -> list[str]:
    """The four header lines, upper case: family and given name, ID, birth date, institution."""
    family, given = phi.name.split("^")
    return [f"{family} {given}", f"ID {phi.patient_id}", f"DOB {phi.birth_date}", phi.institution]


def header_band(lines: list[str], cols: int) -> NDArray[np.uint8]:
    """(HEADER_ROWS, cols) uint8 band: black, with ``lines`` (at most :data:`LINES`) in bright text,
    each cut to the band's width."""
    if len(lines) > LINES:
        raise ValueError(f"header_band: {len(lines)} lines, the band holds {LINES}")
    band = np.zeros((HEADER_ROWS, cols), np.uint8)
    for k, line in enumerate(lines):
        draw_text(band[:, :cols - MARGIN], line, MARGIN + k * (GLYPH_ROWS + LINE_GAP), MARGIN, TEXT_VALUE)
    return band
