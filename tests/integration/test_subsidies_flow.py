"""The subsidies service on a real broker and both databases: reports, checks, money, events."""
from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from kombu import Connection, Exchange, Producer, Queue
from sqlalchemy import func, select

from services.subsidies import models
from services.subsidies.service import SubsidiesService
from shared.auth import Principal
from shared.catalogue import load_all_event_schemas
from shared.db import make_engine
from shared.errors import Forbidden, RuleViolation, ValidationFailed
from shared.events import rfc3339
from shared.pii import get_vault
from shared.workdays import utcnow
from tests.conftest import ADMIN, AGENCY, OPERATOR, rpc, wait_for
from tests.support import resident_id

pytestmark = pytest.mark.integration

# the producers' own schemas, where built, so the envelopes below are checked against them
load_all_event_schemas()

FINANCE = Principal(role="finance", agency=AGENCY, name="test-finance")
SHANGHAI = timezone(timedelta(hours=8))
# Candidate ids far from any registration's: the session's vhost is shared, and other services'
# durable queues also receive these hand-made events.
L7, L8, L9 = 7_000_007, 7_000_008, 7_000_009
JPEG = b"\xff\xd8\xff\xe0" + b"JFIF-test-"
PNG = b"\x89PNG\r\n\x1a\n" + b"png-test-"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"video-test-"


# ---- helpers other subsidies tests reuse ----------------------------------------------------------

def envelope(service: str, name: str, data: dict, subject="x", event_id=None) -> dict:
    """A CloudEvent as a producer we do not run (scoring, training) would publish it."""
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "type": f"wsli.{service}.{name}.v1",
            "source": f"/agencies/{AGENCY}/{service}", "subject": str(subject), "time": rfc3339(utcnow()),
            "datacontenttype": "application/json", "agency": AGENCY, "data": data}


def publish(amqp_uri: str, service: str, name: str, body: dict):
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        Producer(conn.default_channel).publish(
            json.dumps(body, default=str).encode(), exchange=Exchange(f"{service}.events", type="topic", durable=True),
            routing_key=name, content_type="application/json", content_encoding="utf-8",
            message_id=body["id"], delivery_mode=2)


def make_lecturer(amqp_uri, cycle, candidate_id, in_tour=True, name="李宣讲") -> str:
    """Registration's approval and scoring's advancement of one candidate; returns its ID number."""
    id_number = resident_id()
    publish(amqp_uri, "registration", "candidate_approved", envelope("registration", "candidate_approved", {
        "candidate_id": candidate_id, "cycle": cycle, "unit_id": candidate_id, "status": "approved", "signed_by": "中心",
        "opinion": "", "sealed_at": rfc3339(utcnow()), "unit_kind": "insured_enterprise", "district": "东城区",
        "name": name, "gender": "male", "id_number_masked": "110***********0000",
        "person_key": get_vault().blind_index(id_number), "registered_at": rfc3339(utcnow())}))
    if in_tour:
        publish(amqp_uri, "scoring", "candidate_advanced", envelope("scoring", "candidate_advanced", {
            "cycle": cycle, "candidate_id": candidate_id, "from_stage": "key", "to_stage": "intensive",
            "rank": candidate_id % 80 + 1, "score": "88.50"}))
    return id_number


def upload(cluster, data: bytes, filename="f.jpg") -> str:
    out = cluster.subsidies.upload_evidence({"filename": filename, "content_type": "application/octet-stream",
                                             "data_base64": base64.b64encode(data).decode(), "query": {}})
    return out["sha256"]


def evidence_files(cluster, tag: str = "") -> dict:
    """A sign-in sheet, a video and four photos (the first showing the banner), uploaded."""
    return {"signin": upload(cluster, JPEG + b"signin" + tag.encode()),
            "video": upload(cluster, MP4 + tag.encode(), "v.mp4"),
            "photos": [upload(cluster, JPEG + f"photo{n}{tag}".encode()) for n in range(4)]}


