"""Lecture subsidies over HTTP: uploads, reports refused with the rule named, bank files in and out.

Export policy under test: finance gets the bank file with full account numbers; the
center's staff (operator, admin) get the same file with accounts masked, to check a
batch without being able to pay from it; every export is in the audit trail.
"""
from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import requests

from sqlalchemy import text

from shared.db import make_engine
from shared.pii import get_vault
from tests.conftest import wait_for
from tests.integration.test_subsidies_flow import (
    JPEG, L7, L8, MP4, PNG, lecturer_ready, make_lecturer, recent_working_day, report,
)
from tests.support import resident_id

pytestmark = pytest.mark.e2e


@pytest.fixture
def tour(stack, admin):
    """A cycle whose tour window holds today, and two lecturers: L7 in the tour, L8 not."""
    cycle = "E" + uuid.uuid4().hex[:8]
    day = recent_working_day()
    status, body = admin.put(f"/api/v1/subsidy-cycles/{cycle}", {
        "tour_start": (day - timedelta(days=30)).isoformat(), "tour_end": (day + timedelta(days=60)).isoformat(),
        "lecture_subsidy_fen": 20000})
    assert status == 200, body
    amqp = stack.configs["subsidies"]["AMQP_URI"]
    uri = stack.configs["subsidies"]["DB_URI"]
    ids = {7: make_lecturer(amqp, cycle, L7), 8: make_lecturer(amqp, cycle, L8, in_tour=False)}
    wait_for(lambda: lecturer_ready(uri, cycle, L7), message="lecturer 7")
    return {"cycle": cycle, "ids": ids, "day": day, "uri": uri}


def put_file(api, data: bytes, name: str, ctype: str):
    return api.call("POST", "/api/v1/lecture-files", raw=data, params={"filename": name},
                    headers={"Content-Type": ctype})


def uploaded(api, tag: str) -> dict:
    shas = {}
    for key, data, name, ctype in (("signin", JPEG + tag.encode() + b"s", "签到表.jpg", "image/jpeg"),
                                   ("video", MP4 + tag.encode(), "全程.mp4", "video/mp4")):
        status, body = put_file(api, data, name, ctype)
        assert status == 201, body
        shas[key] = body["sha256"]
    shas["photos"] = []
    for n in range(4):
        status, body = put_file(api, PNG + f"{tag}{n}".encode(), f"现场{n}.png", "image/png")
        assert status == 201 and body["content_type"] == "image/png", body
        shas["photos"].append(body["sha256"])
    return shas


def outcome(api, lecture_id):
    """Long-poll in steps shorter than the stack's RPC timeout (3 s) until the checks are done (≤ 30 s)."""
    for _ in range(15):
        status, body = api.get(f"/api/v1/lectures/{lecture_id}/checks", params={"wait": "2"})
        if status != 200 or body["checks"] != "pending":
            return status, body
    return status, body


def test_uploads_are_sniffed_and_size_checked(stack, admin, tour):
    status, body = put_file(admin, b"GIF89a....", "x.gif", "image/jpeg")   # the claimed type is not trusted
    assert status == 400 and "file" in body["fields"]
    status, body = put_file(admin, b"", "empty.jpg", "image/jpeg")
    assert status == 400 and "file" in body["fields"]
    status, first = put_file(admin, JPEG + b"same", "a.jpg", "image/jpeg")
    status2, second = put_file(admin, JPEG + b"same", "b.jpg", "image/jpeg")
    assert (status, status2) == (201, 201) and first["sha256"] == second["sha256"]
    # the result-file route admits 4 MiB
    status, body = admin.call("POST", "/api/v1/payment-batches/1/results", raw=b"0" * (4 * 1024 * 1024 + 1),
                              headers={"Content-Type": "text/csv"})
    assert status == 413


