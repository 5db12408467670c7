"""Agencies as separate vhosts on the local broker, linked the way production links brokers.

national (cases), beijing (cases, training), dongcheng (training) and a stranger, rogue.
beijing ⇄ national: dynamic shovels from durable outgoing queues (cases, results);
beijing ⇄ dongcheng: federated ``wsli.agency.facts`` (max-hops 1, certificates);
rogue → national: a shovel national never agreed to (its messages are parked).
Links are made with ``shared.links`` (what ``wsli agency add`` runs). Partitions: the shovel
deleted and re-added; the federation link's user blocked and unblocked. Everything is counted.
"""
from __future__ import annotations

import base64
import json
import shutil
import uuid
from datetime import date, timedelta
from urllib.parse import quote

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import text

from shared.db import make_engine

from shared import agency, links
from shared.auth import Principal
from shared.errors import RuleViolation
from shared.catalogue import load_all_event_schemas
from shared.events import build_envelope, specs_for
from shared.pii import get_vault
from shared.workdays import local_date, utcnow
from tests.cases_support import build_docx, build_pdf, photo, report_paragraphs
from tests.conftest import AMQP_BASE, DATABASES, INDEX_KEY, PII_KEY, Databases, rpc, wait_for
from tests.support import credit_code, resident_id

# vhosts, links and partitions go through rabbitmqctl, which takes seconds per call on a busy machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

CTL = shutil.which("rabbitmqctl")
NAMES = ("national", "beijing", "dongcheng", "rogue")
PARTNERS = {"national": "beijing", "beijing": "national,dongcheng", "dongcheng": "beijing", "rogue": ""}
YEAR = 2031


def ctl(*args, check=True):
    return links.Ctl(CTL)._run(*args, check=check)


def _bin(text: str) -> str:
    return f'<<"{text}">>'


def _grant(user: str, vhost: str) -> str:
    return (f"ok = rabbit_auth_backend_internal:set_permissions({_bin(user)}, {_bin(vhost)}, "
            f'<<".*">>, <<".*">>, <<".*">>, <<"wsli-tests">>),')


class Broker:
    """One vhost per agency, and one user the links log in as (so a partition can lock it out)."""

    def __init__(self):
        self.prefix = f"wsli-ag-{uuid.uuid4().hex[:8]}"
        self.user, self.password = f"{self.prefix}-link", uuid.uuid4().hex
        # one CLI call for all of it (each call costs seconds on a busy machine)
        ctl("eval", "ok = rabbit_auth_backend_internal:add_user(%s, %s, <<\"wsli-tests\">>), %s ok." % (
            _bin(self.user), _bin(self.password), " ".join(
                f"ok = rabbit_vhost:add({_bin(self.vhost(n))}, <<\"wsli-tests\">>), "
                + " ".join(_grant(u, self.vhost(n)) for u in ("guest", self.user)) for n in NAMES)))

    def vhost(self, name):
        return f"{self.prefix}-{name}"

    def uri(self, name):
        return f"{AMQP_BASE}/{quote(self.vhost(name), safe='')}"

    def link_uri(self, name):
        # a network connection (not the node-local direct one): closing it and refusing the user is a partition
        return f"amqp://{self.user}:{self.password}@127.0.0.1/{quote(self.vhost(name), safe='')}"

    def block(self, name):
        """The link's user loses the vhost and its connections there are closed: the link is down."""
        ctl("eval", f"ok = rabbit_auth_backend_internal:clear_permissions({_bin(self.user)}, "
                    f"{_bin(self.vhost(name))}, <<\"wsli-tests\">>), "
                    f"[rabbit_networking:close_connection(P, \"partition (test)\") || P <- "
                    f"rabbit_networking:connections(), rabbit_networking:connection_info(P, [user, vhost]) "
                    f"=:= [{{user, {_bin(self.user)}}}, {{vhost, {_bin(self.vhost(name))}}}]], ok.")

    def unblock(self, name):
        ctl("eval", _grant(self.user, self.vhost(name)) + " ok.")

    def queue_depth(self, name, queue) -> int:
        for line in ctl("list_queues", "-p", self.vhost(name), "name", "messages").splitlines():
            q, _, n = line.rpartition("\t")
            if q == queue:
                return int(n)
        return -1

    def close(self):
        names = ", ".join(f'<<"{self.vhost(n)}">>' for n in NAMES)
        ctl("eval", f'lists:foreach(fun(V) -> rabbit_vhost:delete(V, <<"wsli-tests">>) end, [{names}]), '
                    f'rabbit_auth_backend_internal:delete_user(<<"{self.user}">>, <<"wsli-tests">>).', check=False)


