"""Database access for services: engines, platform tables, the unit of work provider.

One SQLAlchemy session per worker. A service method decorated ``@transactional``
commits before nameko replies or acks (nameko calls providers' ``worker_result``
only *after* the reply is sent, too late to report a failed commit). Whatever a
worker leaves uncommitted is rolled back at teardown.
"""
from __future__ import annotations

import functools
import json
import logging
import weakref
from datetime import timezone
from pathlib import Path
from typing import NamedTuple

from nameko.extensions import DependencyProvider
from sqlalchemy import (
    BigInteger, Column, DateTime, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text,
    create_engine, event, insert,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from shared import events as ev
from shared.config import agency_of, as_bool
from shared.calendar import configure_calendar
from shared.pii import PiiVault, configure_vault
from shared.web import REQUEST_ID_KEY
from shared.workdays import utcnow

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UtcDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing a naive datetime: store aware UTC times only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING)


class PlatformTables:
    """Outbox, inbox and audit log: the same three tables in every service's database."""

    def __init__(self, metadata: MetaData):
        self.outbox = Table(
            "outbox", metadata,
            Column("id", BigId, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False, unique=True),
            Column("event_type", String(200), nullable=False),
            Column("exchange", String(200), nullable=False),
            Column("routing_key", String(200), nullable=False),
            Column("subject", String(200), nullable=False),
            Column("body", Text, nullable=False),
            Column("created_at", UtcDateTime, nullable=False),
            Column("published_at", UtcDateTime),
            Column("attempts", Integer, nullable=False, default=0),
            Column("last_error", Text),
            Index("ix_outbox_pending", "published_at", "id"),
        )
        self.inbox = Table(
            "inbox", metadata,
            Column("event_id", String(64), nullable=False),
            Column("handler", String(200), nullable=False),
            Column("event_type", String(200), nullable=False),
            Column("processed_at", UtcDateTime, nullable=False),
            PrimaryKeyConstraint("event_id", "handler"),
        )
        self.audit = Table(
            "audit_log", metadata,
            Column("id", BigId, primary_key=True, autoincrement=True),
            Column("at", UtcDateTime, nullable=False),
            Column("agency_id", String(64), nullable=False),
            Column("actor", String(200), nullable=False),
            Column("actor_role", String(40), nullable=False),
            Column("action", String(80), nullable=False),
            Column("entity_type", String(80), nullable=False),
            Column("entity_id", String(80), nullable=False),
            Column("detail", Text, nullable=False, default="{}"),
            Index("ix_audit_log_entity", "entity_type", "entity_id"),
        )