def test_refused_reports_name_the_rule(stack, admin, tour):
    cycle, ids, day = tour["cycle"], tour["ids"], tour["day"]
    files = uploaded(admin, "r")
    lecturer = admin.as_(admin.token_for("lecturer", person=get_vault().blind_index(ids[7])))
    cases = [
        (report(cycle, L7, ids[7], files, day, venue="数不对公司", audience_count=29), "audience_mismatch"),
        (report(cycle, L7, ids[7], files, day, venue="少照片公司",
                photos=[{"file": f, "shows_banner": True} for f in files["photos"][:2]]), "evidence_incomplete"),
        (report(cycle, L8, ids[8], files, day, venue="非巡讲公司"), "lecturer_not_in_tour"),
    ]
    for form, rule in cases:
        status, body = admin.post("/api/v1/lectures", form)
        assert status == 201 and body["status"] == "received", body
        status, checked = outcome(admin, body["id"])
        assert status == 422 and checked["rule"] == rule, checked
        assert rule in checked["fields"]
    # late evidence: the center enters a report that arrived by email after the deadline
    status, _ = admin.put(f"/api/v1/subsidy-cycles/{cycle}", {"tour_start": "2022-09-01", "tour_end": "2023-04-30",
                                                              "lecture_subsidy_fen": 20000})
    late = report(cycle, L7, ids[7], files, day.replace(year=2022, month=9, day=30), venue="迟交公司",
                  received_at="2022-10-11T09:00:00+08:00")
    status, body = admin.post("/api/v1/lectures", late)
    assert status == 201, body
    status, checked = outcome(lecturer, body["id"])
    assert status == 422 and checked["rule"] == "evidence_late" and "2022-10-10" in checked["fields"]["evidence_late"][0]
    # a lecturer cannot back-date its own evidence
    status, body = lecturer.post("/api/v1/lectures", dict(late, venue="自己补的"))
    assert status == 403
    # the same lecturer, date and venue twice: refused at once
    first = report(cycle, L7, ids[7], files, day.replace(year=2022, month=10, day=20), venue="重复公司",
                   received_at="2022-10-21T09:00:00+08:00")
    assert admin.post("/api/v1/lectures", first)[0] == 201
    status, body = admin.post("/api/v1/lectures", first)
    assert status == 422 and body["rule"] == "duplicate_lecture"
    # account numbers: 12–19 digits
    for account in ("12345", "62220212345612345678", "6222O21234561234"):
        status, body = admin.post("/api/v1/lectures", dict(first, venue="账号公司", account_number=account))
        assert status == 400 and "bank_account_format" in body["fields"]["account_number"][0], (account, body)
    # nothing personal in the answers
    status, page = admin.get("/api/v1/lectures", params={"cycle": cycle, "per_page": "50"})
    assert status == 200 and page["total"] >= 5
    for item in page["items"]:
        assert ids[7] not in str(item) and "6222021234561234567" not in str(item)
        assert item["account_number"].endswith("4567") and item["account_number"].startswith("****")


