"""The OpenAPI document states what the services validate (tests/e2e/test_api_fuzz.py checks it end to end).

Each rule is checked both ways where it can be: a body the service's own schema refuses is refused by the
document too, and one it accepts is accepted, so a client generated from the document sends what is taken.
"""
from __future__ import annotations

import datetime
import warnings

import jsonschema
import pytest
from marshmallow import ValidationError
from nameko.exceptions import deserialize, serialize

from gateway.openapi import openapi_document
from gateway.tokens import BINDINGS, create_token
from services.registration.schemas import CandidateIn, CycleIn
from services.scoring.schemas import SchemeIn
from services.subsidies.schemas import LectureIn, SubsidyCycleIn
from services.training.schemas import ExamIn
from shared.districts import official_names
from shared.errors import RuleViolation, ValidationFailed
from shared.schemas import MAX_ID, as_code, as_id
from shared.workdays import CalendarOutOfRange
from tests.support import candidate_form, credit_code, resident_id


@pytest.fixture(scope="module")
def document():
    return openapi_document()


def _component(document, name):
    """The component schema ``name`` with its references resolved (a JSON Schema validator needs them)."""
    components = document["components"]["schemas"]

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(components[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items() if not k.startswith("x-")}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return _nullable(resolve(components[name]))


def _nullable(node):
    """OpenAPI 3.0's ``nullable`` as JSON Schema: null is one more type (and one more enum value)."""
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    return node


def _documented(schema, body) -> bool:
    return jsonschema.Draft4Validator(schema, format_checker=None).is_valid(body)


def _service_takes(schema_cls, body) -> bool:
    try:
        schema_cls().load(body)
    except ValidationError:
        return False
    return True


def test_the_document_builds_without_apispec_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Multiple schemas resolved to the name BulkOut" was one
        document = openapi_document.__wrapped__()
    names = document["components"]["schemas"]
    assert {"Registration.BulkSealOut", "Registration.BulkSealItem", "Training.BulkExpertsOut",
            "Subsidies.BulkLecturesOut", "Subsidies.BulkReviewOut"} <= set(names)
    assert not [n for n in names if n.startswith("BulkOut") or n.startswith("BulkItem")]


def _parameter(document, path, method, name):
    (param,) = [p for p in document["paths"][path][method]["parameters"] if p.get("name") == name]
    return param["schema"]


def test_path_parameters_state_what_the_services_check(document):
    ident = _parameter(document, "/api/v1/candidates/{candidate_id}", "get", "candidate_id")
    assert (ident["type"], ident["minimum"], ident["maximum"]) == ("integer", 1, MAX_ID)
    with pytest.raises(ValidationFailed):
        as_id(0)
    assert as_id(MAX_ID) == MAX_ID

    cycle = _parameter(document, "/api/v1/cycles/{cycle}/stages", "post", "cycle")
    assert _parameter(document, "/api/v1/cycles/{code}", "get", "code") == cycle
    assert _parameter(document, "/api/v1/subsidy-cycles/{code}", "put", "code") == cycle
    for text in ("2026", "a" * 21, "-x", "a b"):
        ok = jsonschema.Draft4Validator(cycle).is_valid(text)
        try:
            as_code(text)
            assert ok, text
        except ValidationFailed:
            assert not ok, text

    year = _parameter(document, "/api/v1/case-campaigns/{year}", "get", "year")
    assert (year["minimum"], year["maximum"]) == (2000, 2100)
    assert _parameter(document, "/api/v1/calendar/{year}", "put", "year")["maximum"] == 2200
    assert _parameter(document, "/api/v1/cycles/{cycle}/stages/{stage}/groups", "get", "stage")["enum"] == \
        ["basic", "key", "intensive"]
    code = _parameter(document, "/api/v1/safety-files/{credit_code}", "get", "credit_code")
    assert code["format"] == "cn-uscc" and jsonschema.Draft4Validator(code).is_valid(credit_code())


def test_identifiers_and_districts_state_their_form(document):
    unit = _component(document, "Registration.UnitIn")["properties"]
    assert unit["district"]["enum"][:-1] == official_names("beijing")  # and null: the field takes None
    assert _documented(unit["credit_code"], credit_code())
    assert not _documented(unit["credit_code"], "SheetLecture")
    assert not _documented(unit["contact_phone"], "1381234567")

    lecture = _component(document, "Subsidies.LectureIn")["properties"]
    assert lecture["id_number"]["format"] == "cn-resident-id" and _documented(lecture["id_number"], resident_id())
    assert not _documented(lecture["account_number"], "12345")


@pytest.mark.parametrize("schema_cls, component, body", [
    # minimums are keyed by unit kind
    (CycleIn, "Registration.CycleIn", {"code": "C1", "title": "t", "deadline": "2026-12-31", "minimums": {"x": 1}}),
    (CycleIn, "Registration.CycleIn", {"code": "C1", "title": "t", "deadline": "2026-12-31",
                                       "minimums": {"insurer_branch": 1}}),
    # the form's fields are required on registration (checked by a schema validator)
    (CandidateIn, "Registration.CandidateIn", {"cycle": "C1"}),
    # stages or a published scheme, not both, not neither; a published scheme is one shipped
    (SchemeIn, "Scoring.SchemeIn", {}),
    (SchemeIn, "Scoring.SchemeIn", {"published": "2022"}),
    (SchemeIn, "Scoring.SchemeIn", {"published": "0"}),
    # a programme exam names its cycle, a class exam its class
    (ExamIn, "Training.ExamIn", {"kind": "basic_test", "title": "t", "draw": [{"topic": "a", "count": 1}]}),
    (ExamIn, "Training.ExamIn", {"kind": "basic_test", "title": "t", "cycle": "C1",
                                 "draw": [{"topic": "a", "count": 1}]}),
    (ExamIn, "Training.ExamIn", {"kind": "class_exam", "title": "t", "cycle": "C1",
                                 "draw": [{"topic": "a", "count": 1}]}),
])
def test_a_rule_across_fields_is_in_the_document(document, schema_cls, component, body):
    assert _documented(_component(document, component), body) == _service_takes(schema_cls, body)


@pytest.mark.parametrize("role", sorted(BINDINGS))
def test_a_bound_roles_token_names_its_binding_in_the_document(document, role):
    schema, binding = _component(document, "TokenIn"), BINDINGS[role]
    with pytest.raises(ValidationFailed) as refused:  # create_token checks it before it writes anything
        create_token(None, role, "beijing")
    assert binding in refused.value.fields
    assert not _documented(schema, {"role": role})
    assert _documented(schema, {"role": role, binding: 3 if binding == "unit_id" else "东城区"})
    assert _documented(schema, {"role": "operator"})


def test_candidate_form_is_documented_as_taken(document):
    form = candidate_form("C1", unit_id=1)
    assert _service_takes(CandidateIn, form) and _documented(_component(document, "Registration.CandidateIn"), form)


def test_an_exchange_lecture_names_its_host_and_only_it_does(document):
    schema = _component(document, "Subsidies.LectureIn")
    base = {"cycle": "C1", "candidate_id": 1, "lecturer_name": "张三", "id_number": resident_id(),
            "lecture_date": "2024-05-06", "venue": "v", "audience_count": 30, "bank": "b", "branch": "b",
            "account_number": "6222020200112233445", "contact": "c"}
    for kind, extra in (("exchange", {}), ("exchange", {"host_candidate_id": 2}), ("self_hosted", {}),
                        ("self_hosted", {"host_candidate_id": 2})):
        body = dict(base, kind=kind, **extra)
        assert _documented(schema, body) == _service_takes(LectureIn, body), (kind, extra)


def test_dates_in_order_are_stated_as_x_ordered(document):
    schema = document["components"]["schemas"]["Subsidies.SubsidyCycleIn"]
    assert schema["x-ordered"] == [["tour_start", "tour_end", "<="]]
    assert not _service_takes(SubsidyCycleIn, {"tour_start": "2024-05-02", "tour_end": "2024-05-01",
                                               "lecture_subsidy_fen": 1})
    assert document["components"]["schemas"]["Risk.PolicyIn"]["x-ordered"] == [["period_start", "period_end", "<"]]
    assert document["components"]["schemas"]["Training.ClassIn"]["x-ordered"] == [["days/0", "days/1", "<"]]


def test_uploads_and_downloads_name_their_media_types(document):
    photos = document["paths"]["/api/v1/risk/photos"]["post"]["requestBody"]["content"]
    assert set(photos) == {"image/jpeg", "image/png"}
    image = document["paths"]["/api/v1/risk/enterprises/{enterprise_id}/qr-code/image"]["get"]["responses"]["200"]
    assert set(image["content"]) == {"image/png", "image/svg+xml", "application/pdf"}
    safety_file = document["paths"]["/api/v1/safety-files/{credit_code}"]["get"]["responses"]["200"]
    assert safety_file["content"]["application/json"]["schema"]["$ref"].endswith("/SafetyFileOut")


def test_a_rule_violation_of_a_subclass_crosses_rpc_as_a_422():
    # a lecture dated before the holiday calendar reached the gateway as a RemoteError: a 500
    crossed = deserialize(serialize(CalendarOutOfRange(datetime.date(2000, 1, 1))))
    assert isinstance(crossed, RuleViolation) and crossed.http_status == 422
    assert crossed.rule == "calendar_range" and "2000-01-01" in crossed.message
