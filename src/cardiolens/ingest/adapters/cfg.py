"""``key: value`` metadata files (ACDC Info.cfg, CAMUS Info_2CH.cfg / Info_4CH.cfg)."""

from __future__ import annotations

from pathlib import Path

from cardiolens.ingest.model import Reject


def read_cfg(path: Path) -> dict[str, str]:
    """Parse ``key: value`` lines; a line without a colon or a repeated key is malformed."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
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
        value = int(float(cfg[key]))
    except ValueError:
        raise Reject("malformed_metadata", f"{name}: {key} = {cfg[key]!r} is not an integer") from None
    if value < minimum:
        raise Reject("malformed_metadata", f"{name}: {key} = {value} is below {minimum}")
    return value


def opt_float(cfg: dict[str, str], key: str, name: str) -> float | None:
    if key not in cfg or cfg[key] == "":
        return None
    try:
        return float(cfg[key])
    except ValueError:
        raise Reject("malformed_metadata", f"{name}: {key} = {cfg[key]!r} is not a number") from None
