"""Reference pages of the manual, generated from the code's own declarations.

Two pure functions turn a declaration into Markdown: :func:`config_reference` renders the
configuration's JSON Schema (``workflow/schemas/config.schema.yaml``) key by key, and
:func:`table_reference` renders the declared Parquet tables (``cardiolens.tables.registry.ALL``)
column by column. The manual's MkDocs hook (``docs/hooks.py``) inserts both into their pages
at build time, so the reference cannot drift from the code: a schema key without a description
stops the build (:class:`ValueError` naming the key's dotted path).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from cardiolens.tables.schema import Column, TableSchema

_Schema = Mapping[str, Any]
#: One row of the configuration reference: dotted path, raw sub-schema, resolved sub-schema, note.
_Row = tuple[str, _Schema, _Schema, str]
_REF_PREFIX = "#/$defs/"
#: Keywords of JSON Schema 2020-12 (core, applicator, validation, meta-data, format, content).
#: Any other key in a key's schema is reported: it is usually the tail of a description cut at
#: an unquoted comma in a YAML flow mapping (``{description: a, b}`` gives a key ``b``).
SCHEMA_KEYWORDS = frozenset({
    "$schema", "$id", "$ref", "$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$comment",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "prefixItems", "items", "contains",
    "properties", "patternProperties", "additionalProperties", "propertyNames", "unevaluatedItems",
    "unevaluatedProperties", "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains",
    "minContains", "maxProperties", "minProperties", "required", "dependentRequired", "title", "description",
    "default", "deprecated", "readOnly", "writeOnly", "examples", "format", "contentEncoding", "contentMediaType",
    "contentSchema",
})
#: Flow-style scalars that need quotes to stay strings in YAML.
_YAML_SPECIAL = re.compile(r"^$|^[\s\-?:,\[\]{}#&*!|>'\"%@`]|[:#,\[\]{}]|\s$|^(true|false|null|yes|no|on|off|~)$", re.I)


def load_config_schema(path: Path | None = None) -> dict[str, Any]:
    """The repository's configuration schema (``workflow/schemas/config.schema.yaml``) as a dict.

    Delegates to :func:`cardiolens.config.load_schema`, the loader the workflow validates with.
    """
    from cardiolens.config import load_schema

    return load_schema(path)


# ---------------------------------------------------------------------------------------------
# configuration


def _def_name(node: _Schema) -> str | None:
    """The ``$defs`` name a node refers to (``{"$ref": "#/$defs/study"}`` -> ``"study"``), else None."""
    ref = node.get("$ref")
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref.startswith(_REF_PREFIX):
        raise ValueError(f"unsupported $ref {ref!r}: only local references to {_REF_PREFIX}<name> are rendered")
    return ref[len(_REF_PREFIX):]


def _resolve(node: _Schema, defs: _Schema) -> _Schema:
    """``node`` with a ``$ref`` replaced by its definition; the node's own keys win (JSON Schema 2020-12)."""
    name = _def_name(node)
    if name is None:
        return node
    if name not in defs:
        raise ValueError(f"$ref {node['$ref']!r} names no entry of $defs; known: {sorted(defs)}")
    merged = dict(_resolve(defs[name], defs))
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


def _children(node: _Schema, path: str) -> Iterator[tuple[str, _Schema, str]]:
    """The keys directly below an object node: ``(dotted path, raw sub-schema, note)``.

    ``properties`` give ``path.name`` (note ``required`` when the object requires it),
    ``patternProperties`` ``path.<key>`` (note: the pattern), a schema under
    ``additionalProperties`` ``path.<name>`` (note: the ``propertyNames`` pattern, if any).
    """
    prefix = f"{path}." if path else ""
    required = set(node.get("required") or ())
    for name, sub in (node.get("properties") or {}).items():
        yield f"{prefix}{name}", sub, "required" if name in required else ""
    for pattern, sub in (node.get("patternProperties") or {}).items():
        yield f"{prefix}<key>", sub, f"key matches `{pattern}`"
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        names = node.get("propertyNames")
        pattern = names.get("pattern") if isinstance(names, Mapping) else None
        yield f"{prefix}<name>", extra, f"name matches `{pattern}`" if pattern else "any other name"


def _branches(node: _Schema) -> list[_Schema]:
    return [b for k in ("oneOf", "anyOf", "allOf") for b in (node.get(k) or []) if isinstance(b, Mapping)]


