"""Defects the API fuzz test (tests/e2e/test_api_fuzz.py) found, pinned without a running stack."""
from __future__ import annotations

import pytest
from marshmallow import ValidationError

from gateway.openapi import openapi_document
from services.subsidies.schemas import TrainingCompletedData
from services.training.schemas import BulkExpertsIn, ExternalRow


@pytest.mark.parametrize("schema, body, field", [
    # an id beyond the database's bigint reached SQLite and came back as a 500
    (BulkExpertsIn(), {"items": [{"group_id": 2**64, "expert": "e"}]}, "items"),
    (ExternalRow(), {"candidate_id": 2**64, "score": {}}, "candidate_id"),
])
def test_ids_beyond_bigint_are_refused_by_the_schema(schema, body, field):
    with pytest.raises(ValidationError) as refused:
        schema.load(body)
    assert field in refused.value.messages


def test_training_completed_class_id_has_an_upper_bound():
    assert TrainingCompletedData().fields["class_id"].validators[0].max is not None


def test_health_documents_the_calendar_it_returns():
    health = openapi_document()["components"]["schemas"]["HealthOut"]
    assert "calendar" in health["properties"]


def test_rate_limit_and_unavailable_are_documented():
    op = openapi_document()["paths"]["/api/v1/cycles"]["post"]
    assert {"429", "503"} <= set(op["responses"])
