"""A file's Content-Type is said once: every CSV the services produce answers exactly
``text/csv; charset=utf-8`` through the gateway and the console (werkzeug used to add a second charset)."""
from __future__ import annotations

import base64

import pytest

from gateway.service import file_response as api_file
from gateway.web.service import file_response as page_file
from services.subsidies import bankfile
from shared.documents import CSV_TYPE, PDF_TYPE, XLSX_TYPE, csv_bytes


def result(content_type: str) -> dict:
    return {"filename": "排名.csv", "content_type": content_type,
            "data_base64": base64.b64encode(csv_bytes(["a"], [["1"]])).decode()}


# every CSV a file route returns: scoring's ranking export (CSV_TYPE), subsidies' bank file
CSV_TYPES = {"scoring export_ranking": CSV_TYPE, "subsidies export_batch": bankfile.render([["x"] * 6], "csv")[1]}


@pytest.mark.parametrize("respond", [api_file, page_file], ids=["gateway", "console"])
@pytest.mark.parametrize("route", sorted(CSV_TYPES))
def test_every_csv_answers_one_charset(respond, route):
    assert respond(result(CSV_TYPES[route])).headers["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize("respond", [api_file, page_file], ids=["gateway", "console"])
def test_other_types_are_left_as_they_are(respond):
    assert respond(result("text/csv")).headers["Content-Type"] == "text/csv; charset=utf-8"
    assert respond(result(XLSX_TYPE)).headers["Content-Type"] == XLSX_TYPE
    assert respond(result(PDF_TYPE)).headers["Content-Type"] == PDF_TYPE
