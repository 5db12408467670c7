"""Risk-service report and view schemas: coverage, the map, the appraisal, QR codes, the safety file."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from . import domain
from .schemas import EnterpriseOut, HazardOut, InspectionOut, PolicyOut, QYear, RequestOut, Text


class CoverageQuery(Schema):
    year = QYear(required=True)


class CoverageRow(Schema):
    district = fields.String()
    industry = fields.String()
    tier = fields.String()
    enterprises = fields.Integer()
    insured = fields.Integer()
    insured_share = fields.String()


class InsurerInspections(Schema):
    insurer_id = fields.Integer()
    due = fields.Integer()
    done = fields.Integer()
    on_time = fields.Integer()


class HazardFigures(Schema):
    general = fields.Integer()
    major = fields.Integer()
    found = fields.Integer()
    rectified = fields.Integer()
    open = fields.Integer()


class CoverageOut(Schema):
    year = fields.Integer()
    enterprises = fields.Integer()
    insured = fields.Integer()
    insured_share = fields.String(metadata={"description": "percent, target ≥ 6.00 city-wide"})
    mandatory_enterprises = fields.Integer()
    mandatory_insured = fields.Integer()
    mandatory_share = fields.String(metadata={"description": "percent, target 100.00"})
    insured_workers = fields.Integer()
    premium_fen = fields.Integer()
    rows = fields.List(fields.Nested(CoverageRow))
    inspections = fields.List(fields.Nested(InsurerInspections))
    hazards = fields.Nested(HazardFigures)
    targets = fields.Dict(metadata={"description": "insured_share / mandatory_share: target, actual, met"})


class MapQuery(Schema):
    district = Text(40)


class MapOut(Schema):
    type = fields.String(metadata={"example": "FeatureCollection"})
    features = fields.List(fields.Dict(), metadata={"description": "one Point per town with open hazards"})
    districts = fields.List(fields.Dict(), metadata={
        "description": "one Polygon per district with enterprises: the convex hull of its enterprises' positions "
                       "(not a legal boundary), with its open hazards and enterprise count"})


def _percent(value):
    # a plain function, not validate.Range: the OpenAPI document would render Decimal bounds as strings
    if not 0 <= value <= 100:
        raise ValidationError("Must be between 0 and 100.")


class AppraisalIn(Schema):
    scores = fields.Dict(keys=fields.String(validate=validate.OneOf(
        [d for d in domain.APPRAISAL_DIMENSIONS if d != "prevention"])),
        values=fields.Decimal(places=2, allow_nan=False, validate=_percent,
                              metadata={"type": "number", "minimum": 0, "maximum": 100}),
        required=True,
        metadata={"description": "0–100 for organisation, underwriting, claims, publicity, complaints"})


class AppraisalOut(Schema):
    insurer_id = fields.Integer()
    insurer = fields.String()
    year = fields.Integer()
    total = fields.String()
    stars = fields.Integer()
    dimensions = fields.List(fields.Dict())
    prevention_parts = fields.List(fields.Dict())
    facts = fields.Dict()


# a code's image, by ?format= (qrcodes.qr_image)
QR_IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


class QrImageQuery(Schema):
    format = fields.String(load_default="png", validate=validate.OneOf(list(QR_IMAGE_TYPES)))


class QrOut(Schema):
    enterprise_id = fields.Integer()
    token = fields.String()
    url = fields.String()
    created_at = fields.AwareDateTime()


class FileOut(Schema):
    key = fields.String()
    sha256 = fields.String()
    content_type = fields.String()
    size = fields.Integer()


class ScanOut(Schema):
    view = fields.String(metadata={"description": "public, or the role whose view this is"})
    name = fields.String()
    insured = fields.Boolean()
    policy_period = fields.Dict(allow_none=True)
    last_inspection = fields.Date(allow_none=True)
    file = fields.Dict(metadata={"description": "the safety file, for a role entitled to it"})


class SafetyFileOut(Schema):
    enterprise = fields.Nested(EnterpriseOut)
    policies = fields.List(fields.Nested(PolicyOut))
    inspections = fields.List(fields.Nested(InspectionOut))
    hazards = fields.List(fields.Nested(HazardOut))
    requests = fields.List(fields.Nested(RequestOut))
