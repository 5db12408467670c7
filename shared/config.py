"""Configuration: each component's ``config.yml`` with ``${VAR:default}`` from the environment.

The substitution is nameko's own (the same rules ``nameko run --config`` applies),
so a file behaves identically under ``nameko run`` and under ``wsli``.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml
from nameko.cli.main import setup_yaml_parser

REPO_ROOT = Path(__file__).resolve().parent.parent

_parser_ready = False


def load_config(path: str | os.PathLike) -> dict:
    global _parser_ready
    if not _parser_ready:
        setup_yaml_parser()
        _parser_ready = True
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def as_list(value, cast=str) -> list:
    """Accept a YAML list or a comma-separated string (what an env var gives)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [cast(v) for v in value]
    return [cast(v.strip()) for v in str(value).split(",") if v.strip()]


def as_bool(value, default=False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def agency_of(config: dict) -> str:
    agency = str(config.get("AGENCY_ID") or "").strip()
    if not agency:
        raise ValueError("AGENCY_ID is not set: every deployment serves exactly one agency")
    return agency