def make_engine(uri: str, **kwargs) -> Engine:
    url = make_url(uri)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: SQLite allows one writer, and a greenthread
        # blocked in SQLite's busy-wait would block every other greenthread. The pool
        # makes workers queue (cooperatively) for the connection instead.
        engine = create_engine(
            url, poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=60,
            connect_args={"timeout": 30, "check_same_thread": False}, **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; we ship psycopg2 (green via psycogreen)
            url = url.set(drivername="postgresql+psycopg2")
        _make_psycopg_green()
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _make_psycopg_green():
    """psycopg2 blocks the whole process in libpq unless told to yield to eventlet."""
    try:
        import eventlet.patcher
        if not eventlet.patcher.is_monkey_patched("socket"):
            return
        from psycogreen.eventlet import patch_psycopg
        patch_psycopg()
    except ImportError:  # pragma: no cover - eventlet is a hard dependency
        pass


class Pending(NamedTuple):
    """An outbox row a commit hands to the relay (``shared.relay``): what publishing it needs."""
    event_id: str
    event_type: str
    exchange: str
    routing_key: str
    body: str
    created_at: object
    request_id: str | None


class UnitOfWork:
    """What a worker sees as ``self.db``: a session, the outbox and the inbox."""

    def __init__(self, provider: "Database", request_id: str | None = None):
        self._provider = provider
        self._session: Session | None = None
        # outbox rows written and not yet committed, each with the savepoint it was written in
        self._emitted: list[tuple[object, Pending]] = []
        self._listening_to: Session | None = None
        # the request this worker serves (gateway X-Request-ID, or the event it handles)
        self.request_id = request_id

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._provider.sessionmaker()
        return self._session

    @property
    def agency(self) -> str:
        return self._provider.agency

    def _statement(self, name: str, build):
        """The platform statement ``name`` for this database, built on first use: executed with
        parameters, a kept statement skips its construction and reuses its cache key (every write
        adds an outbox row, an audit row or an inbox claim)."""
        dialect = self.session.get_bind().dialect.name
        statement = self._provider.statements.get((name, dialect))
        if statement is None:
            statement = self._provider.statements[(name, dialect)] = build(dialect)
        return statement

    @property
    def tables(self) -> PlatformTables:
        return self._provider.tables

    @property
    def metadata(self) -> MetaData:
        return self._provider.metadata

    def emit(self, name: str, subject, data: dict, service: str | None = None) -> list[dict]:
        """Write the event rows beside the state change; the relay publishes them after commit."""
        service = service or self._provider.service_name
        now = utcnow()
        envelopes = []
        for spec in ev.specs_for(service, name):
            envelope = ev.build_envelope(spec, self.agency, str(subject), data, now, request_id=self.request_id)
            self.write_outbox([dict(
                event_id=envelope["id"], event_type=spec.type, exchange=spec.exchange,
                routing_key=spec.routing_key, subject=str(subject),
                body=json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
                created_at=now, attempts=0,
            )])
            envelopes.append(envelope)
        return envelopes

    def emit_many(self, name: str, items: list[tuple[object, dict]], service: str | None = None) -> int:
        """``emit`` for many events of one type, (subject, data) each, written to the outbox in one statement."""
        if not items:
            return 0
        service = service or self._provider.service_name
        now = utcnow()
        items = [(str(subject), data) for subject, data in items]
        rows = []
        for spec in ev.specs_for(service, name):
            for envelope in ev.build_envelopes(spec, self.agency, items, now, request_id=self.request_id):
                rows.append(dict(event_id=envelope["id"], event_type=spec.type, exchange=spec.exchange,
                                 routing_key=spec.routing_key, subject=envelope["subject"],
                                 body=json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
                                 created_at=now, attempts=0))
        self.write_outbox(rows)
        return len(rows)

    def write_outbox(self, rows: list[dict]) -> None:
        """Outbox rows in this transaction; after commit they are handed to the relay, which sends
        them without looking for them. A savepoint rolled back takes its rows along."""
        if not rows:  # a caller with nothing to write (an empty bulk): no statement, nothing to hand over
            return
        self.session.execute(self._statement("outbox", lambda _: insert(self._provider.tables.outbox)),
                             rows if len(rows) > 1 else rows[0])
        if self._listening_to is not self._session:
            # listened for per session, and only by a worker that writes events
            event.listen(self._session, "after_soft_rollback", self._forget_rolled_back)
            self._listening_to = self._session
        savepoint = self.session.get_nested_transaction()
        self._emitted.extend((savepoint, Pending(
            row["event_id"], row["event_type"], row["exchange"], row["routing_key"], row["body"],
            row["created_at"], self.request_id)) for row in rows)

    def _forget_rolled_back(self, session, transaction) -> None:
        if not transaction.nested:
            self._emitted = []
            return

        def inside(savepoint):
            while savepoint is not None:
                if savepoint is transaction:
                    return True
                savepoint = savepoint.parent
            return False

        self._emitted = [(savepoint, row) for savepoint, row in self._emitted if not inside(savepoint)]

    def claim(self, event: ev.Event, handler: str | None = None) -> bool:
        """Record that ``handler`` (by default the subscriber's, ``event.handler``) processes ``event``;
        False when it already did.

        The row commits with the handler's effects, so a redelivery after commit is
        skipped. ``ON CONFLICT DO NOTHING`` makes a concurrent duplicate (another
        replica handling a redelivery) wait for the first to commit and then see
        the row, instead of failing with a duplicate key.
        """
        handler = handler or event.handler
        if not handler:
            raise ValueError("claim needs the handler's name (an Event from the subscriber carries it)")
        result = self.session.execute(self._statement("inbox", self._claim_statement), dict(
            event_id=event.id, handler=handler, event_type=event.type, processed_at=utcnow()))
        return result.rowcount == 1

    def _claim_statement(self, dialect: str):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:  # pragma: no cover - only the two supported backends
            raise RuntimeError(f"unsupported database {dialect}")
        return upsert(self._provider.tables.inbox).on_conflict_do_nothing(index_elements=["event_id", "handler"])

    def audit(self, principal, action: str, entity_type: str, entity_id, detail: dict | None = None):
        self.session.execute(self._statement("audit", lambda _: insert(self._provider.tables.audit)), dict(
            at=utcnow(), agency_id=self.agency,
            actor=getattr(principal, "actor", "system"), actor_role=getattr(principal, "role", "system"),
            action=action, entity_type=entity_type, entity_id=str(entity_id),
            detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
        ))

    def commit(self):
        if self._session is None:
            return
        self._session.commit()
        if self._emitted:
            rows = [row for _, row in self._emitted]
            self._emitted = []
            self._provider.relay_committed(rows)

    def rollback(self):
        self._emitted = []
        if self._session is not None:
            self._session.rollback()

    def close(self):
        if self._session is not None:
            self._session.close()  # rolls back anything not committed
            self._session = None


# Columns whose name says how they are stored, not what the client sent.
# While events stream in, the outbox relay can wait this long after a wake so that several
# commits go out as one batch (shared.relay.OutboxRelay.linger); a lone event is never delayed.
# Off by default: at the registration bench's load, 5 ms saved ~4 % of the service's CPU per
# POST and added ~6 ms to the events' median latency (docs/benchmarks.md).
DEFAULT_LINGER_MS = 0.0

FIELD_ALIASES = {"id_index": "id_number", "person_key": "id_number", "account_index": "account_number"}
_HIDDEN_COLUMNS = {"agency_id"}


def conflict_from(exc: IntegrityError, metadata: MetaData | None = None):
    """Our own 409 for a database refusal: it names the fields, never the database's text.

    The constraint name, key values (possibly personal data) and SQL stay in the log.
    """
    from shared.errors import Conflict

    log.warning("integrity error turned into 409: %s", str(exc.orig)[:500])
    columns = _conflicting_columns(exc, metadata)
    fields = [FIELD_ALIASES.get(c, c) for c in columns if c not in _HIDDEN_COLUMNS] or ["_record"]
    kind = _kind_of(exc)
    message = {"unique": "a record with the same {} exists", "foreign_key": "{} refers to a record that does not exist",
               "not_null": "{} is required"}.get(kind, "the record conflicts with one that exists ({})")
    text = message.format(", ".join(fields))
    return Conflict(text, {f: [text] for f in fields})


def _kind_of(exc) -> str:
    orig = exc.orig
    code = getattr(orig, "pgcode", None)
    if code:
        return {"23505": "unique", "23503": "foreign_key", "23502": "not_null"}.get(code, "other")
    message = str(orig).upper()
    if message.startswith("UNIQUE"):
        return "unique"
    if "FOREIGN KEY" in message:
        return "foreign_key"
    if message.startswith("NOT NULL"):
        return "not_null"
    return "other"


def _conflicting_columns(exc, metadata) -> list[str]:
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None:  # PostgreSQL names the constraint or column
        if getattr(diag, "column_name", None):
            return [diag.column_name]
        name = getattr(diag, "constraint_name", None)
        if name and metadata is not None:
            for table in metadata.tables.values():
                for constraint in list(table.constraints) + list(table.indexes):
                    if constraint.name == name:
                        return [c.name for c in constraint.columns]
        return []
    # SQLite: "UNIQUE constraint failed: table.a, table.b" / "NOT NULL constraint failed: table.a"
    message = str(orig)
    if "constraint failed:" in message:
        return [part.strip().split(".")[-1] for part in message.split("constraint failed:", 1)[1].split(",")
                if part.strip()]
    return []


def transactional(method):
    """Commit ``self.db`` when the method returns, roll back when it raises.

    Duplicate keys surface as ``Conflict`` (see ``conflict_from``) unless the method
    handled them itself.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
            self.db.commit()
            return result
        except IntegrityError as exc:
            self.db.rollback()
            raise conflict_from(exc, getattr(self.db, "metadata", None)) from None
        except BaseException:
            self.db.rollback()
            raise

    return wrapper


class Database(DependencyProvider):
    """Engine per container, session per worker, and the outbox relay alongside."""

    def __init__(self, metadata: MetaData, tables: PlatformTables):
        self.metadata = metadata
        self.tables = tables
        # the platform's own statements (outbox, inbox, audit), each built once per dialect (UnitOfWork._statement)
        self.statements: dict[tuple, object] = {}
        self.engine: Engine | None = None
        self.sessionmaker = None
        self.relay = None
        self.relay_engine: Engine | None = None
        self._workers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def service_name(self) -> str:
        return self.container.service_name

    def setup(self):
        from shared.relay import OutboxRelay

        config = self.container.config
        self.agency = agency_of(config)
        configure_vault(PiiVault.from_config(config))
        if config.get("CALENDAR_DIR"):
            configure_calendar(config["CALENDAR_DIR"])
        pool = {}
        if config.get("DB_POOL_SIZE") and make_url(config["DB_URI"]).get_backend_name() == "postgresql":
            # a smaller pool where many components share one server (the test stacks side by side)
            size = int(config["DB_POOL_SIZE"])
            pool = {"pool_size": size, "max_overflow": size}
        self.engine = make_engine(config["DB_URI"], **pool)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        if as_bool(config.get("OUTBOX_RELAY"), default=True):
            # PostgreSQL: the relay holds its rows locked while the broker confirms them, on a
            # connection of its own, never one of the workers'. SQLite: the one connection of
            # the process, which the relay gives back while it waits (see shared.relay).
            relay_engine = self.engine
            if self.engine.dialect.name == "postgresql":
                # Marking rows sent need not wait for the WAL flush: a mark lost in a server crash
                # only sends those events again, which consumers skip (their inbox). Each pass ends
                # a flush sooner, so events committed meanwhile go out sooner.
                relay_engine = self.relay_engine = make_engine(
                    config["DB_URI"], pool_size=1, max_overflow=1,
                    connect_args={"options": "-c synchronous_commit=off"})
            self.relay = OutboxRelay(
                relay_engine, self.tables.outbox, config,
                poll_seconds=float(config.get("OUTBOX_POLL_SECONDS") or 1.0),
                linger_seconds=float(config.get("OUTBOX_LINGER_MS") or DEFAULT_LINGER_MS) / 1000,
            )

    def start(self):
        if self.relay is not None:
            self.container.spawn_managed_thread(self.relay.run_forever, identifier="outbox-relay")

    def stop(self):
        if self.relay is not None:
            self.relay.stop()
        if self.relay_engine is not None:
            self.relay_engine.dispose()

    def kill(self):
        self.stop()

    def relay_committed(self, rows):
        if self.relay is not None:
            self.relay.hand_over(rows)

    def get_dependency(self, worker_ctx):
        uow = UnitOfWork(self, request_id=worker_ctx.data.get(REQUEST_ID_KEY))
        self._workers[worker_ctx] = uow
        return uow

    def worker_teardown(self, worker_ctx):
        uow = self._workers.pop(worker_ctx, None)
        if uow is not None:
            uow.close()


def create_all(uri: str, metadata: MetaData) -> Engine:
    """For tests and benches that want the schema without Alembic."""
    engine = make_engine(uri)
    metadata.create_all(engine)
    return engine
