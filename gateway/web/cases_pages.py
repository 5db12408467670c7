"""Pages of the case collection (services/cases): submission with the pre-check, expert review, 公示.

As in pages.py, no rule lives here: the files go to the service's upload RPC (the
same the gateway's raw-body route calls), the pre-check and the submission are the
service's, and what a role may see or do is the service's decision.
"""
from __future__ import annotations

import base64

from shared.errors import RuleViolation, ValidationFailed, WsliError

from . import labels
from .pages import _int, _require

FILE_MAX = 20 * 1024 * 1024
# (form field, the service's file kind, several files at once)
FILE_FIELDS = [("report_docx", "report_docx", False), ("report_pdf", "report_pdf", False),
               ("photos", "photo", True), ("charts", "chart", True)]
FORM_FIELDS = ("campaign", "name", "category", "category_other", "period_start", "period_end", "summary", "honours",
               "creators", "participants")


def _names(text: str) -> list[str]:
    # people type names separated by commas (either width) or the Chinese 顿号
    for sep in ("，", "、", ";", "；"):
        text = text.replace(sep, ",")
    return [n.strip() for n in text.split(",") if n.strip()]


def _campaign(page, year):
    if not year:
        return None
    try:
        return page.call("cases", "get_campaign", year)
    except WsliError:
        return None


def cases(page):
    _require(page, "organisation", "expert", "regulator", "integrator", "admin", "operator")
    query = {k: v for k, v in ((n, (page.request.args.get(n) or "").strip()) for n in ("campaign", "status")) if v}
    query["page"] = _int(page.request.args.get("page"), "page", 1)
    query["per_page"] = 20
    result = page.call("cases", "list_cases", query)
    return page.render("cases.html", result=result, query=query)


def case_form(page, values=None, errors=None, check=None, kept=None, status=200):
    _require(page, "organisation")
    values = values or {}
    year = values.get("campaign") or page.request.args.get("campaign") or ""
    return page.render("case_form.html", status=status, values=values, errors=errors or {}, check=check,
                       kept=kept or {}, campaign=_campaign(page, year), year=year)


def _upload(page, upload, kind: str) -> int:
    raw = upload.read(FILE_MAX + 1)
    if len(raw) > FILE_MAX:
        raise ValidationFailed("file too large", {upload.filename: [f"不能超过 {FILE_MAX // (1024 * 1024)} MiB"]})
    stored = page.call("cases", "upload_file", {
        "filename": upload.filename, "content_type": upload.mimetype or "",
        "data_base64": base64.b64encode(raw).decode("ascii"), "query": {"kind": kind}})
    return stored["id"]


def _files(page) -> dict:
    """Upload what was chosen this time; keep the ids of what an earlier pre-check uploaded."""
    form, files = page.request.form, page.request.files
    out = {}
    for field, kind, many in FILE_FIELDS:
        chosen = [f for f in files.getlist(field) if f and f.filename]
        if chosen:
            ids = [_upload(page, f, kind) for f in chosen[:30]]
        else:
            ids = [_int(v, field) for v in (form.get(f"kept_{field}") or "").split(",") if v.strip()]
        out[field] = ids if many else (ids[0] if ids else None)
    return out


def case_submit(page):
    """One form, two buttons: 预检 (every rule, nothing submitted) and 提交."""
    _require(page, "organisation")
    form = page.request.form
    values = {name: (form.get(name) or "").strip() for name in FORM_FIELDS}
    try:
        files = _files(page)
    except WsliError as exc:
        return case_form(page, values, {"files": _message(exc)}, status=exc.http_status)
    kept = {k: (",".join(map(str, v)) if isinstance(v, list) else (str(v) if v else "")) for k, v in files.items()}
    creators, participants = _names(values["creators"]), _names(values["participants"])
    check = page.call("cases", "precheck", {"files": files, "summary": values["summary"] or None,
                                            "creators": creators[:2], "participants": participants[:4]})
    if form.get("action") != "submit":
        return case_form(page, values, check=check, kept=kept)
    payload = {"campaign": _int(values["campaign"], "campaign", low=2000, high=2100), "channel": "self", "name": values["name"],
               "category": values["category"], "period_start": values["period_start"],
               "period_end": values["period_end"], "summary": values["summary"], "creators": creators,
               "participants": participants, "files": files}
    for optional in ("category_other", "honours"):
        if values[optional]:
            payload[optional] = values[optional]
    try:
        created = page.call("cases", "submit_case", payload)
    except ValidationFailed as exc:
        errors = {f.split(".")[0]: f"{name}：{text}" for f, name, text in labels.describe_fields(exc.fields)}
        return case_form(page, values, errors, check, kept, 400)
    except RuleViolation as exc:
        return case_form(page, values, {"_rule": _message(exc)}, check, kept, 422)
    return page.redirect(f"/cases/{created['id']}?created=1")


def _message(exc: WsliError) -> str:
    from .service import _chinese_message
    return _chinese_message(exc)


def case(page, case_id, saved=False, errors=None, status=200):
    _require(page, "organisation", "expert", "regulator", "integrator", "admin", "operator")
    found = page.call("cases", "get_case", case_id)
    scores = campaign = None
    if page.role == "expert":
        scores = page.call("cases", "get_scores", case_id)
        campaign = _campaign(page, found["campaign"])
    return page.render("case.html", status=status, c=found, scores=scores, campaign=campaign,
                       created=page.request.args.get("created") == "1", saved=saved, errors=errors or {},
                       principles=labels.LABELS["cases"]["principle"])


def case_score(page, case_id):
    _require(page, "expert")
    form = page.request.form
    marks = {p: (form.get(f"mark_{p}") or "").strip() for p in labels.LABELS["cases"]["principle"]}
    try:
        page.call("cases", "submit_score", case_id, {"marks": marks, "comment": (form.get("comment") or "").strip()
                                                     or None})
    except ValidationFailed as exc:
        errors = {f.split(".")[-1]: text for f, _, text in labels.describe_fields(exc.fields)}
        return case(page, case_id, errors=errors, status=400)
    return case(page, case_id, saved=True)


# ---- public -------------------------------------------------------------------------------------

def public_list(page, year, filed=None, errors=None, values=None, status=200):
    year = _int(year, "year", low=2000, high=2100)
    listing = page.call("cases", "public_list", year)
    page.service.double_submit(page)  # the objection form, for people without a session too
    return page.render("case_notice.html", status=status, listing=listing, filed=filed, errors=errors or {},
                       values=values or {})


def objection(page, year):
    form = page.request.form
    values = {n: (form.get(n) or "").strip() for n in ("case_id", "name", "contact", "reasons")}
    try:
        filed = page.call("cases", "file_objection", {"case_id": _int(values["case_id"], "case_id"),
                                                      "name": values["name"], "contact": values["contact"],
                                                      "reasons": values["reasons"]})
    except ValidationFailed as exc:
        errors = {f.split(".")[0]: f"{name}：{text}" for f, name, text in labels.describe_fields(exc.fields)}
        return public_list(page, year, errors=errors, values=values, status=400)
    return public_list(page, year, filed=filed)
