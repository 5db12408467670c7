"""Input, output and event schemas of the scoring service (marshmallow 4).

The data of the events this service consumes (registration, training, subsidies)
is validated here too, against docs/event-contracts.md; those schemas are *not*
registered as event types: their producers own them.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from shared.errors import ValidationFailed
from shared.events import event_type
from shared.schemas import CODE, AuditOut, one_of_required  # noqa: F401  (one definition for all; route tables name AuditOut per service)

from . import domain

SERVICE = "scoring"
NAME = validate.Regexp(r"^[a-z][a-z0-9_]{0,19}$", error="lower-case letters, digits and _ only, starting with a letter (≤20)")
SCORE_TEXT = validate.Regexp(r"^\d{1,5}\.\d{2}$", error="a decimal string with two places")
Text = lambda max_len, **kw: fields.String(validate=validate.Length(min=kw.pop("min", 1), max=max_len), **kw)  # noqa: E731


def between(low, high, low_inclusive: bool, message: str):
    """A plain validator (not ``validate.Range``: on a Decimal field apispec would print the bounds as strings)."""
    low, high = Decimal(low), Decimal(high)

    def check(value: Decimal):
        if value > high or value < low or (value == low and not low_inclusive):
            raise ValidationError(message)
    return check


def max_places(places: int):
    def check(value: Decimal):
        if value.as_tuple().exponent < -places:
            raise ValidationError(f"at most {places} decimal places")
    return check


# ---- input -----------------------------------------------------------------------------------

class PartIn(Schema):
    ref = fields.String(required=True, validate=NAME, metadata={
        "description": f"a measured part ({', '.join(domain.PARTS)}) or an earlier stage's name"})
    weight = fields.Decimal(required=True, validate=[
        between(0, 1, False, "must be more than 0 and at most 1"), max_places(4)],
        metadata={"description": "a decimal, e.g. \"0.4\"; a stage's weights sum to exactly 1"})


class StageIn(Schema):
    name = fields.String(required=True, validate=NAME, metadata={"example": "final"})
    label = Text(40, load_default=None, metadata={"example": "金牌宣讲员评选"})
    parts = fields.List(fields.Nested(PartIn), required=True, validate=validate.Length(min=1, max=10))
    points_per_lecture = fields.Decimal(validate=[
        between(0, 100, True, "must be between 0 and 100"), max_places(2)],
        metadata={"description": "points added per compliant tour lecture (2022: 20 in the final score)"})
    cutoff = fields.Integer(strict=True, required=True, validate=validate.Range(
        min=1, max=1_000_000, error="must be a positive whole number"), metadata={"description": "how many advance"})
    advances_to = fields.String(required=True, validate=NAME, metadata={
        "description": "what the advanced go on to (event field to_stage), e.g. key, intensive, gold"})
    after = fields.String(load_default=None, validate=NAME, metadata={
        "description": "an earlier stage: only the candidates it advanced take part in this one"})
    tie_break = fields.List(fields.String(validate=NAME), load_default=list, validate=validate.Length(max=10),
                            metadata={"description": "parts compared (higher first) when stage scores are equal"})
    gold = fields.Boolean(load_default=False, metadata={"description": "closing this stage selects the gold lecturers"})


class RoundingIn(Schema):
    panel_means = fields.String(load_default=domain.EXACT, validate=validate.OneOf(domain.ROUNDING_CHOICES), metadata={
        "description": "exact: an expert part is the panel's total / its size (default); "
                       "published: training's two-place mean"})
    stage_references = fields.String(load_default=domain.EXACT, validate=validate.OneOf(domain.ROUNDING_CHOICES),
                                     metadata={"description": "exact: a stage used as a part of a later one enters "
                                                              "unrounded (default); published: its two-place score"})


# the schemes shipped with the service (data/scheme_<name>.yml), by name
PUBLISHED_SCHEMES = sorted(p.stem.removeprefix("scheme_") for p in (Path(__file__).parent / "data").glob("scheme_*.yml"))


class SchemeIn(Schema):
    openapi = one_of_required("stages", "published")  # one_source below
    title = Text(200, min=0, load_default="")
    rounding = fields.Nested(RoundingIn, load_default=None, metadata={
        "description": "where rounding happens; every published stage score is rounded once, half up, to 2 places"})
    stages = fields.List(fields.Nested(StageIn), validate=validate.Length(min=1, max=10))
    published = fields.String(validate=validate.OneOf(PUBLISHED_SCHEMES), metadata={
        "description": "instead of stages: load the scheme shipped with the service, e.g. \"2022\""})

    @validates_schema(skip_on_field_errors=False)
    def one_source(self, data, **kwargs):
        if ("stages" in data) == ("published" in data):
            raise ValidationError("give either stages or published", "stages")


class CloseIn(Schema):
    confirm_not_ready = fields.Boolean(load_default=False, metadata={
        "description": "close although scores are missing or events are still in flight (the readiness the "
                       "409 answer showed); the close's audit keeps that it was confirmed"})


class ReopenIn(Schema):
    reason = Text(2000, required=True)


class RebuildIn(Schema):
    cycle = fields.String(validate=CODE, load_default=None, metadata={"description": "one cycle; all when omitted"})


class ExportQuery(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


# ---- consumed events (contracts of other services) -------------------------------------------

class ScoreField(fields.Field):
    """A decimal *string* 0–100 (never a JSON number: floats are not scores)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be a decimal string, e.g. \"86.50\"")
        try:
            return domain.parse_score(value)
        except ValidationFailed as exc:
            raise ValidationError(exc.message) from None


