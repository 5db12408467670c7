"""Pages of the risk service: an enterprise's 全安码 page, hazards and their rectification.

The QR page is public: anyone sees the minimum the service gives; a logged-in
person sees what the service gives their role (the enterprise itself its safety
file). Photos go to the service's upload RPC, as the gateway's raw-body route does.
"""
from __future__ import annotations

import base64

from shared.errors import ValidationFailed

from . import labels
from .pages import _int, _require

PHOTO_TYPES = {"image/jpeg", "image/png"}
PHOTO_MAX = 8 * 1024 * 1024
READERS = ("admin", "operator", "integrator", "regulator", "insurer", "enterprise", "service_org")


def qr(page, token):
    scanned = page.call("risk", "scan", token)
    return page.render("qr.html", s=scanned, token=token)


def hazards(page):
    _require(page, *READERS)
    query = {n: page.request.args[n].strip() for n in ("status", "level") if (page.request.args.get(n) or "").strip()}
    query["page"] = _int(page.request.args.get("page"), "page", 1)
    query["per_page"] = 20
    result = page.call("risk", "list_hazards", query)
    return page.render("hazards.html", result=result, query=query)


def hazard(page, hazard_id, errors=None, status=200, saved=False):
    _require(page, *READERS)
    found = page.call("risk", "get_hazard", hazard_id)
    return page.render("hazard.html", status=status, h=found, errors=errors or {}, saved=saved)


def evidence(page, hazard_id):
    """Several photos at once, each through the upload RPC; then the evidence with their keys."""
    _require(page, "enterprise", "admin", "operator")
    form = page.request.form
    keys = []
    for upload in [f for f in page.request.files.getlist("photos") if f and f.filename][:20]:
        raw = upload.read(PHOTO_MAX + 1)
        if upload.mimetype not in PHOTO_TYPES:
            return hazard(page, hazard_id, {"photos": f"{upload.filename}：照片须为 JPEG 或 PNG 格式"}, 400)
        if len(raw) > PHOTO_MAX:
            return hazard(page, hazard_id, {"photos": f"{upload.filename}：照片不能超过 8 MiB"}, 400)
        stored = page.call("risk", "upload_photo", {"filename": upload.filename, "content_type": upload.mimetype,
                                                    "data_base64": base64.b64encode(raw).decode("ascii")})
        keys.append(stored["key"])
    payload = {"note": (form.get("note") or "").strip(), "photos": keys, "done": form.get("done") == "1"}
    try:
        page.call("risk", "add_evidence", hazard_id, payload)
    except ValidationFailed as exc:
        errors = {f.split(".")[0]: f"{name}：{text}" for f, name, text in labels.describe_fields(exc.fields)}
        return hazard(page, hazard_id, errors, 400)
    return hazard(page, hazard_id, saved=True)


# ---- oversight: a regulator its district, the center everything ----------------------------------

OVERSIGHT = ("admin", "operator", "integrator", "regulator")


def major_reports(page, acknowledged=None):
    _require(page, *OVERSIGHT)
    reports = page.call("risk", "list_major_reports", {})
    return page.render("major_reports.html", reports=reports, acknowledged=acknowledged)


def acknowledge(page, report_id):
    _require(page, "regulator", "admin")
    note = (page.request.form.get("note") or "").strip() or None
    page.call("risk", "acknowledge_major", report_id, {"note": note})
    return major_reports(page, acknowledged=report_id)


def coverage(page):
    from shared.workdays import local_date, utcnow

    _require(page, *OVERSIGHT)
    year = _int(page.request.args.get("year"), "year", local_date(utcnow()).year, 2000, 2100)
    report = page.call("risk", "coverage", {"year": year})
    return page.render("coverage.html", report=report, year=year)


def risk_map(page):
    _require(page, *OVERSIGHT)
    found = page.call("risk", "risk_map", {})
    return page.render("risk_map.html", features=found["features"], districts=found.get("districts") or [])


def risk_map_json(page):
    """The same GeoJSON for the map's script (same origin, the session's principal)."""
    import json

    from werkzeug.wrappers import Response

    _require(page, *OVERSIGHT)
    found = page.call("risk", "risk_map", {})
    return page.service.respond(Response(json.dumps(found, ensure_ascii=False), mimetype="application/geo+json"), page)