class Agencies:
    def __init__(self, broker, kind, tmp_path):
        from nameko.runners import ServiceRunner
        from services.cases.service import CasesService
        from services.training.service import TrainingService
        self.broker, self.dbs = broker, Databases(kind, tmp_path)
        self.configs, self.runners = {}, []
        services = {"national": {"cases": CasesService}, "beijing": {"cases": CasesService, "training": TrainingService},
                    "dongcheng": {"training": TrainingService}}
        for name, wanted in services.items():
            for svc, cls in wanted.items():
                config = {"AMQP_URI": broker.uri(name), "AGENCY_ID": name, "AGENCY_PARTNERS": PARTNERS[name],
                          "DB_URI": self.dbs.migrated(svc), "PII_KEYS": PII_KEY, "PII_INDEX_KEY": INDEX_KEY,
                          "serializer": "json", "max_workers": 6, "OUTBOX_POLL_SECONDS": 0.2, "DB_POOL_SIZE": 3,
                          "EVENT_RETRY_DELAYS_MS": "100,200", "FILE_STORE": str(tmp_path / name / svc),
                          "CALENDAR_DIR": str(tmp_path / "calendar"), "RPC_TIMEOUT_SECONDS": 20}
                self.configs[(name, svc)] = config
                runner = ServiceRunner(config)
                runner.add_service(cls)
                runner.start()
                self.runners.append(runner)
        self.admin = links.Ctl(CTL)
        for a, b in (("beijing", "national"), ("national", "beijing")):
            links.add(self.admin, broker.uri(a), b, broker.link_uri(b), directed=True, facts=False)
        for a, b in (("beijing", "dongcheng"), ("dongcheng", "beijing")):
            links.add(self.admin, broker.uri(a), b, broker.link_uri(b), directed=False, facts=True)
        links.add(self.admin, broker.uri("rogue"), "national", broker.link_uri("national"), directed=True, facts=False)
        self.engines = {key: make_engine(c["DB_URI"]) for key, c in self.configs.items()}

    def call(self, name, svc, method, *args, role="operator", **principal):
        who = Principal(role=role, agency=name, name=f"test-{role}", **principal)
        with rpc(self.configs[(name, svc)], who, timeout=30) as proxy:
            return getattr(getattr(proxy, svc), method)(*args)

    def scalar(self, name, svc, sql, **params):
        with self.engines[(name, svc)].connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def inbox(self, name, svc, handler) -> int:
        return self.scalar(name, svc, "SELECT count(*) FROM inbox WHERE handler = :h", h=f"{svc}.{handler}")

    def stop(self):
        for runner in self.runners:
            try:
                runner.kill()
            except Exception:  # already stopped
                pass
        for engine in self.engines.values():
            engine.dispose()
        self.dbs.drop_all()


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory):
    """Fresh agencies (vhosts, link user, databases) per database: nothing left from the other run."""
    if not CTL:
        pytest.fail("rabbitmqctl is needed: agencies are vhosts made for this test")
    broker = Broker()
    try:
        w = Agencies(broker, request.param, tmp_path_factory.mktemp(f"agencies-{request.param}"))
        try:
            yield w
        finally:
            w.stop()
    finally:
        broker.close()


def dlq_bodies(broker, name) -> list[dict]:
    found = []
    with Connection(broker.uri(name)) as conn:
        channel = conn.channel()
        try:
            while True:
                message = channel.basic_get("wsli.dlq", no_ack=False)
                if message is None:
                    break
                found.append(json.loads(message.body))
        except Exception:  # no dead-letter queue yet: nothing parked
            return found
        finally:
            try:
                channel.close()  # unacked: back in the queue
            except Exception:  # closed by the broker's 404
                pass
    return found


