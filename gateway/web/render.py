"""Jinja2 for the pages: autoescaped HTML, zh-CN labels and a few formatting filters."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.workdays import SHANGHAI

from . import labels

TEMPLATES = Path(__file__).parent / "templates"


def _local(value, fmt="%Y-%m-%d %H:%M") -> str:
    """Times are stored in UTC; people read Beijing time."""
    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(SHANGHAI)
        return value.strftime(fmt)
    return value.isoformat()


def _yuan(fen) -> str:
    if fen is None:
        return "—"
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(label=labels.label, field_label=labels.field_label, label_table=labels.table)
    env.filters.update(local=_local, yuan=_yuan)
    return env


ENV = _environment()


def render_template(name: str, **context) -> str:
    return ENV.get_template(name).render(**context)