class Consumed(Schema):
    class Meta:
        unknown = EXCLUDE  # producers may add fields; a consumer reads what it needs

    cycle = fields.String(required=True, validate=CODE)
    candidate_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=2**62))


class CandidateApprovedData(Consumed):
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    registered_at = fields.AwareDateTime(required=True)
    person_key = fields.String(load_default=None, validate=validate.Length(max=64))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))


class CandidateWithdrawnData(Consumed):
    reason = fields.String(load_default=None)


class ExamScoredData(Consumed):
    stage = fields.String(required=True, validate=validate.OneOf(["basic", "key"]))
    exam = fields.String(required=True, validate=validate.OneOf(domain.EXAM_PARTS))
    score = ScoreField(required=True)
    attempt_id = fields.Raw(load_default=None)
    scored_at = fields.AwareDateTime(required=True)
    source = fields.String(load_default=None, validate=validate.OneOf(["online", "paper"]))
    # a test taken on another platform: where, and the export it came in (absent from older events)
    platform = fields.String(load_default=None, allow_none=True)
    reference = fields.String(load_default=None, allow_none=True)


class ExpertScoredData(Consumed):
    stage = fields.String(required=True, validate=validate.OneOf(["key", "intensive"]))
    part = fields.String(required=True, validate=validate.OneOf(domain.EXPERT_PARTS))
    score = ScoreField(required=True)
    panel_size = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1, max=100))
    panel_total = fields.String(load_default=None, validate=SCORE_TEXT, metadata={
        "description": "the exact sum of the panel's scores; total / panel_size is the exact mean"})
    scored_at = fields.AwareDateTime(required=True)

    @validates_schema(skip_on_field_errors=True)
    def total_matches_the_mean(self, data, **kwargs):
        total, size = data.get("panel_total"), data.get("panel_size")
        if total is None:
            return
        if not size:
            raise ValidationError("panel_total needs panel_size", "panel_size")
        if domain.half_up(Decimal(total) / size) != data["score"]:
            raise ValidationError(f"{total} / {size} does not round to the score {data['score']}", "panel_total")


class LectureApprovedData(Consumed):
    lecture_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=2**62))
    kind = fields.String(required=True, validate=validate.OneOf(["self_hosted", "exchange", "on_demand"]))
    lecture_date = fields.Date(required=True)
    approved_at = fields.AwareDateTime(load_default=None)


