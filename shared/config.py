"""Configuration: each component's ``config.yml`` with ``${VAR:default}`` from the environment.

The substitution is nameko's own (the same rules ``nameko run --config`` applies),
so a file behaves identically under ``nameko run`` and under ``wsli``.
"""
from __future__ import annotations

import os
from pathlib import Path

from functools import partial

import yaml
from nameko.cli.main import IMPLICIT_ENV_VAR_MATCHER, env_var_constructor

REPO_ROOT = Path(__file__).resolve().parent.parent


class EnvLoader(yaml.SafeLoader):
    """SafeLoader plus nameko's ``${VAR:default}``, on a subclass: nameko's own setup
    patches the global SafeLoader, which would then expand variables in every YAML
    file the process reads (compose files, manifests)."""


EnvLoader.add_constructor("!env_var", env_var_constructor)
EnvLoader.add_constructor("!raw_env_var", partial(env_var_constructor, raw=True))
EnvLoader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)


def load_config(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=EnvLoader) or {}


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
