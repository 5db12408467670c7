"""A bulk import announces each new policy as a form does (one policy_issued each), once: a
re-import announces nothing again; the import's summary still comes as one enterprises_imported."""
from __future__ import annotations

import base64

import pytest

from shared import events as ev
from tests.support import credit_code

SERVICE = "risk"
HEADER = "统一社会信用代码,企业名称,区,镇街,行业,从业人数,保险机构,保单年度,起保日期,终保日期,参保人数"


def upload(rows: list[str]) -> dict:
    body = ("\ufeff" + "\n".join([HEADER, *rows]) + "\n").encode()
    return {"filename": "企业.csv", "content_type": "text/csv", "data_base64": base64.b64encode(body).decode()}


def row(code, n, year=2026, insurer="甲保险"):
    return f"{code},企业{n},南海区,桂城街道,建筑施工,{20 + n},{insurer},{year},{year}-01-01,{year}-12-31,{10 + n}"


def test_each_imported_policy_is_announced_once(service):
    staff = service.as_("operator")
    staff.create_insurer({"name": "甲保险"})
    codes = [credit_code() for _ in range(5)]
    first = staff.import_enterprises(upload([row(c, n) for n, c in enumerate(codes[:4])]))
    assert (first["created"], first["policies"]) == (4, 4), first
    issued = service.emitted("policy_issued")
    assert sorted(e["credit_code"] for e in issued) == sorted(codes[:4])
    assert len({e["policy_id"] for e in issued}) == 4 and all(e["year"] == 2026 and e["premium_fen"] > 0
                                                              for e in issued)
    (summary,) = service.emitted("enterprises_imported")
    assert (summary["created"], summary["policies"]) == (4, 4)

    again = staff.import_enterprises(upload([row(c, n) for n, c in enumerate(codes[:4])]))
    assert (again["unchanged"], again["policies"]) == (4, 0), again
    assert len(service.emitted("policy_issued")) == 4  # nothing new, nothing announced

    # one more enterprise and next year's policies for two known ones: three new policies, three events
    more = staff.import_enterprises(upload([row(codes[4], 4), row(codes[0], 0, year=2027),
                                            row(codes[1], 1, year=2027)]))
    assert more["policies"] == 3, more
    later = service.emitted("policy_issued")[4:]
    assert sorted((e["credit_code"], e["year"]) for e in later) == sorted(
        [(codes[4], 2026), (codes[0], 2027), (codes[1], 2027)])
    assert all(e["rate_reason"] for e in later)


def test_many_envelopes_are_the_envelope_of_each_and_refuse_bad_data():
    (spec,) = ev.specs_for("risk", "policy_issued")
    data = {"policy_id": 1, "enterprise_id": 2, "credit_code": credit_code(), "insurer_id": 3, "year": 2026,
            "premium_fen": 100, "rate_bp": 21, "floating": False, "rate_reason": "基准费率"}
    from shared.workdays import utcnow
    now = utcnow()
    (many,) = ev.build_envelopes(spec, "a1", [("1", data)], now, request_id="r1")
    one = ev.build_envelope(spec, "a1", "1", data, now, request_id="r1")
    assert {k: v for k, v in many.items() if k != "id"} == {k: v for k, v in one.items() if k != "id"}
    with pytest.raises(ValueError):
        ev.build_envelopes(spec, "a1", [("1", data), ("2", dict(data, year="x"))], now)
