"""The object-level access policy: for every route with an id in its path, who is fenced to what.

``Route.roles`` says which roles may call a route at all (403 for the others, before any
service is called). This table says, for the roles that may, which of them see only the
objects inside their binding; an object outside it answers 404 exactly as a missing one
does ("not found or not yours"), so a caller learns nothing about what is not theirs.
A role a route admits and this table does not fence sees every object of the agency.

Scopes (what binds the token, ``wsli token create --unit-id/--district/--person``):

- ``unit``: a nominating unit's own record and its candidates (``unit_id``);
- ``district``: a regulator's district (``district``): units, candidates, score sheets,
  trainees, classes and their certificates, enterprises and what hangs off them;
- ``person``: a lecturer's own trainee record, score sheet, attempts and reports (``person``);
- ``panel``: an expert's trainees (members of the groups on its panel) or cases (assigned);
- ``expert``: an expert's own conflict declarations (its code is the token's ``person``);
- ``organisation``: a case-submitting organisation's own record and cases (``unit_id``);
- ``enterprise``, ``insurer``, ``service_org``: risk's parties (``unit_id``) and what they
  insure, are insured by or are sent to inspect;
- ``orderer``: an enterprise's own lecture orders; ``taker``: orders still open (any lecturer
  may take one) or taken by this lecturer;
- ``owner``: an integrator's own webhook endpoints and their deliveries.

``narrows`` marks a route that answers a list under the id: a fenced role gets the part inside
its binding (perhaps nothing), 200, instead of a 404 for what is outside it.

``missing`` is what a caller the route admits gets for an id that names nothing: 404, or
for a few routes the empty answer of a question that has one (a person's class hours).
For a write, ``missing`` is 400 where the service reads the (empty) body before the object;
201 where the id is a key the write creates (a cycle's training stages: training plans any
cycle code it is given). ``tests/service/test_route_roles.py`` fails for a route with an id
in its path and no entry here; ``tests/e2e/test_access_table.py`` calls every such route on
a running stack, as every role and binding, on ids that name nothing and on a real object of
every kind (``tests/e2e/access_world.py``), and checks the answers against ``expect`` below.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fence:
    scoped: dict[str, str] = field(default_factory=dict)   # role -> scope (see above)
    missing: int = 404
    # a list under the id (a cycle's trainees, a stage's groups, a person's hours): a fenced role outside
    # its binding is answered 200 with only what is inside it, never 404
    narrows: bool = False


OPEN = Fence()

_RISK_PARTIES = {"regulator": "district", "insurer": "insurer", "enterprise": "enterprise",
                 "service_org": "service_org"}

ACCESS: dict[str, Fence] = {
    # registration
    "GET /api/v1/cycles/<code>": OPEN,
    "PATCH /api/v1/cycles/<code>": OPEN,
    "GET /api/v1/cycles/<code>/quota-report": OPEN,  # a regulator's report has its district's units only
    "GET /api/v1/units/<unit_id>": Fence({"unit": "unit", "regulator": "district"}),
    "GET /api/v1/candidates/<candidate_id>": Fence({"unit": "unit", "regulator": "district"}),
    "PATCH /api/v1/candidates/<candidate_id>": Fence({"unit": "unit"}),
    "GET /api/v1/candidates/<candidate_id>/identity": OPEN,
    "POST /api/v1/candidates/<candidate_id>/unit-approval": Fence({"unit": "unit"}, missing=400),
    "POST /api/v1/candidates/<candidate_id>/center-approval": Fence(missing=400),
    "POST /api/v1/candidates/<candidate_id>/rejection": Fence({"unit": "unit"}, missing=400),
    "POST /api/v1/candidates/<candidate_id>/withdrawal": Fence({"unit": "unit"}, missing=400),
    "GET /api/v1/audit/<entity_type>/<entity_id>": Fence(missing=200),
    "POST /api/v1/enrolments/<enrolment_id>/cancellation": Fence({"regulator": "district"}, missing=400),
    "GET /api/v1/enrolment-progress/<year>": OPEN,  # a regulator's progress has its district only
    # scoring
    "PUT /api/v1/scoring/schemes/<cycle>": Fence(missing=400),
    "GET /api/v1/scoring/schemes/<cycle>": OPEN,
    "GET /api/v1/scoring/cycles/<cycle>/stages/<stage>/ranking": OPEN,  # the cohort's ranking is one whole
    "GET /api/v1/scoring/cycles/<cycle>/stages/<stage>/export": OPEN,
    "GET /api/v1/scoring/cycles/<cycle>/stages/<stage>/readiness": OPEN,
    "POST /api/v1/scoring/cycles/<cycle>/stages/<stage>/close": OPEN,
    "POST /api/v1/scoring/cycles/<cycle>/stages/<stage>/reopen": Fence(missing=400),
    "GET /api/v1/scoring/cycles/<cycle>/candidates/<candidate_id>": Fence({"regulator": "district",
                                                                          "lecturer": "person"}),
    "GET /api/v1/scoring/cycles/<cycle>/flags": Fence(missing=200),
    "GET /api/v1/scoring/audit/<entity_type>/<entity_id>": Fence(missing=200),
    # subsidies
    "PUT /api/v1/subsidy-cycles/<code>": Fence(missing=400),
    "GET /api/v1/subsidy-cycles/<code>": OPEN,
    "GET /api/v1/subsidy-cycles/<code>/compliance": OPEN,
    "GET /api/v1/lectures/<lecture_id>": Fence({"lecturer": "person"}),
    "GET /api/v1/lectures/<lecture_id>/checks": Fence({"lecturer": "person"}),
    "GET /api/v1/lectures/<lecture_id>/evidence/<file_id>": Fence({"lecturer": "person"}),
    "PUT /api/v1/lectures/<lecture_id>": Fence({"lecturer": "person"}, missing=400),
    "POST /api/v1/lectures/<lecture_id>/approval": Fence(missing=400),
    "POST /api/v1/lectures/<lecture_id>/rejection": Fence(missing=400),
    "POST /api/v1/lectures/<lecture_id>/revocation": Fence(missing=400),
    "GET /api/v1/lecture-orders/<order_id>": Fence({"enterprise": "orderer", "lecturer": "taker"}),
    "POST /api/v1/lecture-orders/<order_id>/acceptance": Fence({"lecturer": "taker"}),
    "POST /api/v1/lecture-orders/<order_id>/schedule": Fence({"lecturer": "taker"}, missing=400),
    "POST /api/v1/lecture-orders/<order_id>/held": Fence({"lecturer": "taker"}),
    "POST /api/v1/lecture-orders/<order_id>/cancellation": Fence({"enterprise": "orderer"}, missing=400),
    "GET /api/v1/payment-batches/<batch_id>": OPEN,
    "GET /api/v1/payment-batches/<batch_id>/bank-file": OPEN,
    "POST /api/v1/payment-batches/<batch_id>/results": OPEN,
    "GET /api/v1/training-subsidies/<person_key>": OPEN,
    "GET /api/v1/subsidies-audit/<entity_type>/<entity_id>": Fence(missing=200),
    # training
    "POST /api/v1/cycles/<cycle>/stages": OPEN,  # training plans only a cycle registration knows
    "GET /api/v1/cycles/<cycle>/stages": OPEN,
    "GET /api/v1/cycles/<cycle>/trainees": Fence({"regulator": "district", "expert": "panel"}, missing=200,
                                                 narrows=True),
    "GET /api/v1/trainees/<candidate_id>": Fence({"regulator": "district", "expert": "panel",
                                                  "lecturer": "person"}),
    "POST /api/v1/cycles/<cycle>/stages/<stage>/group-assignment": Fence(missing=400),
    "GET /api/v1/cycles/<cycle>/stages/<stage>/groups": Fence({"expert": "panel"}, missing=400, narrows=True),
    "PUT /api/v1/groups/<group_id>/members/<candidate_id>": OPEN,
    "POST /api/v1/groups/<group_id>/experts": Fence(missing=400),
    "POST /api/v1/groups/<group_id>/score-sheets": Fence(missing=400),
    "POST /api/v1/groups/<group_id>/score-sheet-files": Fence(missing=400),
    "POST /api/v1/cycles/<cycle>/external-exam-results": Fence(missing=400),
    "POST /api/v1/cycles/<cycle>/external-exam-files": Fence(missing=400),
    "GET /api/v1/exams/<exam_id>": OPEN,
    "POST /api/v1/exams/<exam_id>/attempts": Fence({"lecturer": "person"}),
    "GET /api/v1/attempts/<attempt_id>": Fence({"lecturer": "person", "regulator": "district"}),
    "POST /api/v1/attempts/<attempt_id>/submission": Fence({"lecturer": "person"}, missing=400),
    "POST /api/v1/attempts/<attempt_id>/reopening": Fence(missing=400),
    "POST /api/v1/exams/<exam_id>/paper-scores": Fence(missing=400),
    "GET /api/v1/teachers/<teacher_id>": OPEN,
    "GET /api/v1/classes/<class_id>": Fence({"regulator": "district"}),
    "POST /api/v1/classes/<class_id>/seats": Fence({"regulator": "district"}, missing=400),
    "POST /api/v1/classes/<class_id>/attendance": Fence({"regulator": "district"}, missing=400),
    "POST /api/v1/classes/<class_id>/completion": Fence({"regulator": "district"}),
    "POST /api/v1/classes/<class_id>/seats/<seat_id>/excusal": Fence({"regulator": "district"}, missing=400),
    "GET /api/v1/people/<person_key>/class-hours": Fence({"regulator": "district"}, missing=200, narrows=True),
    "POST /api/v1/classes/<class_id>/ratings": Fence(missing=400),
    "GET /api/v1/training-audit/<entity_type>/<entity_id>": Fence(missing=200),
    "GET /api/v1/certificates/<number>/verify": Fence(missing=200),   # public: "unknown"
    "GET /api/v1/certificates/<number>": Fence({"regulator": "district"}),
    "GET /api/v1/certificates/<number>/pdf": Fence({"regulator": "district"}),
    "POST /api/v1/certificates/<number>/download": Fence(missing=400),
    "POST /api/v1/certificates/<number>/revocation": Fence(missing=400),
    # cases
    "PUT /api/v1/case-campaigns/<year>": Fence(missing=400),
    "GET /api/v1/case-campaigns/<year>": OPEN,
    "GET /api/v1/case-organisations/<org_id>": Fence({"organisation": "organisation"}),
    "PUT /api/v1/case-organisations/<org_id>/declaration": Fence({"organisation": "organisation"}),
    "POST /api/v1/case-experts/<code>/conflicts": Fence({"expert": "expert"}),
    "GET /api/v1/case-experts/<code>/conflicts": Fence({"expert": "expert"}),
    "GET /api/v1/cases/<case_id>": Fence({"organisation": "organisation", "expert": "panel"}),
    "POST /api/v1/cases/<case_id>/recommendation": Fence({"organisation": "organisation"}),
    "POST /api/v1/cases/<case_id>/forwarding": OPEN,
    "POST /api/v1/cases/<case_id>/screening": OPEN,
    "POST /api/v1/cases/<case_id>/site-visits": OPEN,
    "POST /api/v1/cases/<case_id>/withdrawal": Fence({"organisation": "organisation"}),
    "POST /api/v1/case-campaigns/<year>/assignments": OPEN,
    "POST /api/v1/cases/<case_id>/assignments": OPEN,
    "PUT /api/v1/cases/<case_id>/scores/mine": Fence({"expert": "panel"}),
    "GET /api/v1/cases/<case_id>/scores": Fence({"expert": "panel"}),
    "GET /api/v1/case-campaigns/<year>/results": OPEN,
    "GET /api/v1/cases/<case_id>/explanation": OPEN,
    "POST /api/v1/case-campaigns/<year>/levels": OPEN,
    "POST /api/v1/case-campaigns/<year>/notice": Fence(missing=400),
    "GET /api/v1/public/case-campaigns/<year>/list": OPEN,
    "GET /api/v1/case-campaigns/<year>/objections": OPEN,
    "POST /api/v1/case-objections/<objection_id>/resolution": Fence(missing=400),
    "POST /api/v1/case-campaigns/<year>/release": OPEN,
    "GET /api/v1/case-campaigns/<year>/released.xlsx": OPEN,
    "GET /api/v1/case-campaigns/<year>/book.docx": OPEN,
    "GET /api/v1/case-certificates/<number>/verify": Fence(missing=200),   # public: "unknown"
    "GET /api/v1/case-certificates/<number>/pdf": Fence({"organisation": "organisation"}),
    # risk
    "GET /api/v1/risk/enterprises/<enterprise_id>": Fence(_RISK_PARTIES),
    "GET /api/v1/risk/organisations/<organisation_id>/technicians": Fence({"service_org": "service_org"}),
    "GET /api/v1/risk/policies/<policy_id>": Fence(_RISK_PARTIES),
    "POST /api/v1/risk/claims/<claim_id>/survey": Fence({"insurer": "insurer"}, missing=400),
    "POST /api/v1/risk/claims/<claim_id>/advances": Fence({"insurer": "insurer"}, missing=400),
    "POST /api/v1/risk/claims/<claim_id>/settlement": Fence({"insurer": "insurer"}, missing=400),
    "GET /api/v1/risk/insurers/<insurer_id>/fund": Fence({"insurer": "insurer"}, missing=400),
    "GET /api/v1/risk/inspections/<inspection_id>": Fence(_RISK_PARTIES),
    "POST /api/v1/risk/inspections/<inspection_id>/assignment": Fence({"insurer": "insurer"}, missing=400),
    "POST /api/v1/risk/inspections/<inspection_id>/visit": Fence({"service_org": "service_org"}, missing=400),
    "POST /api/v1/risk/inspections/<inspection_id>/reinspections": Fence({"insurer": "insurer"}),
    "GET /api/v1/risk/hazards/<hazard_id>": Fence(_RISK_PARTIES),
    "POST /api/v1/risk/hazards/<hazard_id>/evidence": Fence({"enterprise": "enterprise"}, missing=400),
    "POST /api/v1/risk/major-hazard-reports/<report_id>/acknowledgement": Fence({"regulator": "district"}),
    "POST /api/v1/risk/service-requests/<request_id>/assignment": Fence(missing=400),
    "POST /api/v1/risk/service-requests/<request_id>/closing": Fence({"service_org": "service_org"}, missing=400),
    "POST /api/v1/risk/service-requests/<request_id>/rating": Fence({"enterprise": "enterprise"}, missing=400),
    "PUT /api/v1/risk/appraisals/<year>/insurers/<insurer_id>": Fence(missing=400),
    "GET /api/v1/risk/appraisals/<year>/insurers/<insurer_id>": Fence({"insurer": "insurer"}),
    "POST /api/v1/risk/enterprises/<enterprise_id>/qr-code": Fence({"enterprise": "enterprise"}),
    "GET /api/v1/risk/enterprises/<enterprise_id>/qr-code": Fence({"enterprise": "enterprise"}),
    "GET /api/v1/risk/enterprises/<enterprise_id>/qr-code/image": Fence({"enterprise": "enterprise"}),
    "GET /api/v1/qr/<token>": OPEN,
    "GET /api/v1/risk/safety-files/<credit_code>/risk": Fence(_RISK_PARTIES),
    # webhooks
    "GET /api/v1/webhooks/endpoints/<endpoint_id>": Fence({"integrator": "owner"}),
    "PATCH /api/v1/webhooks/endpoints/<endpoint_id>": Fence({"integrator": "owner"}),
    "DELETE /api/v1/webhooks/endpoints/<endpoint_id>": Fence({"integrator": "owner"}),
    "POST /api/v1/webhooks/endpoints/<endpoint_id>/rotate-secret": Fence({"integrator": "owner"}),
    "GET /api/v1/webhooks/endpoints/<endpoint_id>/deliveries": Fence({"integrator": "owner"}),
    "POST /api/v1/webhooks/endpoints/<endpoint_id>/replay": Fence({"integrator": "owner"}),
    "GET /api/v1/webhooks/deliveries/<delivery_id>": Fence({"integrator": "owner"}),
    "POST /api/v1/webhooks/deliveries/<delivery_id>/replay": Fence({"integrator": "owner"}),
    # the gateway's own
    "DELETE /api/v1/tokens/<int:token_id>": OPEN,
    "GET /api/v1/safety-files/<credit_code>": Fence(missing=200),  # its parts report not_found one by one
    "PUT /api/v1/calendar/<int:year>": Fence(missing=400),
    "GET /api/v1/audit/gateway/<entity_type>/<entity_id>": Fence(missing=200),
}
# every service's audit trail: staff only, an empty trail for an id that names nothing
for _service in ("registration", "scoring", "subsidies", "training", "cases", "risk", "webhooks"):
    ACCESS[f"GET /api/v1/audit/{_service}/<entity_type>/<entity_id>"] = Fence(missing=200)


def key(route) -> str:
    return f"{route.method} {route.path}"


def expect(route, role: str, in_scope: bool) -> int | None:
    """What the table says a caller of ``role`` gets from ``route`` for a real object: 403 for a role the
    route does not admit (before any service is asked); 404 for a fenced role whose binding does not
    reach the object (a route that ``narrows`` answers it with its own part instead); ``None`` for a
    caller past the fence (the object's own answer: 200 for a read). A public route answers everyone."""
    if route.public:
        return None
    if role not in route.roles:
        return 403
    fence = ACCESS[key(route)]
    if role in fence.scoped and not in_scope and not fence.narrows:
        return 404
    return None