def _flow(value: Any) -> str:
    """``value`` in YAML flow style, as it would be written in a config file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if _YAML_SPECIAL.search(value) or _looks_numeric(value) else value
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell(text: str) -> str:
    """One Markdown table cell: whitespace collapsed; outside code spans, pipes and the
    characters Markdown would read as HTML or emphasis (``<source>``, ``*``) escaped."""
    parts = " ".join(str(text).split()).split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside code spans
        parts[i] = parts[i].replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
    return "`".join(parts)


def _code(value: Any) -> str:
    return f"`{_flow(value)}`"


def _type_of(node: _Schema, defs: _Schema) -> str:
    """Human-readable type: ``integer``, ``string or null``, ``array of number``, ``study``."""
    name = _def_name(node)
    if name is not None:
        return f"[{name}](#{_anchor(name)})"
    kinds = node.get("type")
    if kinds is None:
        branches = _branches(node)
        if branches:
            return " or ".join(dict.fromkeys(_type_of(b, defs) for b in branches))
        return "any"
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    out = []
    for kind in kinds:
        if kind == "array" and isinstance(node.get("items"), Mapping):
            out.append(f"array of {_type_of(node['items'], defs)}")
        else:
            out.append(str(kind))
    return " or ".join(out)


def _bounds(node: _Schema) -> list[str]:
    out = []
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in node:
            out.append(f"{sign} {_flow(node[key])}")
    return out


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _allowed(node: _Schema) -> str:
    """Constraints of a key: enumeration, pattern, numeric bounds, item count, item constraints."""
    parts: list[str] = []
    if "enum" in node:
        parts.append("one of " + ", ".join(_code(v) for v in node["enum"]))
    if "const" in node:
        parts.append(f"exactly {_code(node['const'])}")
    if "pattern" in node:
        parts.append(f"matches `{node['pattern']}`")
    parts.extend(_bounds(node))
    lo, hi = node.get("minItems"), node.get("maxItems")
    if lo is not None and lo == hi:
        parts.append(f"exactly {_items(lo)}")
    else:
        if lo is not None:
            parts.append(f"at least {_items(lo)}")
        if hi is not None:
            parts.append(f"at most {_items(hi)}")
    if node.get("uniqueItems"):
        parts.append("no repeated items")
    items = node.get("items")
    if isinstance(items, Mapping):
        inner = _allowed(items)
        if inner:
            parts.append(f"each item: {inner}")
    names = node.get("propertyNames")
    if isinstance(names, Mapping) and "pattern" in names:
        parts.append(f"names match `{names['pattern']}`")
    for pattern in node.get("patternProperties") or {}:
        parts.append(f"keys match `{pattern}`")
    for kind in ("oneOf", "anyOf"):
        alternatives = [_allowed(b) for b in node.get(kind) or [] if isinstance(b, Mapping)]
        if any(alternatives):
            parts.append(("exactly one of: " if kind == "oneOf" else "any of: ") + "; ".join(a or "anything" for a in alternatives))
    return "; ".join(parts)


def _anchor(def_name: str) -> str:
    return f"def-{def_name}".lower()


def _description(raw: _Schema, node: _Schema) -> str:
    text = raw.get("description") or node.get("description") or ""
    return " ".join(str(text).split())


class _Collector:
    """Walks the schema once: rows per section, every key without a description, def usage."""

    def __init__(self, schema: _Schema) -> None:
        self.defs: _Schema = schema.get("$defs") or {}
        self.missing: list[str] = []
        self.unknown: list[str] = []
        self.def_paths: dict[str, list[str]] = {}
        self.def_order: list[str] = []

    def rows(self, node: _Schema, path: str, note: str = "") -> list[_Row]:
        """``(path, raw, resolved, note)`` of the key at ``path`` and of every key below it, depth first.

        A key that is a ``$ref`` is one row; its definition's keys are rendered once, in the
        definition's own section.
        """
        resolved = _resolve(node, self.defs)
        if path and not _description(node, resolved):
            self.missing.append(path)
        self.unknown.extend(f"'{path}' has '{k}'" for k in node if k not in SCHEMA_KEYWORDS)
        out = [(path, node, resolved, note)] if path else []
        name = _def_name(node)
        if name is not None:
            if name not in self.def_paths:
                self.def_paths[name] = []
                self.def_order.append(name)
            self.def_paths[name].append(path)
            return out
        out.extend(self._below(resolved, path))
        return out

    def _below(self, node: _Schema, path: str) -> list[_Row]:
        """Rows of every key below ``node``: its properties, array items (``path[].name``) and the
        keys of its ``oneOf``/``anyOf``/``allOf`` branches (under the same path)."""
        out: list[_Row] = []
        for child_path, sub, note in _children(node, path):
            out.extend(self.rows(sub, child_path, note))
        items = node.get("items")
        if isinstance(items, Mapping):
            resolved_items = _resolve(items, self.defs)
            if _def_name(items) is not None:
                out.extend(self.rows(items, f"{path}[]"))
            else:
                out.extend(self._below(resolved_items, f"{path}[]"))
        for branch in _branches(node):
            out.extend(self._below(_resolve(branch, self.defs), path))
        return out

    def def_rows(self, name: str, prefix: str) -> list[_Row]:
        return self._below(_resolve(self.defs[name], self.defs), prefix)


def _table(rows: list[_Row], defs: _Schema) -> list[str]:
    lines = ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    for path, raw, node, note in rows:
        default = _code(raw["default"]) if "default" in raw else (_code(node["default"]) if "default" in node else "—")
        allowed = "; ".join(p for p in (note, _allowed(node)) if p)
        lines.append(
            f"| `{path}` | {_cell(_type_of(raw, defs))} | {_cell(default)} | {_cell(allowed) or '—'} | {_cell(_description(raw, node))} |"
        )
    return lines


def _def_prefix(paths: list[str]) -> str:
    """The path a definition's keys are shown under: the generic one (``studies.<name>``) if any."""
    generic = [p for p in paths if "<" in p]
    return (generic or paths)[0]


