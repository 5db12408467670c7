"""Alembic per component, run by ``wsli migrate`` (one job), never by replicas at start."""
from __future__ import annotations

from alembic import command
from alembic.config import Config

from shared.catalogue import Component
from shared.config import load_config


def db_uri_of(component: Component) -> str:
    return load_config(component.config_path)["DB_URI"]


def alembic_config(component: Component, db_uri: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(component.migrations))
    cfg.attributes["db_uri"] = db_uri or db_uri_of(component)
    cfg.attributes["component"] = component.name
    return cfg


def upgrade(component: Component, db_uri: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(component, db_uri), revision)


def run_env(metadata) -> None:
    """The body of every component's ``migrations/env.py``."""
    from alembic import context

    from shared.db import make_engine

    cfg = context.config
    uri = cfg.attributes.get("db_uri") or cfg.get_main_option("sqlalchemy.url")
    engine = make_engine(uri)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection, target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