def report(cycle, candidate_id, id_number, files, lecture_date, **overrides) -> dict:
    form = {
        "cycle": cycle, "candidate_id": candidate_id, "kind": "self_hosted", "lecturer_name": "李宣讲",
        "id_number": id_number, "lecture_date": lecture_date.isoformat(), "venue": "北京某某化工有限公司",
        "audience_count": 30, "bank": "中国工商银行", "branch": "北京东城支行",
        "account_number": "6222 0212 3456 1234 567", "contact": "13812345678",
        "signin_sheet": {"file": files["signin"], "head_count": 30}, "video": {"file": files["video"]},
        "photos": [{"file": f, "shows_banner": n == 0} for n, f in enumerate(files["photos"])],
    }
    form.update(overrides)
    return form


def recent_working_day() -> date:
    """A lecture date whose evidence is on time today: the last working day before today."""
    from shared.workdays import is_working_day, local_date
    day = local_date(utcnow()) - timedelta(days=1)
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def lecturer_ready(uri, cycle, candidate_id):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(models.Lecturer.in_tour, models.Lecturer.person_key).where(
                models.Lecturer.cycle == cycle, models.Lecturer.candidate_id == candidate_id)).first()
            return row is not None and row[0] and row[1] is not None
    finally:
        engine.dispose()


def count(uri, stmt):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(stmt).scalar()
    finally:
        engine.dispose()


def checks(cluster, lecture_id, wait=8.0):
    """The checks' outcome as the HTTP caller sees it: ("passed", body) or ("failed", RuleViolation)."""
    try:
        body = cluster.subsidies.lecture_checks(lecture_id, {"wait": wait})
    except RuleViolation as exc:
        return "failed", exc
    return body["checks"], body


# ---- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture
def subsidies(databases, base_config, runners, amqp_uri):
    uri = databases.migrated("subsidies")
    config = base_config(uri)
    runners(config, SubsidiesService)
    code = "T" + uuid.uuid4().hex[:8]
    start = recent_working_day() - timedelta(days=60)
    with rpc(config, ADMIN) as cluster:
        cluster.subsidies.set_cycle(code, {"tour_start": start.isoformat(),
                                           "tour_end": (start + timedelta(days=120)).isoformat(),
                                           "lecture_subsidy_fen": 30000, "target_lectures": 3})
    return {"config": config, "uri": uri, "cycle": code, "amqp": amqp_uri}


@pytest.fixture
def lecturer(subsidies):
    id_number = make_lecturer(subsidies["amqp"], subsidies["cycle"], L7)
    wait_for(lambda: lecturer_ready(subsidies["uri"], subsidies["cycle"], L7), message="the lecturer's events")
    return id_number


# ---- tests ------------------------------------------------------------------------------------------

def test_a_compliant_report_passes_checks_gets_one_subsidy_and_emits_lecture_approved(subsidies, lecturer):
    cfg, cycle = subsidies["config"], subsidies["cycle"]
    approved_q = Queue(f"t-approved-{uuid.uuid4().hex[:6]}", Exchange("subsidies.events", type="topic", durable=True),
                       routing_key="lecture_approved", auto_delete=True)
    with Connection(subsidies["amqp"]) as conn:
        approved_q(conn.default_channel).declare()
    with rpc(cfg, ADMIN) as cluster:
        files = evidence_files(cluster)
        day = recent_working_day()
        out = cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day))
        assert out["status"] == "received"
        assert out["account_number"] == "***************4567" and out["id_number"].startswith("110***")
        state, body = checks(cluster, out["id"])
        assert state == "passed", body
        lecture = cluster.subsidies.get_lecture(out["id"])
        assert lecture["status"] == "awaiting_review" and lecture["checked_by"]
        approved = cluster.subsidies.approve_lecture(out["id"], {"signed_by": "王审核"})
        assert approved["status"] == "approved" and approved["subsidy_fen"] == 30000
        with pytest.raises(RuleViolation) as again:
            cluster.subsidies.approve_lecture(out["id"], {"signed_by": "王审核"})
        assert again.value.rule == "status_transition"
    assert count(subsidies["uri"], select(func.count()).select_from(models.Subsidy)) == 1

    def received():
        with Connection(subsidies["amqp"]) as conn:
            message = approved_q(conn.default_channel).get(no_ack=True)
            return message and json.loads(message.body)
    body = wait_for(received, message="lecture_approved on the bus")
    assert body["type"] == "wsli.subsidies.lecture_approved.v1"
    assert set(body["data"]) == {"cycle", "lecture_id", "candidate_id", "kind", "lecture_date", "approved_at"}
    assert body["data"]["lecture_id"] == out["id"] and body["data"]["kind"] == "self_hosted"
    assert body["data"]["lecture_date"] == recent_working_day().isoformat()


