"""Two replicas handling the same event at the same moment: one does the work, the other skips."""
from __future__ import annotations

from types import SimpleNamespace

import eventlet
import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from shared.db import PlatformTables, UnitOfWork, make_engine, new_metadata
from shared.events import Event
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_concurrent_claims_of_one_event(databases):
    metadata = new_metadata()
    tables = PlatformTables(metadata)
    engine = make_engine(databases.new("inbox"))
    metadata.create_all(engine)
    provider = SimpleNamespace(sessionmaker=sessionmaker(bind=engine), tables=tables, agency="beijing",
                               relay_committed=lambda rows: None, statements={})
    event = Event(id="evt-1", type="wsli.x.y.v1", source="/agencies/beijing/x", subject="1", time="", agency="beijing")
    first, second = UnitOfWork(provider), UnitOfWork(provider)
    try:
        assert first.claim(event, "svc.handler") is True
        if databases.kind == "postgresql":
            # the second waits on the first's uncommitted row, then sees it
            racing = eventlet.spawn(second.claim, event, "svc.handler")
            # not a pause: commit only once the second claim is seen blocked on the first's row
            wait_for(lambda: _lock_waiters(engine) == 1, message="the second claim waiting")
            assert not racing.dead
            first.commit()
            assert racing.wait() is False
        else:
            first.commit()  # SQLite has one writer: the second can only come after
            assert second.claim(event, "svc.handler") is False
        second.rollback()
        third = UnitOfWork(provider)
        assert third.claim(event, "other.handler") is True, "handlers are independent"
        third.close()
    finally:
        first.close()
        second.close()
        engine.dispose()


def _lock_waiters(engine) -> int:
    # a fresh transaction per look: pg_stat_activity is a snapshot taken once per transaction
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'")).scalar()
