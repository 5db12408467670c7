"""Every route with an object id, every role and binding, against the access table (gateway/routes/access.py).

That every such route has an entry, fencing only roles it admits, is tests/service/test_route_roles.py's;
that every such route is also walked here on a real object (or says why not) is this module's first test.

Walks over one stack per database, the objects made once (tests/e2e/access_world.py):

- for an id that names nothing, every persona calls every such route: 401 without a token, 403 for
  another agency's token or a role the route does not admit, else the table's ``missing`` answer
  (never a 5xx): a role's refusal does not depend on whether the object exists;
- for the real objects of side A (units, candidates, trainees, panels, classes and certificates, exam
  attempts, lecture reports, orders and payment batches, enterprises, policies, claims, inspections,
  hazards, major reports, the fund, cases, objections and case certificates, webhook endpoints and
  deliveries), the personas read each one by id: every role bound to side A, the fenced roles also
  bound to side B (and an expert on no panel), another agency's admin and no token at all. The answer
  is ``access.expect``'s: 403 for a role the route does not admit, 404 for a fenced role outside its
  binding (a list that ``narrows`` answers 200 without side A's part), 200 otherwise;
- the same personas write to those objects: the same fence (see the write walk for what is sent).

A hole found by the walk is fixed in the service, which enforces access; its case stays in the walk
(a service organisation listing another organisation's technicians was one).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from gateway.routes import ALL_ROUTES
from gateway.routes.access import ACCESS, expect, key
from shared.auth import ROLES
from tests.e2e.access_world import NOT_WALKED, World
from tests.support import credit_code

# the walks make about 4,100 requests over one stack; the data is made once per database
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ID_ROUTES = [r for r in ALL_ROUTES if r.path_args]
BY_KEY = {key(r): r for r in ID_ROUTES}
MISSING = "987654321"
# an id that names nothing but passes the path's own format checks
MISSING_BY_ARG = {"year": "2099", "credit_code": credit_code(seed=424242)}


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
    """Every side's objects and a token per persona, made once per database (tests/e2e/access_world.py)."""
    built = World(stack).build()
    apis = {}
    for role in ROLES:
        if role == "public":
            continue
        sides = sorted(built.bindings.get(role, {"A": {}}))
        for side in sides:
            apis[Persona(role, side)] = built.token(role, side)
    apis[Persona("public", "A")] = stack.anonymous
    apis[Persona("admin", "foreign")] = stack.admin.as_(_foreign_token(stack))
    return {"apis": apis, "targets": built.targets}


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
    """(label, api, method, path, body, raw, params) -> (label, status, body); a few at a time, as browsers would.
    A 503 (a service not answering within the RPC timeout, or out of database connections, on a loaded
    machine) is no answer of the fence: the call is made again, at most three times, a little later each
    time; none of the walk's calls changes anything the fence looks at."""
    def one(call):
        label, api, method, path, body, raw, params = call
        for attempt in range(4):
            status, answer = api.call(method, path, body=body, raw=raw, params=params)
            if status != 503:
                break
            time.sleep(0.5 * (attempt + 1))
        return label, status, answer
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, calls))


def _object_prefix(path: str) -> str:
    """The path up to its first id: /api/v1/candidates/<candidate_id>/unit-approval -> /api/v1/candidates/<candidate_id>."""
    head, _, rest = path.partition("<")
    return head + "<" + rest.partition(">")[0].split(":")[-1] + ">"


def _targets(world) -> dict:
    """route key -> the values of side A's object for every id route the world reaches."""
    out = {}
    for route in ID_ROUTES:
        values = world["targets"].get(_object_prefix(route.path))
        if values is not None and set(route.path_args) <= set(values):
            out[key(route)] = values
    return out


def _in_scope(persona: Persona, fence, values) -> bool:
    """Side A's personas are inside every binding of side A's objects; side B (and expert N) only where the
    object is open to its scope (an order still open is any lecturer's to take)."""
    return persona.side == "A" or fence.scoped.get(persona.role) in values.get("open", ())


def test_every_id_route_is_walked_on_a_real_object_or_says_why_not(world):
    """A new route with an id fails here until the world builds its object (tests/e2e/access_world.py) or
    NOT_WALKED says why it cannot."""
    walked = set(_targets(world))
    ids = {key(r) for r in ID_ROUTES}
    assert sorted(ids - walked - set(NOT_WALKED)) == [], "id routes neither walked nor excused"
    assert sorted(walked & set(NOT_WALKED)) == [], "walked routes still excused in NOT_WALKED"
    assert sorted(set(NOT_WALKED) - ids) == [], "NOT_WALKED names routes that do not exist"
    assert len(walked) >= 120


