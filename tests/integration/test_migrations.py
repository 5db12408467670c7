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


def test_stored_district_names_become_official(databases):
    """朝阳 and 朝阳区 were two fences: registration 0003 rewrites stored short forms (and leaves the unknown)."""
    from alembic import command
    from sqlalchemy import text

    from shared.catalogue import component

    registration = component("registration")
    uri = databases.new("registration")
    command.upgrade(alembic_config(registration, uri), "0002")
    engine = make_engine(uri)
    try:
        with engine.begin() as conn:
            for year, district in ((2018, "朝阳"), (2019, "经开区"), (2020, "北京市海淀区"), (2021, "雄安")):
                conn.execute(text("INSERT INTO district_quotas (agency_id, year, district, quota) "
                                  "VALUES ('beijing', :y, :d, 1)"), {"y": year, "d": district})
        command.upgrade(alembic_config(registration, uri), "head")
        with engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT year, district FROM district_quotas")).all())
        assert stored == {2018: "朝阳区", 2019: "北京经济技术开发区", 2020: "海淀区", 2021: "雄安"}
    finally:
        engine.dispose()


def test_an_external_imports_source_moves_into_its_columns(databases):
    """Training 0005: imports made before kept (platform, reference) as the draw marker; drawn exams stay null."""
    from alembic import command
    from sqlalchemy import text

    from shared.catalogue import component

    training = component("training")
    uri = databases.new("training")
    command.upgrade(alembic_config(training, uri), "0004")
    engine = make_engine(uri)
    try:
        with engine.begin() as conn:
            for seed, draw in ((0, '[{"platform": "小程序", "reference": "导出 1"}]'),
                               (7, '[{"topic": "安责险", "count": 8}]')):
                conn.execute(text(
                    "INSERT INTO exams (agency_id, kind, title, cycle, seed, draw, paper, answer_key, "
                    "duration_minutes, pass_mark, created_at) VALUES ('beijing', 'basic_test', 't', 'C1', :s, :d, "
                    "'[]', '{}', 0, 60, '2022-08-26 00:00:00')"), {"s": seed, "d": draw})
        command.upgrade(alembic_config(training, uri), "head")
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT seed, platform, reference FROM exams ORDER BY seed")).all()
        assert [tuple(r) for r in stored] == [(0, "小程序", "导出 1"), (7, None, None)]
    finally:
        engine.dispose()