def noisy_photo(width=900, height=700) -> bytes:
    """A JPEG at 300 dpi that does not compress away: several chunks long."""
    import io
    import os
    from PIL import Image
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, dpi=(300, 300))
    return out.getvalue()


# ---- cases to the national campaign and back ------------------------------------------------------

DOCX, PDF = build_docx(report_paragraphs()), build_pdf(report_paragraphs())


def campaign(year):
    return {"year": year, "title": f"{year}年案例征集（测试）", "deadline": "2099-12-31",
            "categories": [{"code": "tools_technology", "label": "工具技术产品类"}, {"code": "other", "label": "其他"}],
            "levels": [{"level": "best", "count": 1}, {"level": "excellent", "count": 1}],
            "scoring_form": [{"principle": p, "weight": w} for p, w in (
                ("authenticity", "0.2"), ("compliance", "0.15"), ("advancement", "0.2"), ("replicability", "0.2"),
                ("effectiveness", "0.25"))],
            "experts_per_case": 3, "disagreement_threshold": "15", "notice_working_days": 5,
            "ranking_basis": "normalised"}


def city_case(w, n, big: bytes | None = None) -> dict:
    """A case submitted in beijing by an organisation of its own (files uploaded the usual way)."""
    org = w.call("beijing", "cases", "register_organisation", {
        "name": f"安全科技有限公司{n}{uuid.uuid4().hex[:4]}", "credit_code": credit_code(n * 7 + 3),
        "kind": "service_org", "declared_no_bad_record": True, "declared_not_dishonest": True})
    as_org = {"role": "organisation", "unit_id": org["id"]}

    def upload(kind, filename, data):
        return w.call("beijing", "cases", "upload_file", {
            "query": {"kind": kind}, "filename": filename,
            "data_base64": base64.b64encode(data).decode()}, **as_org)["id"]
    files = {"report_docx": upload("report_docx", "报告.docx", DOCX), "report_pdf": upload("report_pdf", "报告.pdf", PDF),
             "photos": [upload("photo", "现场隐患排查.jpg", big or photo()), upload("photo", "专家培训会.jpg", photo())]}
    return w.call("beijing", "cases", "submit_case", {
        "campaign": YEAR, "channel": "self", "name": f"风险减量服务新模式{n}", "category": "tools_technology",
        "period_start": "2024-03", "period_end": "2025-12", "summary": "以安责险为纽带开展事故预防服务。",
        "creators": ["张三"], "participants": ["李四"], "files": files}, **as_org)


FORWARD = {"to": "national", "opinion": "经审核，同意推荐。", "sealed_or_signed_by": "北京市应急管理局（公章）",
           "approved_on": "2026-11-20",
           "contact": {"name": "王五", "department": "宣教处", "title": "处长", "office_phone": "010-68701150"}}


def national_cases(w):
    return w.call("national", "cases", "list_cases", {"campaign": YEAR, "per_page": 100})["items"]


