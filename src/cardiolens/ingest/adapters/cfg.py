"""``key: value`` metadata files (ACDC Info.cfg, CAMUS Info_2CH.cfg / Info_4CH.cfg)."""

from __future__ import annotations

import math
from pathlib import Path

from cardiolens.ingest.model import Reject


def read_cfg(path: Path) -> dict[str, str]:
    """Parse ``key: value`` lines; a line without a colon or a repeated key is malformed."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")  # a byte-order mark is not part of the first key
    except (OSError, UnicodeDecodeError) as exc:
        raise Reject("malformed_metadata", f"{path.name}: unreadable ({type(exc).__name__})") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if ":" not in line:
            raise Reject("malformed_metadata", f"{path.name} line {n}: expected 'key: value'")
        key, value = (part.strip() for part in line.split(":", 1))
        if key in out:
            raise Reject("malformed_metadata", f"{path.name}: key {key!r} repeated")
        out[key] = value
    return out


def need_int(cfg: dict[str, str], key: str, name: str, minimum: int = 1) -> int:
    if key not in cfg:
        raise Reject("malformed_metadata", f"{name}: missing key {key!r}")
    try:
        number = float(cfg[key])
    except ValueError:
        number = float("nan")
    if not number.is_integer():  # also inf and nan
        raise Reject("malformed_metadata", f"{name}: {key} = {cfg[key]!r} is not an integer")
    value = int(number)
    if value < minimum:
        raise Reject("malformed_metadata", f"{name}: {key} = {value} is below {minimum}")
    return value


def opt_float(cfg: dict[str, str], key: str, name: str) -> float | None:
    if key not in cfg or cfg[key] == "":
        return None
    try:
        value = float(cfg[key])
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise Reject("malformed_metadata", f"{name}: {key} = {cfg[key]!r} is not a number")
    return value