def test_each_failed_check_is_named_and_a_correction_passes(subsidies, lecturer):
    cfg, cycle = subsidies["config"], subsidies["cycle"]
    with rpc(cfg, ADMIN) as cluster:
        files = evidence_files(cluster, "b")
        day = recent_working_day()
        bad = report(cycle, L7, lecturer, files, day, audience_count=31,
                     photos=[{"file": f, "shows_banner": False} for f in files["photos"][:3]], video=None)
        out = cluster.subsidies.submit_lecture(bad)
        state, exc = checks(cluster, out["id"])
        assert state == "failed"
        assert exc.rule == "audience_mismatch"
        assert set(exc.fields) == {"audience_mismatch", "evidence_incomplete"}
        assert "video" in exc.fields["evidence_incomplete"][0] and "banner" in exc.fields["evidence_incomplete"][0]
        assert cluster.subsidies.get_lecture(out["id"])["status"] == "checks_failed"
        with pytest.raises(RuleViolation) as not_yet:
            cluster.subsidies.approve_lecture(out["id"], {"signed_by": "王审核"})
        assert not_yet.value.rule == "status_transition"
        fixed = cluster.subsidies.resubmit_lecture(out["id"], report(cycle, L7, lecturer, files, day))
        assert fixed["version"] == 2 and fixed["status"] == "received"
        state, body = checks(cluster, out["id"])
        assert state == "passed", body


def test_ineligible_wrong_id_outside_window_and_late_reports_are_refused(subsidies, lecturer):
    cfg, cycle, amqp = subsidies["config"], subsidies["cycle"], subsidies["amqp"]
    outsider = make_lecturer(amqp, cycle, L8, in_tour=False)
    wait_for(lambda: count(subsidies["uri"], select(func.count()).select_from(models.Lecturer)
                           .where(models.Lecturer.candidate_id == L8)) == 1, message="candidate L8")
    with rpc(cfg, ADMIN) as cluster:
        files = evidence_files(cluster, "c")
        day = recent_working_day()
        cases = [
            (report(cycle, L8, outsider, files, day), "lecturer_not_in_tour"),
            (report(cycle, L7, resident_id(), files, day, venue="别的单位"), "lecturer_id_mismatch"),
        ]
        for form, rule in cases:
            out = cluster.subsidies.submit_lecture(form)
            state, exc = checks(cluster, out["id"])
            assert state == "failed" and exc.rule == rule, (rule, exc)
        # 2022-09-30 (a Friday before National Day): due 2022-10-10; received on the 11th is late
        cluster.subsidies.set_cycle(cycle, {"tour_start": "2022-09-01", "tour_end": "2023-04-30",
                                            "lecture_subsidy_fen": 30000})
        on_time = report(cycle, L7, lecturer, files, date(2022, 9, 30), venue="单位甲",
                         received_at=datetime(2022, 10, 10, 23, 0, tzinfo=SHANGHAI).isoformat())
        late = report(cycle, L7, lecturer, files, date(2022, 9, 30), venue="单位乙",
                      received_at=datetime(2022, 10, 11, 0, 30, tzinfo=SHANGHAI).isoformat())
        early = report(cycle, L7, lecturer, files, date(2022, 8, 31), venue="单位丙",
                       received_at=datetime(2022, 9, 1, 9, 0, tzinfo=SHANGHAI).isoformat())
        assert checks(cluster, cluster.subsidies.submit_lecture(on_time)["id"])[0] == "passed"
        state, exc = checks(cluster, cluster.subsidies.submit_lecture(late)["id"])
        assert state == "failed" and exc.rule == "evidence_late" and "2022-10-10" in exc.fields["evidence_late"][0]
        state, exc = checks(cluster, cluster.subsidies.submit_lecture(early)["id"])
        assert state == "failed" and exc.rule == "outside_tour_window"
        # a late report cannot be corrected any more
        late_id = cluster.subsidies.list_lectures({"cycle": cycle, "status": "checks_failed", "per_page": 50})
        late_row = next(r for r in late_id["items"] if r["venue"] == "单位乙")
        with pytest.raises(RuleViolation) as refused:
            cluster.subsidies.resubmit_lecture(late_row["id"], dict(late, received_at=None))
        assert refused.value.rule == "evidence_late"


