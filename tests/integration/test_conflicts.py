"""A database refusal becomes our own 409: the fields named, the database's text kept out."""
from __future__ import annotations

import pytest
from sqlalchemy import Column, ForeignKey, Integer, String, Table, UniqueConstraint, insert
from sqlalchemy.orm import sessionmaker

from shared.db import BigId, Database, PlatformTables, UnitOfWork, create_all, new_metadata, transactional
from shared.errors import Conflict

pytestmark = pytest.mark.integration

metadata = new_metadata()
platform = PlatformTables(metadata)
people = Table(
    "people", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("agency_id", String(64), nullable=False),
    Column("code", String(20), nullable=False),
    Column("id_index", String(64), nullable=False),
    UniqueConstraint("agency_id", "code"),
    UniqueConstraint("id_index"),
)
visits = Table(
    "visits", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
)

SECRET = "110101199003070011-blind"


class Service:
    def __init__(self, uri):
        provider = Database(metadata, platform)
        provider.engine = create_all(uri, metadata)
        provider.sessionmaker = sessionmaker(bind=provider.engine, expire_on_commit=False)
        provider.agency = "beijing"
        self.provider = provider
        self.db = UnitOfWork(provider)

    @transactional
    def add(self, code, id_index):
        self.db.session.execute(insert(people).values(agency_id="beijing", code=code, id_index=id_index))

    @transactional
    def visit(self, person_id):
        self.db.session.execute(insert(visits).values(person_id=person_id))


def test_a_duplicate_names_the_field_and_leaks_no_database_text(databases, caplog):
    service = Service(databases.new("conflicts"))
    try:
        service.add("A1", SECRET)
        with pytest.raises(Conflict) as dup_code:
            service.add("A1", "other")
        with pytest.raises(Conflict) as dup_secret:
            service.add("A2", SECRET)
        with pytest.raises(Conflict) as dangling:
            service.visit(999)
    finally:
        service.db.close()
        service.provider.engine.dispose()

    assert dup_code.value.to_dict() == {"error": "conflict", "message": "a record with the same code exists",
                                        "fields": {"code": ["a record with the same code exists"]}}
    assert set(dup_secret.value.fields) == {"id_number"}
    # PostgreSQL names the foreign key; SQLite only says one failed
    assert set(dangling.value.fields) == ({"person_id"} if databases.kind == "postgresql" else {"_record"})
    for exc in (dup_code.value, dup_secret.value, dangling.value):
        body = repr(exc.to_dict())
        for leak in ("uq_", "fk_", "constraint", "Key (", SECRET, "people.", "DETAIL"):
            assert leak not in body, (leak, body)
    assert SECRET in caplog.text or "uq_people_id_index" in caplog.text or "people.id_index" in caplog.text, \
        "the database's own words are logged for operators"