class LectureRevokedData(Consumed):
    lecture_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=2**62))
    reason = fields.String(load_default=None)


CONSUMED = {
    domain.APPROVED: CandidateApprovedData,
    domain.WITHDRAWN: CandidateWithdrawnData,
    domain.EXAM: ExamScoredData,
    domain.EXPERT: ExpertScoredData,
    domain.LECTURE_OK: LectureApprovedData,
    domain.LECTURE_REVOKED: LectureRevokedData,
}


def consumed_data(name: str, data: dict) -> dict:
    """The typed data of a consumed event; ``ValidationFailed`` (parked at once) when it breaks the contract."""
    try:
        return CONSUMED[name]().load(data)
    except ValidationError as err:
        raise ValidationFailed(f"{name} data breaks its contract", err.messages) from None


# ---- output ----------------------------------------------------------------------------------

class PartOut(Schema):
    ref = fields.String()
    label = fields.String()
    weight = fields.String()


class StageOut(Schema):
    name = fields.String()
    label = fields.String()
    parts = fields.List(fields.Nested(PartOut))
    points_per_lecture = fields.String()
    cutoff = fields.Integer()
    advances_to = fields.String()
    after = fields.String(allow_none=True)
    tie_break = fields.List(fields.String())
    gold = fields.Boolean()
    status = fields.String(metadata={"description": "open or closed"})


class RoundingOut(Schema):
    panel_means = fields.String()
    stage_references = fields.String()
    description = fields.String()


class SchemeOut(Schema):
    cycle = fields.String()
    version = fields.Integer()
    title = fields.String()
    rounding = fields.Nested(RoundingOut)
    stages = fields.List(fields.Nested(StageOut))
    loaded_at = fields.DateTime()
    loaded_by = fields.String()


class CloseOut(Schema):
    cycle = fields.String()
    stage = fields.String()
    status = fields.String()
    cutoff = fields.Integer()
    advanced = fields.Integer()
    not_advanced = fields.Integer()
    unranked = fields.Integer()
    round = fields.Integer(metadata={"description": "1 for the first close, +1 after each re-open"})
    changed = fields.Integer(metadata={"description": "decision events emitted by this close"})
    advanced_ids = fields.List(fields.Integer())
    closed_at = fields.String()
    confirmed_not_ready = fields.Boolean(metadata={
        "description": "closed on the operator's confirmation while not everything was in"})


class ReadinessPartOut(Schema):
    part = fields.String()
    label = fields.String()
    arrived = fields.Integer()
    missing = fields.Integer()


class ReadinessMissingOut(Schema):
    candidate_id = fields.Integer()
    name = fields.String(allow_none=True)
    parts = fields.List(fields.String())


class InFlightConsumerOut(Schema):
    handler = fields.String()
    source = fields.String()
    event = fields.String()
    published = fields.Integer(allow_none=True)
    processed = fields.Integer()
    behind = fields.Integer(allow_none=True, metadata={"description": "published by the producer, not yet processed"})
    waiting_in_outbox = fields.Integer(allow_none=True, metadata={"description": "not yet published by the producer"})
    queued = fields.Integer(allow_none=True, metadata={"description": "waiting at the broker; null when unknown"})


class InFlightOut(Schema):
    clear = fields.Boolean(metadata={"description": "nothing the stage needs is on its way"})
    sources = fields.List(fields.String())
    unavailable = fields.List(fields.String(), metadata={"description": "producers that gave no lag report"})
    broker = fields.String()
    consumers = fields.List(fields.Nested(InFlightConsumerOut))


class ReadinessOut(Schema):
    cycle = fields.String()
    stage = fields.String()
    status = fields.String()
    ready = fields.Boolean(metadata={"description": "every score arrived and nothing is in flight"})
    needs = fields.List(fields.String(), metadata={"description": "the measured parts the stage needs"})
    counts_lectures = fields.Boolean()
    taking_part = fields.Integer(metadata={"description": "approved, not withdrawn, advanced from the earlier stage"})
    entrants_from = fields.String(allow_none=True)
    parts = fields.List(fields.Nested(ReadinessPartOut))
    missing_total = fields.Integer()
    missing = fields.List(fields.Nested(ReadinessMissingOut), metadata={"description": "the first 1000"})
    in_flight = fields.Nested(InFlightOut)
    checked_at = fields.String()