def test_duplicates_bad_accounts_and_unknown_files_are_refused_synchronously(subsidies, lecturer):
    cfg, cycle = subsidies["config"], subsidies["cycle"]
    with rpc(cfg, ADMIN) as cluster:
        files = evidence_files(cluster, "d")
        day = recent_working_day()
        cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day))
        with pytest.raises(RuleViolation) as dup:
            # same lecturer, date and venue, spelled with other spacing and width
            cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, venue=" 北京某某化工有限公司 "))
        assert dup.value.rule == "duplicate_lecture"
        for account in ("12345678901", "12345678901234567890", "6222-0212-3456-1234", "62220212345612ab"):
            with pytest.raises(ValidationFailed) as bad:
                cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, account_number=account,
                                                        venue="另一单位"))
            assert "bank_account_format" in bad.value.fields["account_number"][0], account
        with pytest.raises(ValidationFailed) as unknown:
            cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, venue="另一单位",
                                                    video={"file": "0" * 64}))
        assert "video.file" in unknown.value.fields
        with pytest.raises(ValidationFailed) as wrong_kind:
            cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, venue="另一单位",
                                                    video={"file": files["signin"]}))
        assert "video.file" in wrong_kind.value.fields
        with pytest.raises(ValidationFailed) as future:
            cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, date.today() + timedelta(days=2),
                                                    venue="另一单位"))
        assert "lecture_date" in future.value.fields
        with pytest.raises(ValidationFailed) as no_order:
            cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, venue="另一单位",
                                                    kind="on_demand", order_id=987654))
        assert "order_id" in no_order.value.fields
        with pytest.raises(ValidationFailed) as not_a_file:
            upload(cluster, b"GIF89a not accepted")
        assert "file" in not_a_file.value.fields
    with rpc(cfg, Principal(role="lecturer", agency=AGENCY, person="0" * 64)) as cluster:
        with pytest.raises(Forbidden):
            cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, venue="冒名"))


