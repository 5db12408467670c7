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


def rotate_pii(metadata, db_uri: str, vault) -> int:
    """Re-encrypt every encrypted column under the vault's first key; returns rows rewritten.

    Run after putting a new key first in ``PII_KEYS``; once it reports 0, the old
    key can be dropped. Tokens are read and written raw (``type_coerce`` to Text
    bypasses the column's own encryption), and a token no key opens stops the
    run rather than being overwritten.
    """
    from sqlalchemy import Text, literal, select, type_coerce, update

    from shared.db import make_engine
    from shared.pii import EncryptedString

    engine = make_engine(db_uri)
    rewritten = 0
    try:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, EncryptedString)]
            if not columns:
                continue
            keys = list(table.primary_key.columns)
            with engine.begin() as conn:
                rows = conn.execute(select(*keys, *(type_coerce(c, Text).label(c.name) for c in columns))).mappings()
                for row in rows.all():
                    changes = {c.name: literal(vault.rotate(row[c.name]), Text) for c in columns
                               if row[c.name] is not None and vault.needs_rotation(row[c.name])}
                    if changes:
                        conn.execute(update(table).where(*(k == row[k.name] for k in keys)).values(**changes))
                        rewritten += 1
    finally:
        engine.dispose()
    return rewritten