def test_cases_travel_to_the_national_campaign_and_their_result_comes_back(world):
    w = world
    for name in ("beijing", "national"):
        w.call(name, "cases", "load_campaign", YEAR, campaign(YEAR))
    for i in range(3):
        w.call("national", "cases", "register_expert", {"code": f"nx{i}", "name": f"专家{i}"})

    # a case whose photo takes several chunks, forwarded while the link is up
    big = noisy_photo()
    first = city_case(w, 1, big=big)
    sent = w.call("beijing", "cases", "forward_case", first["id"], FORWARD)
    assert sent["forwarded_to"] == "national" and sent["partner_result"]["status"] == "sent"
    assert len(big) > agency.CHUNK_BYTES  # the photo really is cut
    got = wait_for(lambda: national_cases(w), timeout=30, message="the case at national")
    (case,) = got
    assert (case["origin_agency"], case["origin_case_id"], case["status"]) == ("beijing", first["id"], "submitted")
    assert sorted((f["kind"], f["sha256"], f["size"]) for f in case["files"]) == sorted(
        (f["kind"], f["sha256"], f["size"]) for f in first["files"])
    contact = case["recommendation"]["contact"]
    assert contact["office_phone"] == "010-68701150" and not contact.get("mobile")   # staff see it; no mobile crossed
    assert w.scalar("national", "cases", "SELECT count(*) FROM incoming_chunks") == 0

    # forwarding twice is refused; a non-partner destination too
    with pytest.raises(RuleViolation) as again:
        w.call("beijing", "cases", "forward_case", first["id"], FORWARD)
    assert again.value.rule == "case_already_forwarded"
    second = city_case(w, 2)
    with pytest.raises(RuleViolation) as stranger:
        w.call("beijing", "cases", "forward_case", second["id"], dict(FORWARD, to="shanghai"))
    assert stranger.value.rule == "agency_not_partner"

    # partition: the shovel is deleted; two cases wait in beijing's durable queue, then arrive once
    links.remove(w.admin, w.broker.uri("beijing"), "national")
    third = city_case(w, 3)
    for c in (second, third):
        w.call("beijing", "cases", "forward_case", c["id"], FORWARD)
    outgoing = agency.outgoing_queue_name("national")
    wait_for(lambda: w.broker.queue_depth("beijing", outgoing) >= 2 * 5, timeout=20, message="held in the queue")
    assert len(national_cases(w)) == 1
    links.add(w.admin, w.broker.uri("beijing"), "national", w.broker.link_uri("national"), facts=False)
    wait_for(lambda: len(national_cases(w)) == 3, timeout=30, message="the held cases at national")
    assert w.broker.queue_depth("beijing", outgoing) == 0
    assert sorted(c["origin_case_id"] for c in national_cases(w)) == sorted([first["id"], second["id"], third["id"]])
    assert w.inbox("national", "cases", "on_partner_case") == 3                      # 0 lost, 0 doubled

    # the national campaign reviews, levels and releases the first case; the result goes back
    nid = case["id"]
    w.call("national", "cases", "screen_case", nid, {"result": "pass"})
    w.call("national", "cases", "assign_case", nid, {"experts": ["nx0", "nx1", "nx2"]})
    for n, code in enumerate(("nx0", "nx1", "nx2")):
        w.call("national", "cases", "submit_score", nid, {"marks": {p: str(90 + n) for p in (
            "authenticity", "compliance", "advancement", "replicability", "effectiveness")}},
            role="expert", person=code)
    for other in national_cases(w):
        if other["id"] != nid:
            w.call("national", "cases", "screen_case", other["id"], {"result": "fail", "reason": "材料不全"})
    w.call("national", "cases", "confirm_levels", YEAR, {})
    back = wait_for(lambda: (w.call("beijing", "cases", "get_case", first["id"])["partner_result"] or {})
                    .get("status") == "levelled", timeout=30, message="the level back in beijing")
    assert back
    w.call("national", "cases", "open_notice", YEAR, {"starts_on": (local_date(utcnow()) - timedelta(days=30))
                                                      .isoformat()})
    released = w.call("national", "cases", "release", YEAR, {})
    (number,) = released["certificates"]

    def result():
        return w.call("beijing", "cases", "get_case", first["id"])["partner_result"]
    wait_for(lambda: result()["status"] == "released", timeout=30, message="the release back in beijing")
    r = result()
    assert (r["agency"], r["level"], r["certificate_number"]) == ("national", "best", number) and r["released_at"]
    failed = w.call("beijing", "cases", "get_case", second["id"])["partner_result"]
    assert (failed["status"], failed["reason"]) == ("screen_failed", "材料不全")

    # a stranger's shovel into national: parked, never applied
    envelope = build_envelope(agency.MESSAGES[("cases", "case_forwarded")], "rogue", "9", {
        "origin_case_id": 9, "campaign": YEAR, "name": "冒名案例", "category": "other", "category_other": None,
        "submitted_on": date(2026, 1, 1), "period_start": "2024-01", "period_end": "2025-01", "summary": "x",
        "honours": None, "creators": [], "participants": [], "findings": [], "files": [],
        "recommendation": {}, "organisation": {"name": "x", "short_name": None, "credit_code": credit_code(99),
                                               "kind": "insurer", "parent_name": None, "parent_credit_code": None,
                                               "declared_no_bad_record": True, "declared_not_dishonest": True}},
        utcnow())
    with Connection(w.broker.uri("rogue"), transport_options={"confirm_publish": True}) as conn:
        Producer(conn.default_channel).publish(
            json.dumps(envelope).encode(), exchange=agency.exchange(agency.OUT), routing_key="national.cases.case_forwarded",
            content_type="application/json", delivery_mode=2, message_id=envelope["id"])
    wait_for(lambda: any(b.get("id") == envelope["id"] for b in dlq_bodies(w.broker, "national")),
             timeout=30, message="the stranger's case parked")
    assert len(national_cases(w)) == 3
    assert w.inbox("national", "cases", "on_partner_case") == 3