def test_payment_batch_export_masking_and_bank_results(subsidies, lecturer):
    cfg, cycle = subsidies["config"], subsidies["cycle"]
    day = recent_working_day()
    with rpc(cfg, ADMIN) as cluster:
        files = evidence_files(cluster, "e")
        ids = []
        for venue in ("甲公司", "乙公司"):
            out = cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, venue=venue))
            assert checks(cluster, out["id"])[0] == "passed"
            cluster.subsidies.approve_lecture(out["id"], {"signed_by": "王审核"})
            ids.append(out["id"])
        batch = cluster.subsidies.create_batch({"cycle": cycle})
        assert batch["item_count"] == 2 and batch["total_fen"] == 60000 and batch["total_yuan"] == "600.00"
        with pytest.raises(RuleViolation) as empty:
            cluster.subsidies.create_batch({"cycle": cycle})
        assert empty.value.rule == "nothing_to_pay"
        masked = cluster.subsidies.export_batch(batch["id"], {"format": "csv"})
        text = base64.b64decode(masked["data_base64"]).decode("utf-8-sig")
        assert "6222021234561234567" not in text and "***************4567" in text
    with rpc(cfg, FINANCE) as cluster:
        full = cluster.subsidies.export_batch(batch["id"], {"format": "csv"})
        rows = list(csv.DictReader(io.StringIO(base64.b64decode(full["data_base64"]).decode("utf-8-sig"))))
        assert [r["account"] for r in rows] == ["6222021234561234567"] * 2
        assert [r["amount_yuan"] for r in rows] == ["300.00", "300.00"]
        assert rows[0]["branch"] == "北京东城支行"
        xlsx = cluster.subsidies.export_batch(batch["id"], {"format": "xlsx"})
        from openpyxl import load_workbook
        sheet = load_workbook(io.BytesIO(base64.b64decode(xlsx["data_base64"]))).active
        values = list(sheet.iter_rows(values_only=True))
        # title, Chinese header, the rows (account as text, amount in yuan), the total row
        assert values[0][0].startswith(f"宣讲补贴拨付批次 {batch['id']}") and sheet.freeze_panes == "A3"
        assert values[1] == ("业务编号", "姓名", "开户行", "支行", "账号", "金额（元）")
        assert values[2][4] == "6222021234561234567" and sheet["E3"].number_format == "@"
        assert values[2][5] == 300 and sheet["F3"].number_format == "#,##0.00"
        assert values[4][0] == "合计" and values[4][5] == "=SUM(F3:F4)"
        result = "reference,status,reason\r\n" + f"{rows[0]['reference']},paid,\r\n" + \
                 f"{rows[1]['reference']},failed,户名与账号不符\r\nB999-I1,paid,\r\n"
        body = {"filename": "r.csv", "content_type": "text/csv", "query": {},
                "data_base64": base64.b64encode(result.encode()).decode()}
        imported = cluster.subsidies.import_results(batch["id"], body)
        assert (imported["paid"], imported["failed"], len(imported["errors"])) == (1, 1, 1)
        assert imported["batch"]["status"] == "settled"
        again = cluster.subsidies.import_results(batch["id"], body)
        assert (again["paid"], again["failed"], again["unchanged"]) == (0, 0, 2)
        # the failed one is back in the pool; the paid one never is
        retry = cluster.subsidies.create_batch({"cycle": cycle})
        assert retry["item_count"] == 1 and retry["total_fen"] == 30000
    trail = None
    with rpc(cfg, ADMIN) as cluster:
        trail = cluster.subsidies.audit_trail("payment_batch", batch["id"])
    exports = [(e["actor_role"], e["detail"]["unmasked"]) for e in trail if e["action"] == "batch.export"]
    assert exports == [("admin", False), ("finance", True), ("finance", True)]
    paid = count(subsidies["uri"], select(func.count()).select_from(models.Subsidy)
                 .where(models.Subsidy.status == "paid"))
    assert paid == 1
    # at most one pending-or-paid payment per subsidy, whatever the code does
    engine = make_engine(subsidies["uri"])
    try:
        with engine.begin() as conn:
            paid_item = conn.execute(select(models.PaymentItem).where(models.PaymentItem.status == "paid")).first()
            from sqlalchemy import insert
            from sqlalchemy.exc import IntegrityError
            with pytest.raises(IntegrityError):
                conn.execute(insert(models.PaymentItem).values(batch_id=retry["id"], subsidy_id=paid_item.subsidy_id,
                                                               amount_fen=30000, status="pending"))
    finally:
        engine.dispose()