class StageStateOut(Schema):
    cycle = fields.String()
    stage = fields.String()
    status = fields.String()
    round = fields.Integer()
    closed_at = fields.DateTime(allow_none=True)
    reopened_at = fields.DateTime(allow_none=True)
    reopen_reason = fields.String(allow_none=True)


class DecisionOut(Schema):
    advanced = fields.Boolean()
    rank = fields.Integer(allow_none=True)
    score = fields.String(allow_none=True)
    reason = fields.String()
    round = fields.Integer()
    decided_at = fields.DateTime()


class RankedOut(Schema):
    rank = fields.Integer()
    candidate_id = fields.Integer()
    name = fields.String(allow_none=True)
    score = fields.String()
    parts = fields.Dict(keys=fields.String(), values=fields.String())
    lectures = fields.Integer()
    lecture_points = fields.String()
    decision = fields.Nested(DecisionOut, allow_none=True)


class UnrankedOut(Schema):
    candidate_id = fields.Integer()
    name = fields.String(allow_none=True)
    reason = fields.String()
    decision = fields.Nested(DecisionOut, allow_none=True)


class RankingOut(Schema):
    cycle = fields.String()
    stage = fields.String()
    label = fields.String()
    status = fields.String()
    cutoff = fields.Integer()
    advances_to = fields.String()
    entrants_from = fields.String(allow_none=True, metadata={
        "description": "the closed stage whose advanced candidates take part; null when everyone does"})
    ranked = fields.List(fields.Nested(RankedOut))
    unranked = fields.List(fields.Nested(UnrankedOut))
    flags = fields.Integer()


class ComponentOut(Schema):
    ref = fields.String()
    label = fields.String()
    weight = fields.String()
    score = fields.String(allow_none=True)
    contribution = fields.String(allow_none=True, metadata={
        "description": "value × weight, exact (a fraction such as \"257/15\" when it does not end)"})
    value = fields.String(allow_none=True, metadata={
        "description": "what entered the sum under the scheme's rounding, exact"})
    exact = fields.String(allow_none=True, metadata={
        "description": "the exact figure behind score (a panel's mean, an earlier stage's sum)"})
    unrounded = fields.Boolean(metadata={"description": "the sum took value, not the two-place score shown"})
    event_id = fields.String(allow_none=True)
    at = fields.DateTime(allow_none=True)


class RoundedOut(Schema):
    of = fields.String(metadata={"description": "the part or stage rounded"})
    kind = fields.String(metadata={"description": "panel_mean | stage_reference | stage_score"})
    exact = fields.String()
    rounded = fields.String()
    rule = fields.String()


class StageExplainOut(Schema):
    stage = fields.String()
    label = fields.String()
    status = fields.String()
    score = fields.String(allow_none=True)
    exact = fields.String(allow_none=True, metadata={"description": "the stage's sum before its one rounding"})
    roundings = fields.List(fields.Nested(RoundedOut), metadata={
        "description": "every rounding applied on the way to this stage score, in order"})
    rank = fields.Integer(allow_none=True, metadata={"description": "current rank"})
    unranked_reason = fields.String(allow_none=True)
    components = fields.List(fields.Nested(ComponentOut))
    lectures = fields.Integer()
    points_per_lecture = fields.String()
    lecture_points = fields.String()
    decision = fields.Nested(DecisionOut, allow_none=True)


class SheetPartOut(Schema):
    part = fields.String()
    label = fields.String()
    score = fields.String()
    event_id = fields.String()
    scored_at = fields.DateTime()
    detail = fields.Dict()


