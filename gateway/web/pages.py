"""The page handlers: read the form, call the services as the logged-in user, render a template.

No rule lives here. A handler decides only what to offer (links, buttons) by role;
the services refuse what the role may not do, and their refusal becomes a page.
"""
from __future__ import annotations

import base64

from shared.auth import STAFF
from shared.errors import Forbidden, NotFound, ValidationFailed, WsliError

from . import labels

PHOTO_TYPES = {"image/jpeg", "image/png"}
# the 附件1 fields, in the form's order: (name, label, kind, required, hint)
CANDIDATE_FIELDS = [
    ("name", "姓名", "text", True, ""),
    ("id_number", "身份证号", "text", True, "18 位居民身份证号码"),
    ("phone", "手机号", "tel", True, ""),
    ("email", "电子邮箱", "email", True, ""),
    ("education", "学历", "text", True, "如：本科"),
    ("title", "职称", "text", False, ""),
    ("school_major", "毕业院校及专业", "text", True, ""),
    ("employer_position", "工作单位及职务", "text", True, ""),
    ("deeds", "主要事迹（或参加宣讲活动情况）", "textarea", True, ""),
    ("recommendation_reason", "推荐理由", "textarea", True, ""),
    ("remarks", "备注", "textarea", False, ""),
]


def _int(value, field: str, default=None, low=1, high=2**53):
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field} is not a number", {field: ["须为整数"]}) from None
    if not low <= number <= high:
        raise ValidationFailed(f"{field} out of range", {field: [f"须在 {low} 到 {high} 之间"]})
    return number


def _query(request, *names) -> dict:
    return {n: request.args[n].strip() for n in names if (request.args.get(n) or "").strip()}


def _require(page, *roles):
    """Which pages a role is offered. The services enforce the same and more."""
    if page.role not in roles:
        raise Forbidden("此页面不属于您的角色")


# ---- public -------------------------------------------------------------------------------------

def verify(page, number):
    result = None
    if number:
        if len(number) > 80:
            raise ValidationFailed("number too long", {"number": ["证书编号过长"]})
        result = page.call("training", "verify_certificate", number)
    return page.render("verify.html", number=number or "", result=result)


# ---- everyone logged in --------------------------------------------------------------------------

def console(page):
    context = {"cycles": [], "counts": {}}
    if page.role in STAFF + ("regulator", "integrator", "unit"):
        cycles = page.call("registration", "list_cycles")
        context["cycles"] = cycles[:5]
        statuses = list(labels.LABELS["registration"]["candidate_status"])
        for cycle in context["cycles"]:
            # one small call per status: totals only (per_page=1)
            context["counts"][cycle["code"]] = {
                s: page.call("registration", "list_candidates", {"cycle": cycle["code"], "status": s,
                                                                 "per_page": 1})["total"]
                for s in statuses}
    return page.render("console.html", **context)


# ---- candidates (附件1) ---------------------------------------------------------------------------

def candidates(page):
    _require(page, "unit", "regulator", "integrator", *STAFF)
    query = _query(page.request, "cycle", "status", "q")
    query["page"] = _int(page.request.args.get("page"), "page", 1)
    query["per_page"] = 20
    result = page.call("registration", "list_candidates", query)
    cycles = page.call("registration", "list_cycles")
    return page.render("candidates.html", result=result, query=query, cycles=cycles,
                       statuses=labels.LABELS["registration"]["candidate_status"])


def bulk_center_approve(page):
    _require(page, *STAFF)
    ids = page.request.form.getlist("candidate_id")
    signed_by = (page.request.form.get("signed_by") or "").strip()
    if not ids:
        raise ValidationFailed("choose candidates", {"candidate_id": ["请至少勾选一名人选"]})
    if not signed_by:
        raise ValidationFailed("signed_by", {"signed_by": ["必填"]})
    done, failed = [], []
    for raw in ids[:200]:
        candidate_id = _int(raw, "candidate_id")
        try:
            page.call("registration", "center_approve", candidate_id,
                      {"signed_by": signed_by, "opinion": page.request.form.get("opinion") or ""})
            done.append(candidate_id)
        except WsliError as exc:  # one refusal does not stop the others; each is reported
            failed.append((candidate_id, exc.message))
    return page.render("bulk_result.html", done=done, failed=failed)


def candidate_form(page, errors=None, values=None, status=200):
    _require(page, "unit", *STAFF)
    cycles = page.call("registration", "list_cycles")
    return page.render("candidate_form.html", status=status, fields=CANDIDATE_FIELDS, cycles=cycles,
                       errors=errors or {}, values=values or {})