# ---- certificates valid city-wide --------------------------------------------------------------

def issue(w, n: int, title: str) -> list[str]:
    """A class in beijing whose n trainees all pass: n certificates."""
    call = lambda method, *a: w.call("beijing", "training", method, *a)  # noqa: E731
    inst = call("register_institution", {"name": "培训中心" + uuid.uuid4().hex[:4], "full_time_managers": 3,
                                         "management_system": True, "teacher_min_years": 6,
                                         "evaluation_mechanism": True, "seats": 60})
    teacher = call("register_teacher", {"name": "孙老师", "qualification": "registered_safety_engineer",
                                        "years_experience": 12})
    manager = call("register_class_manager", {"institution_id": inst["id"], "name": "赵",
                                              "id_number": resident_id(birth="19800101")})
    c = call("create_class", {"title": title, "institution_id": inst["id"], "district": "东城",
                              "days": ["2018-05-10", "2018-05-11"], "manager_id": manager["id"], "capacity": n,
                              "teacher_ids": [teacher["id"]]})
    people = []
    load_all_event_schemas()
    spec = specs_for("registration", "trainee_enrolled")[0]
    with Connection(w.broker.uri("beijing"), transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel)
        for i in range(n):
            id_number, enrolment = resident_id(), int(uuid.uuid4().int % 10**12)
            data = {"enrolment_id": enrolment, "year": 2018, "district": "东城", "role": "principal",
                    "unit_name": "单位", "unit_credit_code": "91110000000000001X", "person_name": f"学员{i}",
                    "id_number_masked": id_number[:3] + "*" * 11 + id_number[-4:],
                    "person_key": get_vault().blind_index(id_number)}
            envelope = build_envelope(spec, "beijing", str(enrolment), data, utcnow())
            producer.publish(json.dumps(envelope).encode(), exchange="registration.events",
                             routing_key="trainee_enrolled", content_type="application/json", delivery_mode=2,
                             declare=[Exchange("registration.events", type="topic", durable=True)])
            people.append((enrolment, id_number))

    def seat(enrolment):
        try:
            return call("add_seat", c["id"], {"enrolment_id": enrolment})
        except Exception:  # the enrolment has not arrived yet
            return None
    seats = [wait_for(lambda e=e: seat(e), timeout=20, message="enrolment arrives") for e, _ in people]
    for s, (_, id_number) in zip(seats, people):
        for day, date in ((1, "2018-05-10"), (2, "2018-05-11")):
            for action, at in (("check_in", "08:50"), ("check_out", "17:05")):
                call("record_attendance", c["id"], {"seat_id": s["id"], "id_number": id_number, "day": day,
                                                    "action": action, "at": f"{date}T{at}:00+08:00"})
    topic = "结业" + uuid.uuid4().hex[:4]
    call("import_questions", {"questions": [{"topic": topic, "kind": "single", "text": f"单选{i}",
                                             "options": {"A": "甲", "B": "乙"}, "answer": ["A"]} for i in range(2)]})
    exam = call("create_exam", {"kind": "class_exam", "title": "结业", "class_id": c["id"],
                                "draw": [{"topic": topic, "count": 2}], "seed": 1})
    call("import_paper_scores", exam["id"], {"rows": [{"id_number": i, "score": "90"} for _, i in people]})
    done = call("complete_class", c["id"])
    assert len(done["certificates"]) == n
    return done["certificates"]


def verify(w, name, number):
    return w.call(name, "training", "verify_certificate", number, role="public")


