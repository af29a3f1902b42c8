"""MkDocs hook: generated reference pages.

Registered in mkdocs.yml (``hooks: [docs/hooks.py]``). A page's marker line is replaced by
Markdown generated from the code's own declarations, so the reference cannot drift:

- ``<!-- cardiolens:config-reference -->`` (configuration.md): every key of
  ``workflow/schemas/config.schema.yaml`` (:func:`cardiolens.reference.config_reference`);
- ``<!-- cardiolens:table-reference -->`` (tables.md): every table of
  ``cardiolens.tables.registry.ALL`` (:func:`cardiolens.reference.table_reference`).

A schema key without a description makes ``config_reference`` raise, which fails the build; so
does a page that lost its marker (the reference would silently disappear).
"""

from __future__ import annotations

from typing import Any, Callable

CONFIG_MARKER = "<!-- cardiolens:config-reference -->"
TABLE_MARKER = "<!-- cardiolens:table-reference -->"


def _config() -> str:
    from cardiolens.reference import config_reference, load_config_schema

    return config_reference(load_config_schema())


def _tables() -> str:
    from cardiolens.reference import table_reference
    from cardiolens.tables.registry import ALL

    return table_reference(ALL)


#: page (path under docs/) -> (marker, generator)
GENERATED: dict[str, tuple[str, Callable[[], str]]] = {
    "configuration.md": (CONFIG_MARKER, _config),
    "tables.md": (TABLE_MARKER, _tables),
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the page's marker line with the generated reference (MkDocs ``page_markdown`` event)."""
    src = page.file.src_uri
    for marker, generate in GENERATED.values():
        if marker in markdown and GENERATED.get(src, (None,))[0] != marker:
            raise ValueError(f"docs/{src}: marker {marker} belongs on another page")
    if src not in GENERATED:
        return markdown
    marker, generate = GENERATED[src]
    lines = markdown.split("\n")
    hits = [i for i, line in enumerate(lines) if line.strip() == marker]
    if len(hits) != 1:
        raise ValueError(f"docs/{src}: expected the marker line {marker} once, found it {len(hits)} times")
    lines[hits[0]] = generate().rstrip("\n")
    return "\n".join(lines)
