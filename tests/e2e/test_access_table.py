"""Every route with an object id, every role and binding, against the access table (gateway/routes/access.py).

That every such route has an entry, fencing only roles it admits, is tests/service/test_route_roles.py's.

Three walks over one stack per database, the data made once:

- for an id that names nothing, every persona calls every such route: 401 without a token, 403 for
  another agency's token or a role the route does not admit, else the table's ``missing`` answer
  (never a 5xx): a role's refusal does not depend on whether the object exists;
- for real objects owned by side A (a unit, a district, a person, an organisation, an expert,
  an enterprise's order, an integrator's endpoint), every persona of side A and side B reads each
  one by id: 403 for a role the route does not admit, 404 for a fenced role outside its scope,
  200 otherwise;
- the same personas write to those objects with an empty body: the same fence, and anyone inside
  it gets past it (a 400/409/422 for the empty body is fine).
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from gateway.routes import ALL_ROUTES
from gateway.routes.access import ACCESS, key
from shared.auth import ROLES
from shared.pii import PiiVault
from tests.conftest import INDEX_KEY, PII_KEY, wait_for
from tests.support import candidate_form, credit_code, resident_id

# the walk makes about 2,000 requests over one stack; the data is made once per database
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ID_ROUTES = [r for r in ALL_ROUTES if r.path_args]
MISSING = "987654321"
# an id that names nothing but passes the path's own format checks
MISSING_BY_ARG = {"year": "2099", "credit_code": credit_code(seed=424242)}
DISTRICTS = {"A": "东城区", "B": "西城区"}


def _id(route) -> str:
    return key(route)


def _path(route, values: dict) -> str:
    path = route.path
    for arg in route.path_args:
        path = path.replace(f"<int:{arg}>", str(values[arg])).replace(f"<{arg}>", str(values[arg]))
    return path


@dataclass(frozen=True)
class Persona:
    role: str
    side: str          # "A" owns the objects of the walk; "B" is the same role bound elsewhere


@pytest.fixture(scope="module")
def world(stack):
    """Side A's objects and a token per persona, made once per database."""
    admin = stack.admin
    tag = uuid.uuid4().hex[:6]
    vault = PiiVault([PII_KEY], INDEX_KEY)
    cycle = "AC" + tag
    assert admin.post("/api/v1/cycles", {"code": cycle, "title": "访问表", "deadline": "2099-12-31"})[0] == 201
    units = {}
    for side, district in DISTRICTS.items():
        status, unit = admin.post("/api/v1/units", {"name": f"{district}应急管理局{tag}",
                                                    "kind": "district_safety_office", "district": district})
        assert status == 201, unit
        units[side] = unit
    id_number = resident_id()
    unit_a = admin.as_(admin.token_for("unit", unit_id=units["A"]["id"]))
    status, cand = unit_a.post("/api/v1/candidates", candidate_form(cycle, id_number, unit_id=units["A"]["id"]))
    assert status == 201, cand
    assert unit_a.post(f"/api/v1/candidates/{cand['id']}/unit-approval", {"signed_by": "王五"})[0] == 200
    assert admin.post(f"/api/v1/candidates/{cand['id']}/center-approval", {"signed_by": "中心"})[0] == 200
    wait_for(lambda: admin.get(f"/api/v1/trainees/{cand['id']}")[0] == 200
             and admin.get(f"/api/v1/scoring/cycles/{cycle}/candidates/{cand['id']}")[0] == 200,
             timeout=30, message="the approval reached training and scoring")

    status, inst = admin.post("/api/v1/institutions", {
        "name": f"培训中心{tag}", "full_time_managers": 3, "management_system": True, "teacher_min_years": 6,
        "evaluation_mechanism": True, "seats": 60})
    assert status == 201, inst
    status, teacher = admin.post("/api/v1/teachers", {"name": "孙老师", "qualification": "registered_safety_engineer",
                                                       "years_experience": 12})
    assert status == 201, teacher
    status, manager = admin.post("/api/v1/class-managers", {"institution_id": inst["id"], "name": "班主任",
                                                             "id_number": resident_id(birth="19800101")})
    assert status == 201, manager
    status, klass = admin.post("/api/v1/classes", {
        "title": f"第{tag}期", "institution_id": inst["id"], "district": DISTRICTS["A"],
        "days": ["2099-05-11", "2099-05-12"], "manager_id": manager["id"], "capacity": 10, "teacher_ids": [teacher["id"]]})
    assert status == 201, klass

    assert admin.put(f"/api/v1/subsidy-cycles/{cycle}", {"tour_start": "2022-09-01", "tour_end": "2099-04-30",
                                                         "lecture_subsidy_fen": 30000})[0] == 200
    enterprise_a = admin.as_(admin.token_for("enterprise", person=f"ent-A-{tag}"))
    status, order = enterprise_a.post("/api/v1/lecture-orders", {
        "cycle": cycle, "enterprise_name": "北京某燃气有限公司", "topic": "安责险", "wished_dates": ["2099-03-01"],
        "audience_size": 40, "address": "朝阳区某路1号", "contact": "王经理 13812345678"})
    assert status == 201, order

    orgs = {}
    for side in "AB":
        status, org = admin.post("/api/v1/case-organisations", {
            "name": f"{side}安全科技有限公司{tag}", "credit_code": credit_code(), "kind": "service_org"})
        assert status == 201, org
        orgs[side] = org

    status, expert = admin.post("/api/v1/case-experts", {
        "code": f"expert-A-{tag}", "name": "专家甲", "employer_credit_code": credit_code(), "phone": "13900139000"})
    assert status == 201, expert

    integrator_a = admin.as_(admin.token_for("integrator", name=f"integrator-A-{tag}"))
    status, endpoint = integrator_a.post("/api/v1/webhooks/endpoints", {
        "url": "http://127.0.0.1:9/hook", "event_types": [{"service": "registration", "event": "cycle_created"}]})
    assert status == 201, endpoint

    bindings = {
        "unit": lambda side: {"unit_id": units[side]["id"]},
        "regulator": lambda side: {"district": DISTRICTS[side]},
        "lecturer": lambda side: {"person": vault.blind_index(id_number) if side == "A" else f"pk-B-{tag}"},
        "expert": lambda side: {"person": f"expert-{side}-{tag}"},   # on no panel, for either side
        "enterprise": lambda side: {"person": f"ent-{side}-{tag}"},
        "organisation": lambda side: {"unit_id": orgs[side]["id"]},
        "integrator": lambda side: {"name": f"integrator-{side}-{tag}"},
    }
    apis = {}
    for role in ROLES:
        if role == "public":
            continue
        for side in "AB":
            if side == "B" and role not in bindings:
                continue   # an unbound role has one persona
            # risk's parties are bound to a party that insures or inspects nothing walked here
            binding = bindings[role](side) if role in bindings else (
                {"unit_id": 987001} if role in ("insurer", "service_org") else {})
            if (role, side) == ("enterprise", "A"):
                apis[Persona(role, side)] = enterprise_a
            elif (role, side) == ("integrator", "A"):
                apis[Persona(role, side)] = integrator_a
            else:
                apis[Persona(role, side)] = admin.as_(admin.token_for(role, **binding))
    apis[Persona("public", "A")] = stack.anonymous
    apis[Persona("admin", "foreign")] = admin.as_(_foreign_token(stack))

    # route -> path values of side A's object; ``open`` names scopes in which side B is in scope too
    objects = {
        "GET /api/v1/cycles/<code>": {"code": cycle},
        "GET /api/v1/units/<unit_id>": {"unit_id": units["A"]["id"]},
        "GET /api/v1/candidates/<candidate_id>": {"candidate_id": cand["id"]},
        "GET /api/v1/candidates/<candidate_id>/identity": {"candidate_id": cand["id"]},
        "GET /api/v1/cycles/<code>/quota-report": {"code": cycle},
        "GET /api/v1/audit/registration/<entity_type>/<entity_id>": {"entity_type": "candidate",
                                                                     "entity_id": cand["id"]},
        "GET /api/v1/case-experts/<code>/conflicts": {"code": expert["code"]},
        "GET /api/v1/scoring/cycles/<cycle>/candidates/<candidate_id>": {"cycle": cycle, "candidate_id": cand["id"]},
        "GET /api/v1/trainees/<candidate_id>": {"candidate_id": cand["id"]},
        "GET /api/v1/classes/<class_id>": {"class_id": klass["id"]},
        "GET /api/v1/teachers/<teacher_id>": {"teacher_id": teacher["id"]},
        "GET /api/v1/subsidy-cycles/<code>": {"code": cycle},
        "GET /api/v1/lecture-orders/<order_id>": {"order_id": order["id"], "open": {"taker"}},
        "GET /api/v1/case-organisations/<org_id>": {"org_id": orgs["A"]["id"]},
        "GET /api/v1/webhooks/endpoints/<endpoint_id>": {"endpoint_id": endpoint["id"]},
        "GET /api/v1/webhooks/endpoints/<endpoint_id>/deliveries": {"endpoint_id": endpoint["id"]},
    }
    return {"apis": apis, "objects": objects}