def config_reference(schema: Mapping[str, Any]) -> str:
    """Markdown reference of every key of a configuration JSON Schema.

    One section per top-level key, each a table of that key and every key below it by dotted
    path (``cohort.synthetic.echo.rows``; ``inputs[].name`` for array items; ``<key>``/``<name>``
    for pattern and additional properties) with its type, default, allowed values (enum,
    pattern, bounds, item counts) and description. A key whose schema is a ``$ref`` to
    ``$defs`` links to one section per definition, whose keys are shown under the generic path
    that uses it (``studies.<name>.train.lr``).

    Args:
        schema: the parsed schema (``workflow/schemas/config.schema.yaml``).

    Returns:
        Markdown text, starting with a second-level heading.

    Raises:
        ValueError: when any key (a property at any depth, in ``$defs`` too) has no non-empty
            ``description``, or a keyword that is not JSON Schema's (:data:`SCHEMA_KEYWORDS`);
            the message names every such key by its dotted path.
    """
    walker = _Collector(schema)
    sections: list[str] = []
    for path, sub, note in _children(schema, ""):
        rows = walker.rows(sub, path, note)
        sections.extend([f"## `{path}`", "", *_table(rows, walker.defs), ""])
    done: set[str] = set()
    while len(done) < len(walker.def_order):
        name = next(n for n in walker.def_order if n not in done)
        done.add(name)
        paths = walker.def_paths[name]
        prefix = _def_prefix(paths)
        definition = walker.defs[name]
        rows = walker.def_rows(name, prefix)
        used = ", ".join(f"`{p}`" for p in paths)
        intro = _description(definition, definition)
        sections.extend([f"## `{prefix}` {{#{_anchor(name)}}}", "", f"{intro} Used by {used}.".strip(), "", *_table(rows, walker.defs), ""])
    for name in walker.defs:
        if name not in done:  # an unreferenced definition is still checked for descriptions
            walker.def_rows(name, f"$defs.{name}")
    if walker.missing:
        raise ValueError(
            "config schema keys without a description: " + ", ".join(f"'{p}'" for p in dict.fromkeys(walker.missing))
        )
    if walker.unknown:
        raise ValueError(
            "config schema keys with unknown schema keywords (a description cut at an unquoted comma "
            "of a YAML flow mapping?): " + "; ".join(dict.fromkeys(walker.unknown))
        )
    return "\n".join(sections).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# tables


def _number(value: float) -> str:
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return str(value)
    return f"{value:g}"


def _range(col: Column) -> str:
    if col.min is not None and col.max is not None:
        return f"[{_number(col.min)}, {_number(col.max)}]"
    if col.min is not None:
        return f"≥ {_number(col.min)}"
    if col.max is not None:
        return f"≤ {_number(col.max)}"
    return "—"


def _arrow_type(dtype: pa.DataType) -> str:
    return str(dtype).replace("<item: ", "<").replace("<element: ", "<")


def table_reference(tables: Mapping[str, TableSchema]) -> str:
    """Markdown reference of declared Parquet tables, in the mapping's order.

    Per table: a second-level heading with its name, its description, version and key, then one
    row per column with the Arrow type, whether it may be null, allowed values, numeric range
    and description (``unique`` columns say so).

    Args:
        tables: name -> :class:`~cardiolens.tables.schema.TableSchema`, e.g.
            ``cardiolens.tables.registry.ALL``.

    Returns:
        Markdown text, starting with a second-level heading.
    """
    out: list[str] = []
    for schema in tables.values():
        key = ", ".join(f"`{k}`" for k in schema.key) if schema.key else "none declared"
        out.extend([
            f"## `{schema.name}`",
            "",
            _cell(schema.description),
            "",
            f"Version {schema.version}; key: {key}; {len(schema.columns)} columns.",
            "",
            "| column | Arrow type | nullable | allowed values | range | description |",
            "|---|---|---|---|---|---|",
        ])
        for col in schema.columns:
            allowed = ", ".join(_code(v) for v in col.allowed) if col.allowed is not None else "—"
            description = col.description + (" (unique)" if col.unique else "")
            out.append(
                f"| `{col.name}` | `{_arrow_type(col.dtype)}` | {'yes' if col.nullable else 'no'} | {_cell(allowed)} "
                f"| {_range(col)} | {_cell(description)} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"