def test_certificates_are_valid_city_wide_through_partition_and_strangers(world):
    w = world
    before = issue(w, 3, "第1期")
    for number in before:
        v = wait_for(lambda n=number: (lambda r: r if r["status"] == "valid" else None)(verify(w, "dongcheng", n)),
                     timeout=30, message="the replica in dongcheng")
        assert v["agency"] == "beijing" and v["source"] == "partner_replica" and v["as_of"]
        assert v["name"].startswith("学") and v["name"] != "学员0" and "beijing" in v["message"]
    assert verify(w, "beijing", before[0])["source"] == "issuer"

    # partition: dongcheng's link to beijing is locked out; facts wait in beijing's federation queue
    w.broker.block("beijing")
    during = issue(w, 2, "第2期")
    w.call("beijing", "training", "revoke_certificate", before[0], {"reason": "冒名顶替"})
    assert verify(w, "dongcheng", during[0])["status"] == "foreign"     # not known there yet
    assert verify(w, "dongcheng", before[0])["status"] == "valid"       # as of before the partition
    w.broker.unblock("beijing")
    wait_for(lambda: verify(w, "dongcheng", before[0])["status"] == "revoked", timeout=60,
             message="the revocation after the partition")
    for number in during:
        wait_for(lambda n=number: verify(w, "dongcheng", n)["status"] == "valid", timeout=30,
                 message="certificates issued during the partition")
    assert verify(w, "dongcheng", before[0])["revoked_reason"] == "冒名顶替"
    # counted: 5 issued + 1 revoked reached dongcheng once each
    assert w.inbox("dongcheng", "training", "on_partner_certificate_issued") == 5
    assert w.inbox("dongcheng", "training", "on_partner_certificate_revoked") == 1
    assert w.scalar("dongcheng", "training", "SELECT count(*) FROM partner_certificates") == 5
    # beijing ignores its own facts coming round (nothing applied to its own replica)
    assert w.scalar("beijing", "training", "SELECT count(*) FROM partner_certificates") == 0

    # a repeated fact (as a link may repeat one after a reconnect) is applied once; a stale "issued"
    # arriving after the revocation never makes the certificate valid again
    message = agency.MESSAGES[("training", "certificate_issued")]
    stale = build_envelope(message, "beijing", before[0], {
        "number": before[0], "holder": "学*", "year": 2018, "class_title": "第1期", "institution": "x",
        "class_hours": 16, "issued_at": utcnow()}, utcnow())
    rogue = build_envelope(message, "rogue", "ROGUE-2018-0000001", {
        "number": "ROGUE-2018-0000001", "holder": "假*", "year": 2018, "class_title": "x", "institution": "x",
        "class_hours": 16, "issued_at": utcnow()}, utcnow())
    forged = build_envelope(message, "beijing", "DONGCHENG-2018-0000099", {
        "number": "DONGCHENG-2018-0000099", "holder": "假*", "year": 2018, "class_title": "x", "institution": "x",
        "class_hours": 16, "issued_at": utcnow()}, utcnow())
    with Connection(w.broker.uri("dongcheng"), transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel)
        for envelope, key in ((stale, "beijing"), (stale, "beijing"), (rogue, "rogue"), (forged, "beijing")):
            producer.publish(json.dumps(envelope).encode(), exchange=agency.exchange(agency.FACTS),
                             routing_key=f"{key}.training.certificate_issued", content_type="application/json",
                             delivery_mode=2, message_id=envelope["id"])
    wait_for(lambda: {b.get("id") for b in dlq_bodies(w.broker, "dongcheng")} >= {rogue["id"], forged["id"]},
             timeout=30, message="the stranger's and the forged fact parked")
    wait_for(lambda: w.inbox("dongcheng", "training", "on_partner_certificate_issued") == 6, timeout=20,
             message="the repeated fact handled")
    assert verify(w, "dongcheng", before[0])["status"] == "revoked"
    assert verify(w, "dongcheng", "ROGUE-2018-0000001")["status"] == "foreign"
    assert w.scalar("dongcheng", "training", "SELECT count(*) FROM partner_certificates") == 5