def test_training_subsidy_is_granted_once_per_person(subsidies):
    cfg, amqp = subsidies["config"], subsidies["amqp"]
    key = get_vault().blind_index(resident_id())

    def completed(class_id, passed=True, event_id=None):
        return envelope("training", "training_completed", {
            "person_key": key, "person_name": "赵安全", "class_id": class_id, "year": 2026, "class_hours": 24,
            "passed": passed, "completed_at": rfc3339(utcnow())}, event_id=event_id)

    failed_first = completed(10, passed=False)
    first = completed(11)
    for body in (failed_first, first, first, completed(12)):   # `first` redelivered
        publish(amqp, "training", "training_completed", body)

    def settled():
        with rpc(cfg, FINANCE) as cluster:
            try:
                out = cluster.subsidies.get_training_subsidy(key)
            except Exception:
                return None
            return out if out["refused_classes"] == 1 else None
    out = wait_for(settled, message="the training subsidy and the refused second class")
    assert out["class_id"] == 11
    assert count(subsidies["uri"], select(func.count()).select_from(models.TrainingSubsidy)) == 1


def test_on_demand_order_lifecycle_and_report(subsidies, lecturer):
    cfg, cycle = subsidies["config"], subsidies["cycle"]
    enterprise = Principal(role="enterprise", agency=AGENCY, person="ent-001", name="某燃气公司")
    day = recent_working_day()
    with rpc(cfg, enterprise) as cluster:
        order = cluster.subsidies.order_lecture({
            "cycle": cycle, "enterprise_name": "北京某燃气有限公司", "topic": "安责险与事故预防",
            "wished_dates": [day.isoformat()], "audience_size": 40, "address": "北京市朝阳区某路1号"})
        assert order["status"] == "ordered"
    with rpc(cfg, OPERATOR) as cluster:
        with pytest.raises(RuleViolation) as early:
            cluster.subsidies.mark_order_held(order["id"], {})
        assert early.value.rule == "status_transition"
        with pytest.raises(RuleViolation) as outsider:
            cluster.subsidies.accept_order(order["id"], {"candidate_id": 99})
        assert outsider.value.rule == "lecturer_not_in_tour"
        files = evidence_files(cluster, "f")
        form = report(cycle, L7, lecturer, files, day, kind="on_demand", order_id=order["id"],
                      venue="北京某燃气有限公司")
        premature = cluster.subsidies.submit_lecture(form)
        state, exc = checks(cluster, premature["id"])
        assert state == "failed" and exc.rule == "order_mismatch"
    with rpc(cfg, Principal(role="lecturer", agency=AGENCY, person=get_vault().blind_index(lecturer))) as cluster:
        assert cluster.subsidies.accept_order(order["id"], {})["candidate_id"] == L7
        assert cluster.subsidies.schedule_order(order["id"], {"date": day.isoformat()})["status"] == "scheduled"
        assert cluster.subsidies.mark_order_held(order["id"], {})["status"] == "held"
        fixed = cluster.subsidies.resubmit_lecture(premature["id"], form)
        assert checks(cluster, fixed["id"])[0] == "passed"
    with rpc(cfg, enterprise) as cluster:
        with pytest.raises(RuleViolation) as late_cancel:
            cluster.subsidies.cancel_order(order["id"], {"reason": "改期"})
        assert late_cancel.value.rule == "status_transition"


