"""The kit's small pieces: lifecycles, id and code parsing, files, the subscriber's reading and race policy."""
from __future__ import annotations

import base64
import io
from decimal import Decimal
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields
from sqlalchemy.exc import IntegrityError

from shared.documents import as_text, csv_bytes, decode_base64, decode_upload, file_result, xlsx_bytes
from shared.errors import RuleViolation, ValidationFailed
from shared.events import Event
from shared.lifecycle import Lifecycle
from shared.schemas import as_code, as_id, with_values
from shared.subscriber import RACE_RERUNS, LostRace, Subscriber, handler_transaction

ORDER = Lifecycle("an order", {"accept": (("ordered",), "accepted"), "cancel": (("ordered", "accepted"), "cancelled")})


def test_a_lifecycle_moves_or_names_the_refused_move():
    assert ORDER.next("ordered", "accept") == "accepted"
    assert ORDER.may("accepted", "cancel") and not ORDER.may("cancelled", "cancel")
    with pytest.raises(RuleViolation) as err:
        ORDER.next("cancelled", "accept")
    assert err.value.rule == "status_transition"
    assert err.value.message == "cannot accept an order that is cancelled (only from: ordered)"
    assert err.value.fields == {"status": ["is cancelled"]}
    assert ORDER.statuses == {"ordered", "accepted", "cancelled"}


@pytest.mark.parametrize("raw", ["abc", None, "0", -1, 2**62 + 1, "1.5", ""])
def test_a_bad_id_is_a_400(raw):
    with pytest.raises(ValidationFailed) as err:
        as_id(raw)
    assert "id" in err.value.fields


def test_ids_and_codes():
    assert as_id("42") == 42 and as_id(2**62) == 2**62
    with pytest.raises(ValidationFailed) as named:
        as_id("x", field="case_id")
    assert list(named.value.fields) == ["case_id"]
    assert as_code("2022") == "2022" and as_code("R-1_a") == "R-1_a"
    for bad in (None, "", "-x", "a" * 21, "a/b"):
        with pytest.raises(ValidationFailed) as err:
            as_code(bad, field="code")
        assert list(err.value.fields) == ["code"]


def test_files_for_the_gateway():
    out = file_result("a.csv", "text/csv", b"x,y")
    assert out == {"filename": "a.csv", "content_type": "text/csv", "data_base64": "eCx5"}
    assert decode_upload({"data_base64": out["data_base64"]}) == b"x,y"
    for bad in (None, {}, {"data_base64": "***"}):
        with pytest.raises(ValidationFailed):
            decode_upload(bad)
    assert decode_base64("eCx5", "photos.0.data_base64") == b"x,y" and decode_base64(None, "f") == b""
    with pytest.raises(ValidationFailed) as err:
        decode_base64("***", "photos.0.data_base64")
    assert err.value.fields == {"photos.0.data_base64": ["not valid base64"]}
    data = csv_bytes(["名", "n"], [["张", 1]])
    assert data == "\ufeff名,n\r\n张,1\r\n".encode("utf-8")


def test_an_xlsx_keeps_long_numbers_as_text_and_formats_cells():
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(xlsx_bytes("payments", ["account"], [["6222021234561234567"]], as_text)))
    cell = wb.active["A2"]
    assert (wb.active.title, cell.value, cell.number_format) == ("payments", "6222021234561234567", "@")
    wb = load_workbook(io.BytesIO(xlsx_bytes("x" * 40, ["s"], [[Decimal("9.50")]],
                                             lambda v: (v, "0.00"))))
    assert len(wb.active.title) == 31 and wb.active["A2"].number_format == "0.00"


def test_with_values_puts_computed_values_beside_the_row():
    row = SimpleNamespace(id=1, id_masked="110***", name="x")
    view = with_values(row, count=3)

    class Out(Schema):
        id = fields.Integer()
        id_number = fields.String(attribute="id_masked")
        count = fields.Integer()

    assert Out().dump(view) == {"id": 1, "id_number": "110***", "count": 3}


class Data(Schema):
    candidate_id = fields.Integer(required=True)


def test_the_subscriber_loads_the_data_and_names_the_handler():
    subscriber = Subscriber("registration", "candidate_approved", schema=Data)
    subscriber.container = SimpleNamespace(service_name="training")
    subscriber.method_name = "on_candidate_approved"
    event = Event(id="e1", type="wsli.registration.candidate_approved.v1", source="/agencies/b/registration",
                  subject="1", time="", agency="b", data={"candidate_id": "7", "extra": True})
    read = subscriber.read(event)
    assert read.data == {"candidate_id": 7} and read.raw_data == event.data
    assert read.handler == "training.on_candidate_approved"
    with pytest.raises(ValidationFailed):
        subscriber.read(Event(**dict(vars(event), data={"candidate_id": "x"})))


class FakeDb:
    def __init__(self):
        self.commits = self.rollbacks = 0

    def commit(self):
        self.commits += 1

    def rollback(self):
        self.rollbacks += 1


def _handler(failures: list):
    @handler_transaction
    def handle(self, event):
        if failures:
            raise failures.pop(0)

    return handle


def test_a_lost_race_is_run_again_and_committed():
    this = SimpleNamespace(db=FakeDb())
    race = IntegrityError("INSERT", {}, Exception("duplicate key"))
    _handler([race])(this, SimpleNamespace(id="e1"))
    assert (this.db.rollbacks, this.db.commits) == (1, 1)


def test_a_race_lost_every_time_goes_to_the_retries_not_the_dead_letters():
    this = SimpleNamespace(db=FakeDb())
    race = IntegrityError("INSERT", {}, Exception("duplicate key"))
    with pytest.raises(LostRace):
        _handler([race] * RACE_RERUNS)(this, SimpleNamespace(id="e1"))
    from shared.subscriber import PERMANENT
    assert not issubclass(LostRace, PERMANENT)
    assert this.db.commits == 0


def test_any_other_failure_rolls_back_and_propagates():
    this = SimpleNamespace(db=FakeDb())
    with pytest.raises(RuleViolation):
        _handler([RuleViolation("no", {}, rule="x")])(this, SimpleNamespace(id="e1"))
    assert (this.db.rollbacks, this.db.commits) == (1, 0)
