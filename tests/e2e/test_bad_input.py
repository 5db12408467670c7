"""Bad input never crashes anything: 4xx naming the field and the rule, never a 5xx."""
from __future__ import annotations

import json
import random

import pytest

from tests.support import candidate_form, resident_id

pytestmark = pytest.mark.e2e


@pytest.fixture
def ready(admin, code):
    admin.post("/api/v1/cycles", {"code": code, "title": "t", "deadline": "2026-12-31"})
    _, unit = admin.post("/api/v1/units", {"name": f"u-{code}", "kind": "social_org"})
    return code, unit["id"]


def test_malformed_json_is_400(admin):
    status, body = admin.post("/api/v1/cycles", raw=b'{"code": "2022",')
    assert status == 400 and "_body" in body["fields"]
    status, body = admin.post("/api/v1/cycles", raw=b"\xff\xfe garbage")
    assert status == 400 and "_body" in body["fields"]
    status, body = admin.post("/api/v1/cycles", raw=b'["not", "an", "object"]')
    assert status == 400 and body["fields"] == {"_schema": ["must be a JSON object"]}


@pytest.mark.parametrize("mutation, field, expected", [
    ({"name": 123}, "name", "Not a valid string."),
    ({"unit_id": "seven"}, "unit_id", "Not a valid integer."),
    ({"name": "名" * 51}, "name", "between 1 and 50"),
    ({"deeds": "事" * 5001}, "deeds", "between 1 and 5000"),
    ({"recommendation_reason": ""}, "recommendation_reason", "between 1 and 2000"),
    ({"id_number": "110101199003071234"}, "id_number", "check digit"),
    ({"id_number": "110101900307123"}, "id_number", "18"),
    ({"id_number": "1101011990030712"}, "id_number", "18 characters"),
    ({"phone": "1234"}, "phone", ""),
    ({"email": "not-an-email"}, "email", ""),
    ({"birth_month": "1990-13"}, "birth_month", "YYYY-MM"),
    ({"gender": "other"}, "gender", "Must be one of"),
    ({"surprise": "field"}, "surprise", "Unknown field."),
    ({"photo": {"data_base64": "!!!not base64!!!"}}, "photo.data_base64", "base64"),
    ({"photo": {"data_base64": "R0lGODlhAQABAAAAACw="}}, "photo", "accepted"),
])
def test_each_bad_field_is_named(admin, ready, mutation, field, expected):
    code, unit_id = ready
    status, body = admin.post("/api/v1/candidates", dict(candidate_form(code, unit_id=unit_id), **mutation))
    assert status == 400, body
    assert field in body["fields"], body
    assert expected in json.dumps(body["fields"][field], ensure_ascii=False)


def test_missing_fields_are_all_named(admin, ready):
    code, unit_id = ready
    status, body = admin.post("/api/v1/candidates", {"cycle": code, "unit_id": unit_id})
    assert status == 400
    assert {"name", "email", "phone", "education", "id_number", "school_major", "employer_position", "deeds",
            "recommendation_reason"} <= set(body["fields"])


def test_form_disagreeing_with_the_id_number(admin, ready):
    code, unit_id = ready
    person = resident_id(birth="19851120", gender="female")
    status, body = admin.post("/api/v1/candidates", candidate_form(
        code, person, unit_id=unit_id, birth_month="1986-11", gender="male"))
    assert status == 400 and set(body["fields"]) == {"birth_month", "gender"}


def test_unknown_references_and_ids(admin, ready):
    code, unit_id = ready
    # a well-formed reference to nothing: the form is right, what it names is missing (404 naming the field)
    status, body = admin.post("/api/v1/candidates", candidate_form("NOPE", unit_id=unit_id))
    assert status == 404 and "cycle" in body["fields"]
    status, body = admin.post("/api/v1/candidates", candidate_form(code, unit_id=999999))
    assert status == 404 and "unit_id" in body["fields"]
    assert admin.get("/api/v1/candidates/abc")[0] == 400
    assert admin.get("/api/v1/candidates/99999999999999999999999")[0] == 400
    assert admin.get("/api/v1/candidates/424242")[0] == 404
    assert admin.get("/api/v1/cycles/NOPE")[0] == 404
    assert admin.get("/api/v1/no-such-route")[0] == 404
    assert admin.delete("/api/v1/cycles")[0] == 405


def test_oversized_body_is_413(admin):
    status, body = admin.post("/api/v1/cycles", raw=b'{"x": "' + b"a" * (5 * 1024 * 1024) + b'"}')
    assert status == 413