def test_bank_file_finance_unmasked_operator_masked_then_results(stack, admin, tour):
    cycle, ids, day = tour["cycle"], tour["ids"], tour["day"]
    files = uploaded(admin, "p")
    lecturer = admin.as_(admin.token_for("lecturer", person=get_vault().blind_index(ids[7])))
    lecture_ids = []
    for venue in ("一号单位", "二号单位"):
        status, body = lecturer.post("/api/v1/lectures", report(cycle, L7, ids[7], files, day, venue=venue))
        assert status == 201, body
        status, checked = outcome(lecturer, body["id"])
        assert status == 200 and checked["checks"] == "passed", checked
        assert lecturer.post(f"/api/v1/lectures/{body['id']}/approval", {"signed_by": "x"})[0] == 403
        status, approved = admin.post(f"/api/v1/lectures/{body['id']}/approval", {"signed_by": "王审核"})
        assert status == 200 and approved["subsidy_fen"] == 20000
        lecture_ids.append(body["id"])
    status, mine = lecturer.get("/api/v1/lectures", params={"cycle": cycle})
    assert status == 200 and sorted(i["id"] for i in mine["items"]) == sorted(lecture_ids)
    stranger = admin.as_(admin.token_for("lecturer", person=get_vault().blind_index(resident_id())))
    assert stranger.get("/api/v1/lectures", params={"cycle": cycle})[1]["total"] == 0
    assert stranger.get(f"/api/v1/lectures/{lecture_ids[0]}")[0] == 404
    finance = admin.as_(admin.token_for("finance"))
    operator = admin.as_(admin.token_for("operator"))
    assert lecturer.post("/api/v1/payment-batches", {"cycle": cycle})[0] == 403
    status, batch = finance.post("/api/v1/payment-batches", {"cycle": cycle})
    assert status == 201 and batch["total_fen"] == 40000 and batch["total_yuan"] == "400.00", batch

    def download(api, fmt):
        r = requests.get(f"{stack.base}/api/v1/payment-batches/{batch['id']}/bank-file", params={"format": fmt},
                         headers={"Authorization": f"Bearer {api.token}"}, timeout=30)
        return r
    plain = download(finance, "csv")
    assert plain.status_code == 200 and plain.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in plain.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert [(r["name"], r["account"], r["amount_yuan"]) for r in rows] == [
        ("李宣讲", "6222021234561234567", "200.00")] * 2
    masked = download(operator, "csv")
    assert masked.status_code == 200
    assert "6222021234561234567" not in masked.content.decode("utf-8-sig")
    assert "***************4567" in masked.content.decode("utf-8-sig")
    xlsx = download(finance, "xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert download(lecturer, "csv").status_code == 403
    assert download(finance, "pdf").status_code == 400
    status, trail = admin.get(f"/api/v1/subsidies-audit/payment_batch/{batch['id']}")
    exports = [(e["actor_role"], e["detail"]["unmasked"], e["detail"]["format"])
               for e in trail if e["action"] == "batch.export"]
    assert exports == [("finance", True, "csv"), ("operator", False, "csv"), ("finance", True, "xlsx")]
    engine = make_engine(stack.configs["subsidies"]["DB_URI"])
    with engine.connect() as conn:
        exported = conn.execute(text("SELECT subject FROM outbox WHERE event_type = :t"),
                                {"t": "wsli.subsidies.payment_batch_exported.v1"}).scalars().all()
    engine.dispose()
    assert exported.count(str(batch["id"])) == 1, "the batch goes to the bank once: one event, at the first finance export"

    result = ("reference,status,reason\n" + f"{rows[0]['reference']},成功,\n"
              + f"{rows[1]['reference']},失败,账户已销户\n").encode("gb18030")
    status, imported = finance.call("POST", f"/api/v1/payment-batches/{batch['id']}/results", raw=result,
                                    params={"filename": "result.csv"}, headers={"Content-Type": "text/csv"})
    assert status == 200 and (imported["paid"], imported["failed"]) == (1, 1), imported
    status, bad = finance.call("POST", f"/api/v1/payment-batches/{batch['id']}/results", raw=b"a,b\n1,2\n",
                               headers={"Content-Type": "text/csv"})
    assert status == 400 and "file" in bad["fields"]
    status, retry = finance.post("/api/v1/payment-batches", {"cycle": cycle})
    assert status == 201 and retry["item_count"] == 1 and retry["total_fen"] == 20000
    status, nothing = finance.post("/api/v1/payment-batches", {"cycle": cycle})
    assert status == 422 and nothing["rule"] == "nothing_to_pay"
    status, comp = operator.get(f"/api/v1/subsidy-cycles/{cycle}/compliance")
    assert status == 200 and comp["total_lectures"] == 2 and comp["target"] == 150 and comp["remaining"] == 148


def test_a_report_with_all_its_evidence_in_one_multipart_request(stack, admin, tour):
    cycle, day = tour["cycle"], tour["day"]
    form = report(cycle, L7, tour["ids"][7], {"signin": "0" * 64, "video": "0" * 64, "photos": []}, day,
                  venue="多文件会场")
    for key in ("video", "photos"):
        form.pop(key)
    form["signin_sheet"] = {"head_count": 30}
    tag = uuid.uuid4().hex.encode()
    files = [("signin_sheet", ("签到表.jpg", JPEG + tag + b"s", "image/jpeg")),
             ("video", ("全程.mp4", MP4 + tag, "video/mp4")),
             ("banner_photos", ("横幅.png", PNG + tag + b"b", "image/png"))]
    files += [("photos", (f"现场{n}.png", PNG + tag + str(n).encode(), "image/png")) for n in range(3)]

    def send(parts, report_json=None):
        response = requests.post(stack.base + "/api/v1/lectures/with-evidence", timeout=30,
                                 headers={"Authorization": f"Bearer {admin.token}"},
                                 data={"report": report_json or json.dumps(form)}, files=parts)
        return response.status_code, response.json()

    status, body = send(files[:3] + [("photos", ("x.gif", b"GIF89a" + tag, "image/gif"))])
    assert status == 422 and body["rule"] == "evidence_type" and list(body["fields"]) == ["photos.0"], body
    status, body = send(files + [("selfie", ("s.png", PNG, "image/png"))])
    assert status == 400 and "selfie" in body["fields"]
    status, body = send(files, report_json="{not json")
    assert status == 400 and "report" in body["fields"]
    big = ("photos", ("big.png", PNG + b"\0" * (16 * 1024 * 1024), "image/png"))
    status, body = send(files[:3] + [big])
    assert status == 413 and list(body["fields"]) == ["photos.0"], body

    status, lecture = send(files)
    assert status == 201, lecture
    assert lecture["status"] == "received" and len(lecture["photos"]) == 4
    assert [p.get("shows_banner") for p in lecture["photos"]].count(True) == 1
    status, checked = outcome(admin, lecture["id"])
    assert status == 200 and checked["checks"] == "passed", checked     # ≥4 photos, banner, video, sheet
    assert send(files)[1]["rule"] == "duplicate_lecture"   # the same report again: the same rule as the JSON route


def test_concurrent_bulk_entry_approval_and_rejection_apply_each_report_once(stack, admin, tour):
    """Two operators send the same bulk calls at the same moment: each report stored once, each
    approval made once with one subsidy, each event once; the losers report what the winners did."""
    from concurrent.futures import ThreadPoolExecutor

    def at_once(path, bodies):
        with ThreadPoolExecutor(len(bodies)) as pool:
            return list(pool.map(lambda body: admin.as_(admin.token).post(path, body), bodies))

    cycle, ids, day = tour["cycle"], tour["ids"], tour["day"]
    files = uploaded(admin, "c")
    reports = [dict(report(cycle, L7, ids[7], files, day, venue=f"邮件会场{n}"),
                    received_at=f"{day.isoformat()}T10:00:00+08:00") for n in range(6)]
    # the same batch twice at once, the second in the opposite order
    answers = at_once("/api/v1/lectures/batch", [{"reports": reports}, {"reports": list(reversed(reports))}])
    assert [a[0] for a in answers] == [200, 200], answers
    assert all(i["ok"] for _, body in answers for i in body["items"]), answers
    assert sorted(body["applied"] for _, body in answers) in ([0, 6], [1, 5], [2, 4], [3, 3])
    assert sum(body["applied"] for _, body in answers) == 6
    first = [i["lecture_id"] for i in answers[0][1]["items"]]
    assert first == list(reversed([i["lecture_id"] for i in answers[1][1]["items"]])) and len(set(first)) == 6
    for lecture_id in first:
        status, checked = outcome(admin, lecture_id)
        assert status == 200 and checked["checks"] == "passed", checked

    # approvals: overlapping sets in opposite orders; rejections: the same set twice, one already approved
    approve_a, approve_b = first[:4], list(reversed(first[1:5]))
    with ThreadPoolExecutor(4) as pool:
        calls = [("/api/v1/lectures/approvals", {"lecture_ids": approve_a, "signed_by": "甲审核"}),
                 ("/api/v1/lectures/approvals", {"lecture_ids": approve_b, "signed_by": "乙审核"}),
                 ("/api/v1/lectures/rejections", {"lecture_ids": [first[5]], "signed_by": "甲审核",
                                                   "reasons": ["签到表不清"]}),
                 ("/api/v1/lectures/rejections", {"lecture_ids": [first[5]], "signed_by": "乙审核",
                                                   "reasons": ["签到表不清"]})]
        answers = list(pool.map(lambda call: admin.as_(admin.token).post(*call), calls))
    assert [a[0] for a in answers] == [200] * 4, answers
    assert all(i["ok"] for _, body in answers for i in body["items"]), answers
    approved = Counter(i["lecture_id"] for _, body in answers[:2] for i in body["items"] if i["outcome"] == "applied")
    assert sorted(approved) == sorted(first[:5]) and set(approved.values()) == {1}
    assert sorted(i["outcome"] for _, body in answers[2:] for i in body["items"]) == ["already", "applied"]

    status, late = admin.post("/api/v1/lectures/rejections", {"lecture_ids": [first[0], first[5]],
                                                              "signed_by": "丙", "reasons": ["复核"]})
    refused, again = late["items"]
    assert status == 200 and (refused["ok"], refused["status"]) == (False, 422) and again["outcome"] == "already"
    status, repeat = admin.post("/api/v1/lectures/approvals", {"lecture_ids": first[:5], "signed_by": "甲审核"})
    assert status == 200 and repeat["applied"] == 0 and {i["outcome"] for i in repeat["items"]} == {"already"}

    engine = make_engine(tour["uri"])
    try:
        with engine.connect() as conn:
            subsidies = conn.execute(text("SELECT lecture_id FROM subsidies WHERE cycle = :c"), {"c": cycle}).scalars()
            subsidies = sorted(subsidies)
            events = Counter(conn.execute(text(
                "SELECT event_type FROM outbox WHERE event_type IN (:a, :r, :s) AND subject IN (%s)"
                % ",".join(f"'{i}'" for i in first)), {
                "a": "wsli.subsidies.lecture_approved.v1", "r": "wsli.subsidies.lecture_rejected.v1",
                "s": "wsli.subsidies.report_submitted.v1"}).scalars())
    finally:
        engine.dispose()
    assert subsidies == sorted(first[:5])                                 # one subsidy per approval
    assert events == {"wsli.subsidies.lecture_approved.v1": 5, "wsli.subsidies.lecture_rejected.v1": 1,
                      "wsli.subsidies.report_submitted.v1": 6}