def test_an_id_that_names_nothing_is_refused_the_same_way_for_everyone(world):
    """401 without a token, 403 for another agency or a role the route does not admit, else the table's
    ``missing``: never 2xx for a write, never 5xx."""
    calls = []
    for route in ID_ROUTES:
        fence = ACCESS[key(route)]
        path = _path(route, {arg: MISSING_BY_ARG.get(arg, MISSING) for arg in route.path_args})
        for persona, api in world["apis"].items():
            if persona.side not in ("A", "foreign"):
                continue
            if persona.side == "foreign":
                expected = 403
            elif persona.role == "public" and not route.public:
                expected = 401
            else:
                expected = expect(route, persona.role, in_scope=True) or fence.missing
            raw = b"" if route.upload else None
            body = None if route.upload or route.method == "GET" else {}
            calls.append(((key(route), persona.role, persona.side, expected), api, route.method, path, body, raw,
                          None))
    # reads first: a write that creates under the id (missing 201) must not change what the reads see
    calls.sort(key=lambda c: c[2] != "GET")
    # a creating write answers 201 to the first caller and 409 to the next ones
    wrong = [(*label, status, str(body)[:160]) for label, status, body in _walk(calls)
             if status != label[-1] and not (label[-1] == 201 and status == 409)]
    assert len(calls) > len(ID_ROUTES) * 12
    assert wrong == [], "\n".join(map(str, wrong))


def _persona_expected(route, persona: Persona, values) -> int | None:
    if persona.side == "foreign":
        return 403
    if persona.role == "public":
        return None if route.public else 401
    return expect(route, persona.role, _in_scope(persona, ACCESS[key(route)], values))


def _callers(route, world):
    """The personas that call a route on a real object: each of a fenced role's bindings; a role the route
    admits unfenced, or does not admit, once (its other binding would get the same answer: the missing-id
    walk shows a refusal does not depend on the object)."""
    fence = ACCESS[key(route)]
    for persona, api in world["apis"].items():
        if persona.side in ("A", "foreign") or persona.role in fence.scoped:
            yield persona, api


def test_every_persona_reads_side_as_objects_as_the_table_says(world):
    """Every read of side A's objects by every persona: the table's answer, 200 inside the fence. A route
    that narrows a list answers outsiders 200 too, without side A's object (``hidden``), and insiders with it."""
    calls, targets = [], _targets(world)
    for route_key, values in targets.items():
        route = BY_KEY[route_key]
        if route.method != "GET":
            continue
        path = _path(route, values)
        for persona, api in _callers(route, world):
            expected = _persona_expected(route, persona, values) or 200
            calls.append(((route_key, persona.role, persona.side, expected), api, "GET", path, None, None,
                          values.get("query")))
    wrong = []
    for label, status, body in _walk(calls):
        route_key, role, side, expected = label
        values, fence = targets[route_key], ACCESS[route_key]
        if status != expected:
            wrong.append((*label, status, str(body)[:160]))
        elif fence.narrows and "hidden" in values and role in fence.scoped:
            inside = _in_scope(Persona(role, side), fence, values)
            if (values["hidden"] in str(body)) != inside:
                wrong.append((*label, "inside" if inside else "outside", "sees" if not inside else "misses",
                              str(body)[:160]))
    assert len({c[0][0] for c in calls}) >= 60 and len(calls) >= 60 * 12
    assert wrong == [], "\n".join(map(str, wrong))


def test_every_persona_writing_to_side_as_objects_is_fenced_as_the_table_says(world):
    """Writes to side A's objects. With a required body, every persona sends an empty one: nothing changes
    (the body is refused), so only the fence is asserted: 403 for a role not admitted, a fenced role
    outside its scope gets what a missing id gets, anyone else gets past the fence (a 400/409/422 for the
    empty body is fine, never 403/404/5xx). A write that needs no body would act: only the personas the
    table keeps out call it, and each must be refused."""
    calls = []
    for route_key, values in _targets(world).items():
        route = BY_KEY[route_key]
        if route.method == "GET":
            continue
        fence = ACCESS[route_key]
        path = _path(route, values)
        acts = not route.body_required   # an empty body would not stop it
        for persona, api in _callers(route, world):
            expected = _persona_expected(route, persona, values)
            if expected == 404:
                expected = fence.missing
            if acts and expected is None:
                continue
            raw = b"" if route.upload else None
            body = None if route.upload else {}
            calls.append(((route_key, persona.role, persona.side, expected), api, route.method, path, body, raw,
                          values.get("query")))
    answers = _walk(calls)
    wrong = [(*label, status, str(body)[:160]) for label, status, body in answers
             if (status != label[-1] if label[-1] is not None else status in (403, 404) or status >= 500)]
    assert len({c[0][0] for c in calls}) >= 50 and len(calls) >= 50 * 15
    assert wrong == [], "\n".join(map(str, wrong))
