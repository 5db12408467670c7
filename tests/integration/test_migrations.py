"""Alembic migrations build exactly the schema the models declare, on both backends."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from shared.catalogue import COMPONENTS
from shared.db import make_engine
from shared.migrate import alembic_config

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_migrations_match_the_models_and_downgrade_cleanly(databases, component):
    from alembic import command

    uri = databases.migrated(component.name)
    metadata = component.models().Base.metadata
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == [], f"models and migrations of {component.name} disagree: {diff}"

        command.downgrade(alembic_config(component, uri), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        command.upgrade(alembic_config(component, uri), "head")
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