class LectureOut(Schema):
    lecture_id = fields.Integer()
    counted = fields.Boolean()
    kind = fields.String(allow_none=True)
    lecture_date = fields.String(allow_none=True)
    event_id = fields.String()
    at = fields.DateTime()
    reason = fields.String(allow_none=True)


class ExplainOut(Schema):
    cycle = fields.String()
    candidate_id = fields.Integer()
    name = fields.String(allow_none=True)
    registered_at = fields.DateTime(allow_none=True)
    approved = fields.Boolean()
    withdrawn = fields.Boolean()
    parts = fields.List(fields.Nested(SheetPartOut))
    lectures = fields.List(fields.Nested(LectureOut))
    lecture_count = fields.Integer()
    stages = fields.List(fields.Nested(StageExplainOut))
    rounding = fields.String()


class FlagOut(Schema):
    id = fields.Integer()
    cycle = fields.String()
    stage = fields.String()
    candidate_id = fields.Integer()
    event_id = fields.String()
    event_name = fields.String()
    published_score = fields.String(allow_none=True)
    current_score = fields.String(allow_none=True)
    detail = fields.String()
    created_at = fields.DateTime()


class RebuildOut(Schema):
    cycles = fields.List(fields.String())
    events = fields.Integer()
    sheets = fields.Integer()




# ---- events ----------------------------------------------------------------------------------

@event_type(SERVICE, "scheme_loaded", description="A cycle's scoring scheme (formulas, weights, cut-offs) was loaded.")
class SchemeLoadedEvent(Schema):
    cycle = fields.String(required=True)
    version = fields.Integer(required=True)
    title = fields.String(required=True)
    stages = fields.List(fields.String(), required=True)
    loaded_by = fields.String(required=True)


@event_type(SERVICE, "stage_closed",
            description="An operator closed a stage: the cut-off was applied and the decisions published.")
class StageClosedEvent(Schema):
    cycle = fields.String(required=True)
    stage = fields.String(required=True)
    cutoff = fields.Integer(required=True, metadata={"description": "how many advance at most"})
    advanced = fields.Integer(required=True, metadata={"description": "how many advanced"})
    not_advanced = fields.Integer(required=True, metadata={"description": "how many did not (unranked included)"})
    closed_at = fields.DateTime(required=True)


@event_type(SERVICE, "candidate_advanced",
            description="A candidate ranked within a closed stage's cut-off (closing key: the 80 who give tour "
                        "lectures).")
class CandidateAdvancedEvent(Schema):
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    from_stage = fields.String(required=True)
    to_stage = fields.String(required=True)
    rank = fields.Integer(required=True)
    score = fields.String(required=True, validate=SCORE_TEXT)


@event_type(SERVICE, "candidate_not_advanced",
            description="A candidate did not make a closed stage's cut-off, or was not ranked (rank and score null).")
class CandidateNotAdvancedEvent(Schema):
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    stage = fields.String(required=True)
    rank = fields.Integer(required=True, allow_none=True)
    score = fields.String(required=True, allow_none=True, validate=SCORE_TEXT)
    reason = fields.String(required=True)


@event_type(SERVICE, "gold_lecturer_selected", description="A gold lecturer (top of the final score) was selected.")
class GoldLecturerSelectedEvent(Schema):
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    rank = fields.Integer(required=True)
    final_score = fields.String(required=True, validate=SCORE_TEXT)


@event_type(SERVICE, "stage_reopened",
            description="An operator re-opened a closed stage; closing it again publishes changed decisions only.")
class StageReopenedEvent(Schema):
    cycle = fields.String(required=True)
    stage = fields.String(required=True)
    reason = fields.String(required=True)
    reopened_by = fields.String(required=True)


@event_type(SERVICE, "score_flagged",
            description="A score or lecture arrived after a stage it feeds was closed: recorded, decision unchanged.")
class ScoreFlaggedEvent(Schema):
    cycle = fields.String(required=True)
    stage = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    event_id = fields.String(required=True)
    event_name = fields.String(required=True)
    published_score = fields.String(required=True, allow_none=True)
    current_score = fields.String(required=True, allow_none=True)