def _foreign_token(stack) -> str:
    """An admin token of another agency, written straight into the gateway's table (the API makes local ones)."""
    from sqlalchemy.orm import Session

    from gateway.tokens import create_token
    from shared.db import make_engine
    engine = make_engine(stack.gateway_config["DB_URI"])
    with Session(engine) as session:
        token, _ = create_token(session, role="admin", agency="foshan")
        session.commit()
    engine.dispose()
    return token


def _walk(calls):
    """(label, api, method, path, body, raw) -> (label, status, body); a few at a time, as browsers would."""
    def one(call):
        label, api, method, path, body, raw = call
        status, answer = api.call(method, path, body=body, raw=raw)
        return label, status, answer
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, calls))


def _expected(route, persona: Persona, fence, in_scope: bool) -> int:
    if route.public:
        return None
    if persona.role not in route.roles:
        return 403
    if persona.role in fence.scoped and not in_scope:
        return 404
    return None   # admitted and in scope: the caller's answer


def test_an_id_that_names_nothing_is_refused_the_same_way_for_everyone(world):
    """401 without a token, 403 for another agency or a role the route does not admit, else the table's
    ``missing``: never 2xx for a write, never 5xx."""
    calls = []
    for route in ID_ROUTES:
        fence = ACCESS[key(route)]
        path = _path(route, {arg: MISSING_BY_ARG.get(arg, MISSING) for arg in route.path_args})
        for persona, api in world["apis"].items():
            if persona.side == "B":
                continue
            if persona.side == "foreign":
                expected = 403
            elif persona.role == "public" and not route.public:
                expected = 401
            else:
                expected = _expected(route, persona, fence, in_scope=True) or fence.missing
            raw = b"" if route.upload else None
            body = None if route.upload or route.method == "GET" else {}
            calls.append(((key(route), persona.role, persona.side, expected), api, route.method, path, body, raw))
    # reads first: a write that creates under the id (missing 201) must not change what the reads see
    calls.sort(key=lambda c: c[2] != "GET")
    # a creating write answers 201 to the first caller and 409 to the next ones
    wrong = [(*label, status, str(body)[:160]) for label, status, body in _walk(calls)
             if status != label[-1] and not (label[-1] == 201 and status == 409)]
    assert len(calls) > len(ID_ROUTES) * 12
    assert wrong == [], "\n".join(map(str, wrong))