def candidate_create(page):
    _require(page, "unit", *STAFF)
    form = page.request.form
    values = {name: (form.get(name) or "").strip() for name, *_ in CANDIDATE_FIELDS}
    values["cycle"] = (form.get("cycle") or "").strip()
    payload = {k: v for k, v in values.items() if v}
    if page.is_staff:
        payload["unit_id"] = _int(form.get("unit_id"), "unit_id")
    upload = page.request.files.get("photo")
    if upload is not None and upload.filename:
        raw = upload.read(2 * 1024 * 1024 + 1)
        if upload.mimetype not in PHOTO_TYPES:
            return candidate_form(page, {"photo": "照片须为 JPEG 或 PNG 格式"}, values, 400)
        if len(raw) > 2 * 1024 * 1024:
            return candidate_form(page, {"photo": "照片不能超过 2 MiB"}, values, 400)
        payload["photo"] = {"data_base64": base64.b64encode(raw).decode("ascii")}
    try:
        created = page.call("registration", "register_candidate", payload)
    except ValidationFailed as exc:
        errors = {field.split(".")[0]: f"{name}：{text}" for field, name, text in labels.describe_fields(exc.fields)}
        return candidate_form(page, errors, values, 400)
    return page.redirect(f"/candidates/{created['id']}?created=1")


def candidate(page, candidate_id):
    _require(page, "unit", "regulator", "integrator", *STAFF)
    found = page.call("registration", "get_candidate", candidate_id)
    return page.render("candidate.html", c=found, created=page.request.args.get("created") == "1")


def candidate_action(page, candidate_id, action):
    _require(page, "unit", *STAFF)
    form = page.request.form
    signed_by = (form.get("signed_by") or "").strip()
    if action == "identity":
        # the unmasked ID number: the service decides who may (the center's staff) and audits the read
        identity = page.call("registration", "reveal_identity", candidate_id)
        found = page.call("registration", "get_candidate", candidate_id)
        return page.render("candidate.html", c=found, created=False, identity=identity)
    if action == "seal":
        page.call("registration", "unit_approve", candidate_id, {"signed_by": signed_by,
                                                                  "opinion": form.get("opinion") or ""})
    elif action == "approve":
        page.call("registration", "center_approve", candidate_id, {"signed_by": signed_by,
                                                                    "opinion": form.get("opinion") or ""})
    else:
        page.call("registration", "reject_candidate", candidate_id, {"signed_by": signed_by,
                                                                      "reason": (form.get("reason") or "").strip()})
    return page.redirect(f"/candidates/{candidate_id}")


# ---- the center's reports -----------------------------------------------------------------------

def quota(page):
    _require(page, "regulator", "integrator", *STAFF)
    cycles = page.call("registration", "list_cycles")
    code = page.request.args.get("cycle") or (cycles[0]["code"] if cycles else None)
    report = page.call("registration", "quota_report", code) if code else None
    return page.render("quota.html", cycles=cycles, cycle=code, report=report)


def rankings(page):
    _require(page, "regulator", "integrator", *STAFF)
    cycles = page.call("registration", "list_cycles")
    code = page.request.args.get("cycle") or (cycles[0]["code"] if cycles else None)
    scheme = ranking = None
    if code:
        try:
            scheme = page.call("scoring", "get_scheme", code)
        except NotFound:
            scheme = None  # no scheme loaded yet: the page says so
    stages = [(s["name"], s["label"]) for s in scheme["stages"]] if scheme else []
    stage = page.request.args.get("stage") or (stages[0][0] if stages else None)
    if scheme and stage:
        ranking = page.call("scoring", "get_ranking", code, stage)
    return page.render("rankings.html", cycles=cycles, cycle=code, stage=stage, stages=stages, scheme=scheme,
                       ranking=ranking, request_closed=page.request.args.get("closed") == "1")


def close_stage(page, cycle, stage):
    """Closing a stage decides who advances and tells the other services: the page asks first."""
    _require(page, *STAFF)
    if page.request.form.get("confirm") != "yes":
        ranking = page.call("scoring", "get_ranking", cycle, stage)
        return page.render("close_stage.html", ranking=ranking, cycle=cycle, stage=stage)
    page.call("scoring", "close_stage", cycle, stage, {})
    return page.redirect(f"/rankings?cycle={cycle}&stage={stage}&closed=1")


def explanation(page, cycle, candidate_id):
    _require(page, "lecturer", "regulator", "integrator", *STAFF)
    found = page.call("scoring", "explain", cycle, candidate_id)
    return page.render("explanation.html", e=found)


