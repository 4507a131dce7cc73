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


def markdown_table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """``columns`` are ``(key, header)`` pairs; missing values print as ``-``."""
    head = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(row.get(k)) for k, _ in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body]) + "\n"


def write_report(out_dir: str, name: str, markdown: str, payload) -> tuple[str, str]:
    """Write ``name.md`` and ``name.json`` atomically; returns both paths."""
    md_path, json_path = os.path.join(out_dir, f"{name}.md"), os.path.join(out_dir, f"{name}.json")
    with artifacts.atomic_file(md_path) as f:
        f.write(markdown)
    artifacts.write_json(json_path, payload)
    return md_path, json_path
