"""Dataset adapters: each reads one layout on disk (see cardiolens.ingest.model)."""

from __future__ import annotations

from types import ModuleType


def get(name: str) -> ModuleType:
    """The adapter module ``name`` (dicom, acdc, camus, echonet)."""
    from cardiolens.ingest.adapters import acdc, camus, dicom, echonet

    adapters = {"dicom": dicom, "acdc": acdc, "camus": camus, "echonet": echonet}
    if name not in adapters:
        raise ValueError(f"unknown adapter {name!r}; available: {sorted(adapters)}")
    return adapters[name]