def test_compliance_counts_kinds_and_the_self_hosted_minimum(subsidies, lecturer):
    cfg, cycle, amqp = subsidies["config"], subsidies["cycle"], subsidies["amqp"]
    make_lecturer(amqp, cycle, L9)
    wait_for(lambda: lecturer_ready(subsidies["uri"], cycle, L9), message="candidate 9")
    day = recent_working_day()
    with rpc(cfg, ADMIN) as cluster:
        files = evidence_files(cluster, "g")
        for kind, venue in (("self_hosted", "本单位"), ("exchange", "兄弟单位")):
            host = {"host_candidate_id": L9} if kind == "exchange" else {}
            out = cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, kind=kind, venue=venue, **host))
            assert checks(cluster, out["id"])[0] == "passed"
            cluster.subsidies.approve_lecture(out["id"], {"signed_by": "王审核"})
        own_host = cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, kind="exchange",
                                                           venue="自己单位", host_candidate_id=L7))
        outcome, refused = checks(cluster, own_host["id"])
        assert outcome == "failed" and refused.rule == "exchange_host", "a lecturer cannot host its own exchange"
        rejected = cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, venue="第三处"))
        assert checks(cluster, rejected["id"])[0] == "passed"
        out = cluster.subsidies.reject_lecture(rejected["id"], {"signed_by": "王审核", "reasons": ["视频不清晰"]})
        assert out["review_reasons"] == ["视频不清晰"]
        report_ = cluster.subsidies.compliance_report(cycle)
    rows = {r["candidate_id"]: r for r in report_["lecturers"]}
    assert rows[L7]["by_kind"] == {"self_hosted": 1, "exchange": 1, "on_demand": 0} and rows[L7]["self_hosted_met"]
    assert rows[L9]["total"] == 0 and not rows[L9]["self_hosted_met"]
    assert report_["self_hosted_missing"] == [L9]
    assert (report_["total_lectures"], report_["target"], report_["remaining"], report_["target_met"]) == (2, 3, 1, False)


def test_an_approval_is_revoked_only_while_its_subsidy_is_unpaid(subsidies, lecturer):
    cfg, cycle = subsidies["config"], subsidies["cycle"]
    day = recent_working_day()
    with rpc(cfg, ADMIN) as cluster:
        files = evidence_files(cluster, "h")
        ids = []
        for venue in ("先批单位", "后批单位"):
            out = cluster.subsidies.submit_lecture(report(cycle, L7, lecturer, files, day, venue=venue))
            assert checks(cluster, out["id"])[0] == "passed"
            cluster.subsidies.approve_lecture(out["id"], {"signed_by": "王审核"})
            ids.append(out["id"])
        batch = cluster.subsidies.create_batch({"cycle": cycle, "limit": 1})
        assert batch["item_count"] == 1
        with pytest.raises(RuleViolation) as paying:
            cluster.subsidies.revoke_approval(ids[0], {"reason": "照片系他场"})
        assert paying.value.rule == "subsidy_in_payment"
        revoked = cluster.subsidies.revoke_approval(ids[1], {"reason": "照片系他场"})
        assert revoked["status"] == "rejected" and revoked["subsidy_fen"] is None
        with pytest.raises(RuleViolation) as empty:
            cluster.subsidies.create_batch({"cycle": cycle})   # a revoked subsidy is never paid
        assert empty.value.rule == "nothing_to_pay"
        # corrected and resubmitted, the lecture can be approved again: its subsidy comes back, once
        again = cluster.subsidies.resubmit_lecture(ids[1], report(cycle, L7, lecturer, files, day, venue="后批单位"))
        assert checks(cluster, again["id"])[0] == "passed"
        approved = cluster.subsidies.approve_lecture(ids[1], {"signed_by": "王审核"})
        assert approved["status"] == "approved" and approved["subsidy_fen"] is not None
        second = cluster.subsidies.create_batch({"cycle": cycle})
        assert second["item_count"] == 1
    outbox = models.platform.outbox
    engine = make_engine(subsidies["uri"])
    try:
        with engine.connect() as conn:
            body = conn.execute(select(outbox.c.body).where(
                outbox.c.event_type == "wsli.subsidies.lecture_approval_revoked.v1")).scalar_one()
    finally:
        engine.dispose()
    assert json.loads(body)["data"] == {"cycle": cycle, "lecture_id": ids[1], "candidate_id": L7,
                                        "reason": "照片系他场"}