def test_every_persona_reads_side_as_objects_as_the_table_says(world):
    by_key = {key(r): r for r in ID_ROUTES}
    calls = []
    for route_key, values in world["objects"].items():
        route = by_key[route_key]
        fence = ACCESS[route_key]
        path = _path(route, values)
        for persona, api in world["apis"].items():
            if persona.role == "public":
                continue
            if persona.side == "foreign":
                expected = 403
            else:
                scope = fence.scoped.get(persona.role)
                # the expert sits on no panel: outside every "panel" scope, whichever side
                in_scope = (persona.side == "A" and scope != "panel") or scope in values.get("open", ())
                expected = _expected(route, persona, fence, in_scope) or 200
            calls.append(((route_key, persona.role, persona.side, expected), api, "GET", path, None, None))
    wrong = [(*label, status, str(body)[:160]) for label, status, body in _walk(calls) if status != label[-1]]
    assert len(calls) >= len(world["objects"]) * 15
    assert wrong == [], "\n".join(map(str, wrong))


def _object_prefix(path: str) -> str:
    """The path up to its first id: /api/v1/candidates/<candidate_id>/unit-approval -> /api/v1/candidates/<candidate_id>."""
    head, _, rest = path.partition("<")
    return head + "<" + rest.partition(">")[0] + ">"


def test_every_persona_writing_to_side_as_objects_is_fenced_as_the_table_says(world):
    """Writes with an empty body: nothing changes (the body is refused), so only the fence is asserted.
    403 for a role not admitted; a fenced role outside its scope gets what a missing id gets; anyone
    else gets past the fence: neither 403 nor 404 (a 400/409/422 for the empty body is fine), never 5xx."""
    by_prefix = {}
    for route_key, values in world["objects"].items():
        by_prefix.setdefault(_object_prefix(route_key.split(" ", 1)[1]), values)
    writes = [r for r in ID_ROUTES if r.method in ("POST", "PUT", "PATCH") and r.body_required
              and not (r.upload or r.multipart) and _object_prefix(r.path) in by_prefix]
    calls = []
    for route in writes:
        fence = ACCESS[key(route)]
        values = by_prefix[_object_prefix(route.path)]
        if not set(route.path_args) <= set(values):
            continue
        path = _path(route, values)
        for persona, api in world["apis"].items():
            if persona.role == "public":
                continue
            if persona.side == "foreign":
                expected = 403
            else:
                scope = fence.scoped.get(persona.role)
                in_scope = (persona.side == "A" and scope != "panel") or scope in values.get("open", ())
                expected = _expected(route, persona, fence, in_scope)
                if expected == 404:
                    expected = fence.missing
            calls.append(((key(route), persona.role, persona.side, expected), api, route.method, path, {}, None))
    answers = _walk(calls)
    wrong = [(*label, status, str(body)[:160]) for label, status, body in answers
             if (status != label[-1] if label[-1] is not None else status in (403, 404) or status >= 500)]
    assert len(writes) >= 10 and len(calls) >= len(writes) * 15
    assert wrong == [], "\n".join(map(str, wrong))