def test_random_junk_never_reaches_a_500(admin, ready):
    """A bounded fuzz: random JSON values in every field of every write route."""
    code, unit_id = ready
    rng = random.Random(20221010)
    junk = [None, True, 0, -1, 2**70, 1.5, "", " ", "x" * 3000, "😀" * 60, [], [1, "a"], {}, {"$ne": 1},
            "'; DROP TABLE candidates; --", "\u0000", "2022-02-30", "1990-00"]
    form = candidate_form(code, unit_id=unit_id)
    targets = [
        ("POST", "/api/v1/candidates", form),
        ("POST", "/api/v1/cycles", {"code": "Z1", "title": "t", "deadline": "2026-12-31", "minimums": {}}),
        ("POST", "/api/v1/units", {"name": "n", "kind": "social_org", "district": "d"}),
        ("PUT", "/api/v1/district-quotas", {"year": 2018, "districts": [{"district": "d", "quota": 1}]}),
        ("POST", "/api/v1/enrolments", {"year": 2018, "role": "principal", "unit": {}, "person": {}}),
        ("POST", "/api/v1/tokens", {"role": "unit", "unit_id": 1}),
    ]
    seen = set()
    for _ in range(150):
        method, path, template = rng.choice(targets)
        body = dict(template)
        for key in rng.sample(sorted(body), k=rng.randint(1, len(body))):
            body[key] = rng.choice(junk)
        status, answer = admin.call(method, path, body)
        assert status < 500, (method, path, body, answer)
        seen.add(status)
    assert seen & {400, 409, 422}, "the junk was actually refused"


def test_junk_on_every_route_of_every_service_is_refused_cleanly(admin):
    """Every route in the table, with junk in its path and in each field of its body: never a 5xx."""
    from gateway.routes import ROUTES

    rng = random.Random(20221010)
    junk = [None, True, -1, 2**70, 1.5, "", "x" * 3000, [], {}, "2022-02-30", "\u0000", {"$ne": 1}]
    failures = []
    for route in ROUTES:
        for attempt in range(3):
            path = route.path
            for arg in route.path_args:
                path = path.replace(f"<{arg}>", rng.choice(["1", "0", "-5", "abc", "9" * 30]))
            if route.upload:
                status, answer = admin.call(route.method, path, raw=b"\x00junk" * attempt)
            elif route.body is not None:
                names = sorted(route.body().fields) or ["x"]
                body = {name: rng.choice(junk) for name in rng.sample(names, k=min(len(names), attempt + 1))}
                status, answer = admin.call(route.method, path, body)
            else:
                params = {name: rng.choice(["", "-1", "x" * 300, "2022-13-01"])
                          for name in (sorted(route.query().fields) if route.query else [])}
                status, answer = admin.call(route.method, path, params=params)
            if status >= 500:
                failures.append((route.method, path, status, answer))
    assert failures == []


def test_a_wrong_method_is_405_with_allow(stack, admin):
    import requests
    response = requests.delete(stack.base + "/api/v1/cycles", headers={"Authorization": f"Bearer {admin.token}"},
                               timeout=10)
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    response = requests.put(stack.base + "/health", timeout=10)
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/api/v1/cycles/%0A", "/api/v1/%00%01", "/%0d%0aSet-Cookie:x", "/nowhere"])
def test_unknown_paths_even_with_control_characters_are_json_404(stack, admin, path):
    import requests
    response = requests.get(stack.base + path, headers={"Authorization": f"Bearer {admin.token}"}, timeout=10)
    assert response.status_code == 404, response.text
    assert response.headers["Content-Type"].startswith("application/json") and response.json()["error"] == "not_found"
    assert "Set-Cookie" not in response.headers and response.headers.get("X-Request-ID")


def test_a_missing_required_body_is_400_and_an_optional_one_may_be_left_out(admin, code):
    status, body = admin.post("/api/v1/cycles")
    assert status == 400 and body["fields"] == {"_body": ["missing: send a JSON object"]}
    status, body = admin.post("/api/v1/tokens")
    assert status == 400 and "_body" in body["fields"]
    admin.post("/api/v1/cycles", {"code": code, "title": "t", "deadline": "2026-12-31"})
    status, body = admin.patch(f"/api/v1/cycles/{code}")  # every field optional: nothing to change is fine
    assert status != 400 or "_body" not in body.get("fields", {}), body


def test_openapi_requires_a_body_exactly_where_one_is_required(stack):
    import requests
    from gateway.routes import ROUTES
    document = requests.get(stack.base + "/openapi.json", timeout=10).json()
    for route in ROUTES:
        if route.body is None or route.upload:
            continue
        path = route.path
        for arg in route.path_args:
            path = path.replace(next(p for p in path.split("/") if p.startswith("<") and p.endswith(f"{arg}>")),
                                "{" + arg + "}")
        op = document["paths"][path][route.method.lower()]
        assert op["requestBody"]["required"] == route.body_required, (route.method, route.path)