# ---- lecture reports (附件5) ----------------------------------------------------------------------

def lectures(page):
    _require(page, "lecturer", "finance", "integrator", *STAFF)
    query = _query(page.request, "cycle", "status")
    query["page"] = _int(page.request.args.get("page"), "page", 1)
    result = page.call("subsidies", "list_lectures", query)
    return page.render("lectures.html", result=result, query=query,
                       statuses=labels.LABELS["subsidies"]["lecture_status"])


def lecture(page, lecture_id):
    _require(page, "lecturer", "finance", "integrator", *STAFF)
    found = page.call("subsidies", "get_lecture", lecture_id)
    return page.render("lecture.html", lecture=found, submitted=page.request.args.get("submitted") == "1")


def lecture_action(page, lecture_id, action):
    _require(page, *STAFF)
    form = page.request.form
    signed_by = (form.get("signed_by") or "").strip()
    if action == "approve":
        page.call("subsidies", "approve_lecture", lecture_id, {"signed_by": signed_by})
    else:
        reasons = [r.strip() for r in (form.get("reasons") or "").splitlines() if r.strip()]
        page.call("subsidies", "reject_lecture", lecture_id, {"signed_by": signed_by, "reasons": reasons})
    return page.redirect(f"/lectures/{lecture_id}")


# ---- experts --------------------------------------------------------------------------------------

def groups(page):
    _require(page, "expert", *STAFF)
    cycles = page.call("registration", "list_cycles") if page.is_staff else []
    code = page.request.args.get("cycle") or ""
    stage = page.request.args.get("stage") or "key"
    found = page.call("training", "list_groups", code, stage) if code else None
    return page.render("groups.html", cycles=cycles, cycle=code, stage=stage, groups=found,
                       saved=page.request.args.get("saved"))


def score(page):
    _require(page, "expert")
    form = page.request.form
    payload = {"candidate_id": _int(form.get("candidate_id"), "candidate_id"), "part": form.get("part") or "",
               "score": (form.get("score") or "").strip(), "comment": form.get("comment") or None}
    page.call("training", "score_by_expert", payload)
    back = f"/groups?cycle={form.get('cycle') or ''}&stage={form.get('stage') or 'key'}&saved={payload['candidate_id']}"
    return page.redirect(back)


# ---- lecturers ------------------------------------------------------------------------------------

def me(page):
    _require(page, "lecturer")
    result = page.call("subsidies", "list_lectures", {"per_page": 50})
    explained = None
    if result["items"]:
        first = result["items"][0]
        try:
            explained = page.call("scoring", "explain", first["cycle"], first["candidate_id"])
        except NotFound:
            explained = None  # no score sheet yet: the lectures still show
    return page.render("me.html", result=result, e=explained)


# ---- finance --------------------------------------------------------------------------------------

def payments(page):
    _require(page, "finance", *STAFF)
    batch_id = _int(page.request.args.get("batch"), "batch")
    batch = page.call("subsidies", "get_batch", batch_id) if batch_id else None
    return page.render("payments.html", batch=batch, batch_id=batch_id or "")


def bank_results(page, batch_id):
    """The bank's result CSV, uploaded as a file and handed to the same RPC as the gateway's route."""
    _require(page, "finance", *STAFF)
    upload = page.request.files.get("results")
    if upload is None or not upload.filename:
        raise ValidationFailed("choose the file", {"file": ["请选择银行回盘文件（CSV）"]})
    raw = upload.read(5 * 1024 * 1024 + 1)
    imported = page.call("subsidies", "import_results", batch_id, {
        "filename": upload.filename, "content_type": upload.mimetype or "text/csv",
        "data_base64": base64.b64encode(raw).decode("ascii"), "query": {}})
    return page.render("payments.html", batch=imported["batch"], batch_id=imported["batch"]["id"], imported=imported)


def bank_file(page, batch_id):
    from .service import file_response

    _require(page, "finance", *STAFF)
    fmt = page.request.args.get("format") or "xlsx"
    result = page.call("subsidies", "export_batch", batch_id, {"format": fmt})
    return page.service.respond(file_response(result), page)


# ---- operations -----------------------------------------------------------------------------------

def dlq(page):
    """Parked event messages, read-only (``wsli dlq replay|discard`` acts on them)."""
    from shared import dlq as parked

    _require(page, *STAFF)  # not a service's RPC: the broker is read directly, as by ``wsli dlq list``
    messages = parked.list_parked(page.service.config["AMQP_URI"], limit=200)
    return page.render("dlq.html", messages=messages)

