"""What the risk e2e modules share: a small world of insurers, organisations and imported enterprises."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from tests.conftest import wait_for
from tests.support import credit_code

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
YEAR = datetime.now(timezone.utc).year
B = "/api/v1/risk"


def upload(api, path, data: bytes, name: str, ctype: str):
    return api.call("POST", path, raw=data, params={"filename": name}, headers={"Content-Type": ctype})


@pytest.fixture
def calendar_to_next_year(tmp_path, monkeypatch):
    """Rectification deadlines are counted on the official calendar and never guessed. So that a
    test visiting "40 days ago" does not depend on today's year being one the calendar package
    knows, every later year up to next year gets an invented arrangement (its only holiday
    01-01) in a calendar directory of its own; years the package knows are left as they are."""
    from shared import calendar as cal
    from shared.workdays import CALENDAR_LAST_DAY

    previous = cal.configured_store()
    monkeypatch.setattr(cal, "RELOAD_SECONDS", 0.0)
    cal.configure_calendar(tmp_path / "calendar")
    store = cal.CalendarStore(tmp_path / "calendar")
    for year in range(CALENDAR_LAST_DAY.year + 1, datetime.now(timezone.utc).year + 2):
        store.add({"year": year, "holidays": [f"{year}-01-01"], "source": "虚构安排（测试）"}, actor="tester")
    yield store
    cal.configure_calendar(previous.directory if previous else None)


@pytest.fixture
def world(stack, admin):
    """Two insurers, two organisations with a technician each, and an enterprise import for last year."""
    tag = uuid.uuid4().hex[:6]
    d1, d2 = f"南海区{tag}", f"顺德区{tag}"
    ids = {}
    for key, name in (("A", f"甲财产保险{tag}"), ("B", f"乙财产保险{tag}")):
        status, body = admin.post(f"{B}/insurers", {"name": name})
        assert status == 201, body
        ids[key] = body
    status, branch = admin.post(f"{B}/insurers", {"name": f"甲财产保险{tag}桂城支公司", "parent_id": ids["A"]["id"]})
    assert status == 201 and branch["parent_id"] == ids["A"]["id"], branch
    ids["A-branch"] = branch
    for key in ("O1", "O2"):
        status, org = admin.post(f"{B}/organisations", {"name": f"安全技术服务{key}{tag}"})
        assert status == 201, org
        status, tech = admin.post(f"{B}/technicians", {"organisation_id": org["id"], "name": "李工", "phone": "13912345678"})
        assert status == 201 and tech["phone_masked"] == "139****5678", tech
        ids[key], ids[key + "tech"] = org, tech
    status, sub = admin.post(f"{B}/substations", {"name": f"桂城服务站{tag}", "district": d1, "town": "桂城街道",
                                                  "organisation_id": ids["O1"]["id"]})
    assert status == 201, sub
    codes = [credit_code() for _ in range(3)]
    header = "统一社会信用代码,企业名称,区,镇街,行业,从业人数,联系人,联系电话,经度,纬度,保险机构,保单年度,起保日期,终保日期,参保人数"
    last = YEAR - 1
    rows = [
        f"{codes[0]},佛山建工{tag},{d1},桂城街道,建筑施工,120,王五,13800001111,113.15,23.03,{ids['A']['name']},{last},{last}-01-01,{last}-12-31,100",
        f"{codes[1]},南海餐饮{tag},{d1},大沥镇,餐饮,30,赵六,13800002222,113.10,23.10,{ids['A']['name']},{last},{last}-01-01,{last}-12-31,20",
        f"{codes[2]},顺德化工{tag},{d2},大良街道,危险化学品,80,,,,,{ids['B']['name']},{last},{last}-01-01,{last}-12-31,60",
        f"91110000BADCODE000,坏行{tag},{d1},桂城街道,餐饮,5,,,,,,,,,",
        f"{credit_code()},缺行业{tag},{d1},桂城街道,,5,,,,,,,,,",
    ]
    csv_bytes = ("\ufeff" + "\n".join([header] + rows) + "\n").encode("utf-8")
    status, result = upload(admin, f"{B}/enterprise-imports", csv_bytes, "企业名单.csv", "text/csv")
    assert status == 200, result
    assert (result["created"], result["policies"], len(result["errors"])) == (3, 3, 2), result
    assert [e["row"] for e in result["errors"]] == [5, 6]
    assert "credit_code" in result["errors"][0]["fields"] and "industry" in result["errors"][1]["fields"]
    status, again = upload(admin, f"{B}/enterprise-imports", csv_bytes, "企业名单.csv", "text/csv")
    assert (again["created"], again["updated"], again["unchanged"], again["policies"]) == (0, 0, 3, 0), again
    status, page = admin.get(f"{B}/enterprises", params={"q": tag, "per_page": 10})
    ents = {e["credit_code"]: e for e in page["items"]}
    assert page["total"] == 3 and ents[codes[0]]["tier"] == "mandatory" and ents[codes[1]]["tier"] == "encouraged"
    assert ents[codes[0]]["phone_masked"] == "138****1111" and "contact_phone" not in ents[codes[0]]
    tokens = {
        "regulator1": admin.token_for("regulator", district=d1), "regulator2": admin.token_for("regulator", district=d2),
        "insurerA": admin.token_for("insurer", unit_id=ids["A"]["id"]),
        "insurerB": admin.token_for("insurer", unit_id=ids["B"]["id"]),
        "org1": admin.token_for("service_org", unit_id=ids["O1"]["id"]),
        "org2": admin.token_for("service_org", unit_id=ids["O2"]["id"]),
        "e1": admin.token_for("enterprise", person=codes[0]), "e2": admin.token_for("enterprise", person=codes[1]),
        "e3": admin.token_for("enterprise", person=codes[2]),
        "operator": admin.token_for("operator"), "integrator": admin.token_for("integrator"),
        "lecturer": admin.token_for("lecturer", person="p1"),
    }
    return {"tag": tag, "d1": d1, "d2": d2, "ids": ids, "codes": codes, "e": [ents[c] for c in codes],
            "api": {k: admin.as_(v) for k, v in tokens.items()}}


def _policies(admin, w):
    """This year's policies: E1 (no claim last year), E2 (a claim last year), E3 with insurer B."""
    a, b = w["ids"]["A"]["id"], w["ids"]["B"]["id"]
    status, pols = admin.get(f"{B}/policies", params={"enterprise_id": w["e"][1]["id"], "year": YEAR - 1})
    last_e2 = pols["items"][0]
    status, claim = w["api"]["e2"].post(f"{B}/claims", {"policy_id": last_e2["id"], "accident_date": f"{YEAR - 1}-06-01",
                                                         "description": "后厨烫伤一人", "casualties": 1})
    assert status == 201 and claim["status"] == "reported", claim
    insurer = w["api"]["insurerA"]
    assert insurer.post(f"{B}/claims/{claim['id']}/advances", {"amount_fen": 500000})[1]["advance_paid_fen"] == 500000
    assert insurer.post(f"{B}/claims/{claim['id']}/settlement", {"amount_fen": 800000})[0] == 422  # not surveyed
    assert insurer.post(f"{B}/claims/{claim['id']}/survey", {"notes": "现场查勘属实"})[1]["status"] == "surveyed"
    status, body = insurer.post(f"{B}/claims/{claim['id']}/settlement", {"amount_fen": 400000})
    assert status == 422 and body["rule"] == "settle_below_advance"
    assert insurer.post(f"{B}/claims/{claim['id']}/settlement", {"amount_fen": 800000})[1]["status"] == "settled"
    assert w["api"]["insurerB"].post(f"{B}/claims/{claim['id']}/survey", {"notes": "x"})[0] == 404
    period = {"year": YEAR, "period_start": f"{YEAR}-01-01", "period_end": f"{YEAR}-12-31"}
    out = []
    for ent, insurer_id, workers in ((w["e"][0], a, 100), (w["e"][1], a, 20), (w["e"][2], b, 60)):
        status, pol = admin.post(f"{B}/policies", dict(period, enterprise_id=ent["id"], insurer_id=insurer_id,
                                                       insured_workers=workers))
        assert status == 201, pol
        out.append(pol)
    # 建筑施工, no claim: floating 16‱; 100 × 50,000,000 fen × 16‱ = 8,000,000 fen
    assert (out[0]["rate_bp"], out[0]["floating"], out[0]["premium_fen"]) == (16, True, 8_000_000)
    assert "无理赔" in out[0]["rate_reason"]
    # 餐饮 with last year's claim: base 10‱; 20 × 50,000,000 × 10‱ = 1,000,000 fen
    assert (out[1]["rate_bp"], out[1]["floating"], out[1]["premium_fen"]) == (10, False, 1_000_000)
    assert "理赔1起" in out[1]["rate_reason"]
    assert admin.post(f"{B}/policies", dict(period, enterprise_id=w["e"][0]["id"], insurer_id=a,
                                            insured_workers=1))[0] == 409
    # an insurer issues only its own policies
    assert w["api"]["insurerB"].post(f"{B}/policies", dict(period, enterprise_id=w["e"][0]["id"], insurer_id=a,
                                                           insured_workers=1))[0] == 403
    return out


class Listener:
    """A queue bound to some of risk's routing keys, as a regulator's or the center's system would bind."""

    def __init__(self, amqp, tag, *keys):
        from kombu import Connection, Exchange, Queue
        self.conn = Connection(amqp)
        exchange = Exchange("risk.events", type="topic", durable=True)
        self.queue = Queue(f"test-risk-{tag}-{uuid.uuid4().hex[:6]}", exchange, routing_key=keys[0], auto_delete=True)
        self.queue(self.conn.default_channel).declare()
        for key in keys[1:]:
            self.queue(self.conn.default_channel).bind_to(exchange, routing_key=key)
        self.got = []

    def wait(self, predicate, message):
        import json

        def arrived():
            msg = self.queue(self.conn.default_channel).get(no_ack=True)
            if msg is not None:
                self.got.append(json.loads(msg.body))
            return next((g for g in self.got if predicate(g)), None)

        return wait_for(arrived, timeout=15, message=message)

    def close(self):
        self.conn.release()
