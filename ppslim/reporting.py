"""Markdown tables and JSON reports from rows of measured numbers."""
from __future__ import annotations

import os
from typing import Sequence

from . import artifacts


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(rows: Sequence[dict], columns: Sequence[tuple]) -> str:
    """``columns`` are ``(key, header)`` or ``(key, header, format_spec)``; missing values print as ``-``."""
    def cell(row: dict, key: str, spec: str = "") -> str:
        value = row.get(key)
        return format(value, spec) if spec and value is not None else fmt(value)

    head = "| " + " | ".join(c[1] for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(row, c[0], *c[2:]) for c in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body]) + "\n"


def write_report(out_dir: str, name: str, markdown: str, payload) -> tuple[str, str]:
    """Write ``name.md`` and ``name.json`` atomically; returns both paths."""
    md_path, json_path = os.path.join(out_dir, f"{name}.md"), os.path.join(out_dir, f"{name}.json")
    with artifacts.atomic_file(md_path) as f:
        f.write(markdown)
    artifacts.write_json(json_path, payload)
    return md_path, json_path
