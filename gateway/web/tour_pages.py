"""The tour's pages: a lecture report's evidence, a lecturer's report with its files, a panel's paper score sheet.

No rule lives here: the pages hand what was typed and uploaded to the same RPCs as the gateway's routes
(``submit_lecture_with_evidence``, ``get_evidence_file``, ``enter_score_sheet``, ``upload_score_sheet``),
and show what the services answer, refusals included, in Chinese.
"""
from __future__ import annotations

import base64
import re
from urllib.parse import quote

from werkzeug.wrappers import Response

from gateway.routes.subsidies import IMAGE_MAX_BYTES, MULTIPART_MAX_BYTES, VIDEO_MAX_BYTES
from gateway.service import multipart_files
from services.training.domain import PART_STAGE
from shared.auth import STAFF
from shared.documents import http_content_type
from shared.errors import ValidationFailed, WsliError

from . import labels
from .pages import _int, _require

# the 附件5 form: (name, label, input type, required, hint)
LECTURE_FIELDS = [
    ("cycle", "批次代码", "text", True, ""),
    ("candidate_id", "宣讲员编号（人选编号）", "number", True, ""),
    ("lecturer_name", "宣讲员姓名", "text", True, ""),
    ("id_number", "身份证号", "text", True, "18 位居民身份证号码"),
    ("lecture_date", "宣讲日期", "date", True, ""),
    ("venue", "宣讲单位（具体公司或单位名称）", "text", True, ""),
    ("audience_count", "听众人数", "number", True, ""),
    ("head_count", "签到表人数", "number", False, "与签到表一致"),
    ("order_id", "点单编号（点单式宣讲填写）", "number", False, ""),
    ("host_candidate_id", "承办宣讲员编号（交流式宣讲填写）", "number", False, ""),
    ("bank", "开户行", "text", True, "如：中国工商银行"),
    ("branch", "支行", "text", True, "如：北京东城支行"),
    ("account_number", "银行账号", "text", True, "12–19 位数字"),
    ("contact", "联系方式", "text", True, ""),
]
INT_FIELDS = ("candidate_id", "audience_count", "head_count", "order_id", "host_candidate_id")
# the file inputs: (part, label, accept, several)
EVIDENCE_INPUTS = [
    ("signin_sheet", "签到表（照片或 PDF，1 份）", "image/jpeg,image/png,application/pdf", False),
    ("video", "宣讲全程视频（MP4，1 个）", "video/mp4", False),
    ("photos", "现场照片（JPEG/PNG，可多选）", "image/jpeg,image/png", True),
    ("banner_photos", "显示统一横幅的照片（JPEG/PNG，可多选）", "image/jpeg,image/png", True),
]
EVIDENCE_LIMITS = {"signin_sheet": IMAGE_MAX_BYTES, "video": VIDEO_MAX_BYTES, "photos": IMAGE_MAX_BYTES,
                   "banner_photos": IMAGE_MAX_BYTES}
REPORT_MAX_BYTES = MULTIPART_MAX_BYTES
PART_OF_STAGE = {stage: part for part, stage in PART_STAGE.items()}
SHEET_ROWS = 12            # empty rows offered on the sheet form
SHEET_MAX_BYTES = 4 * 1024 * 1024   # the gateway's route admits the same
SHA256 = re.compile(r"^[0-9a-f]{64}$")


# ---- a lecture report's evidence ---------------------------------------------------------------

def evidence(page, lecture_id, file_id):
    """One evidence file, shown in the page (img, video) rather than downloaded; the service fences it."""
    _require(page, "lecturer", "finance", *STAFF)
    if not SHA256.match(file_id or ""):
        raise ValidationFailed("file_id", {"file_id": ["须为文件的 SHA-256 校验值"]})
    result = page.call("subsidies", "get_evidence_file", lecture_id, file_id)
    response = Response(base64.b64decode(result["data_base64"]), status=200,
                        content_type=http_content_type(result["content_type"]))
    name = result["filename"]
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    response.headers["Content-Disposition"] = f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    # the same bytes under the same checksum: the browser may keep them for this person only
    response.headers["Cache-Control"] = "private, max-age=600"
    return page.service.respond(response, page)


# ---- a lecturer reports a lecture with its files ------------------------------------------------

def lecture_form(page, errors=None, values=None, status=200):
    _require(page, "lecturer", *STAFF)
    values = dict(values or {})
    if not values and page.role == "lecturer":
        # the lecturer's last report fills what does not change from one lecture to the next
        latest = page.call("subsidies", "list_lectures", {"per_page": 1})["items"]
        if latest:
            last = latest[0]
            values = {k: last.get(k) for k in ("cycle", "candidate_id", "lecturer_name", "bank", "branch", "contact")}
    values.setdefault("kind", "self_hosted")
    return page.render("lecture_form.html", status=status, fields=LECTURE_FIELDS, inputs=EVIDENCE_INPUTS,
                       kinds=labels.LABELS["subsidies"]["lecture_kind"], errors=errors or {}, values=values,
                       limits={"image": IMAGE_MAX_BYTES // 2**20, "video": VIDEO_MAX_BYTES // 2**20,
                               "total": REPORT_MAX_BYTES // 2**20})


def lecture_submit(page):
    _require(page, "lecturer", *STAFF)
    form = page.request.form
    values = {name: (form.get(name) or "").strip() for name, *_ in LECTURE_FIELDS}
    values["kind"] = (form.get("kind") or "").strip()
    report, errors = {}, {}
    for name, value in values.items():
        if not value or name == "head_count":
            continue
        if name in INT_FIELDS:
            try:
                report[name] = _int(value, name)
            except ValidationFailed:
                errors[name] = f"{_label(name)}：须为正整数"
        else:
            report[name] = value
    if values["head_count"]:
        try:
            report["signin_sheet"] = {"head_count": _int(values["head_count"], "head_count")}
        except ValidationFailed:
            errors["head_count"] = f"{_label('head_count')}：须为正整数"
    if errors:
        return lecture_form(page, errors, values, 400)
    try:
        files = multipart_files(page.request, EVIDENCE_LIMITS)
        created = page.call("subsidies", "submit_lecture_with_evidence", {"report": report, "files": files})
    except WsliError as exc:
        if not exc.fields or exc.http_status >= 500:
            raise
        return lecture_form(page, _field_errors(exc), values, exc.http_status)
    return page.redirect(f"/lectures/{created['id']}?submitted=1")


def _label(name: str) -> str:
    for field, text, *_ in LECTURE_FIELDS:
        if field == name:
            return text
    for part, text, *_ in EVIDENCE_INPUTS:
        if part == name:
            return text
    return labels.field_label(name)


# the refusals a person meets on this form, in Chinese (by rule, or by error code)
REFUSALS = {
    "evidence_type": "文件类型不被接受，须为 JPEG、PNG 照片，PDF 签到表或 MP4 视频",
    "too_large": f"文件过大：照片或签到表每个不超过 {IMAGE_MAX_BYTES // 2**20} MiB，视频不超过 {VIDEO_MAX_BYTES // 2**20} MiB",
    "duplicate_lecture": "该宣讲员在同一日期、同一地点已提交过报告，请修改原报告",
}


def _field_errors(exc) -> dict:
    """A refusal's fields on the form's inputs: ``photos.2`` on the photos, ``signin_sheet.head_count``
    on the head count, a check's rule (``evidence_type``) on the file it names."""
    errors = {}
    for field, _, text in labels.describe_fields(exc.fields):
        head = field.split(".")[0]
        name = "head_count" if field == "signin_sheet.head_count" else head
        if name not in dict((f[0], f) for f in LECTURE_FIELDS) and name not in EVIDENCE_LIMITS and name != "kind":
            name = "_form"
        text = REFUSALS.get(getattr(exc, "rule", None) or exc.code, text)
        message = f"{_label(head) if name != '_form' else field}：{text}"
        errors[name] = f"{errors[name]}；{message}" if name in errors else message
    return errors


# ---- staff enter a panel's paper score sheet ------------------------------------------------------

def score_sheet(page, result=None, refused=None, rows=None, status=200):
    _require(page, *STAFF)
    args = page.request.values
    cycle = (args.get("cycle") or "").strip()
    stage = args.get("stage") or "key"
    if stage not in PART_OF_STAGE:
        raise ValidationFailed("stage", {"stage": ["须为重点培养或强化培养阶段"]})
    cycles = page.call("registration", "list_cycles")
    groups = page.call("training", "list_groups", cycle, stage) if cycle else None
    group_id = _int(args.get("group_id"), "group_id")
    group = next((g for g in groups or [] if g["id"] == group_id), None)
    rows = rows or [{} for _ in range(SHEET_ROWS)]
    return page.render("score_sheet.html", status=status, cycles=cycles, cycle=cycle, stage=stage, groups=groups,
                       group=group, group_id=group_id, rows=rows, result=result, refused=refused or {},
                       reference=(args.get("reference") or "").strip())


def score_sheet_submit(page):
    """A file if one was chosen, else the rows typed in; the answer (or the refusal) row by row."""
    _require(page, *STAFF)
    form = page.request.form
    group_id = _int(form.get("group_id"), "group_id")
    if group_id is None:
        raise ValidationFailed("group_id", {"group_id": ["请选择小组"]})
    stage = form.get("stage") or "key"
    part = PART_OF_STAGE.get(stage)
    if part is None:
        raise ValidationFailed("stage", {"stage": ["须为重点培养或强化培养阶段"]})
    reference = (form.get("reference") or "").strip() or None
    upload = page.request.files.get("sheet")
    typed = [{"expert": (form.get(f"expert_{n}") or "").strip(), "candidate_id": (form.get(f"candidate_{n}") or "").strip(),
              "score": (form.get(f"score_{n}") or "").strip(), "comment": (form.get(f"comment_{n}") or "").strip()}
             for n in range(_int(form.get("row_count"), "row_count", SHEET_ROWS, high=500))]
    try:
        if upload is not None and upload.filename:
            raw = upload.read(SHEET_MAX_BYTES + 1)
            if len(raw) > SHEET_MAX_BYTES:
                raise ValidationFailed("sheet too large", {"sheet": [f"不能超过 {SHEET_MAX_BYTES // 2**20} MiB"]})
            query = {"part": part, **({"reference": reference} if reference else {})}
            result = page.call("training", "upload_score_sheet", group_id, {
                "filename": upload.filename, "content_type": upload.mimetype or "",
                "data_base64": base64.b64encode(raw).decode("ascii"), "query": query})
            typed, kept = None, []
        else:
            # the typed rows, in order, without the empty ones; each keeps its number on the form
            kept = [(n, row) for n, row in enumerate(typed) if any(row.values())]
            if not kept:
                raise ValidationFailed("no rows", {"rows": ["请填写至少一行，或选择评分表文件"]})
            sent = []
            for _, row in kept:
                item = {k: v for k, v in row.items() if v}
                if str(item.get("candidate_id", "")).isdigit():
                    item["candidate_id"] = int(item["candidate_id"])
                sent.append(item)
            result = page.call("training", "enter_score_sheet", group_id,
                               {"part": part, "reference": reference, "rows": sent})
    except WsliError as exc:
        if not exc.fields or exc.http_status >= 500:
            raise
        kept = [(n, row) for n, row in enumerate(typed or []) if any(row.values())]
        return score_sheet(page, refused=_sheet_refusal(exc, kept), rows=typed, status=exc.http_status)
    # the service numbers the rows it was sent (rows.N, the N-th kept row) or a file's (row N)
    for out in result["results"]:
        out["row"] = _form_row(out["row"], kept)
    return score_sheet(page, result=result)   # saved: a fresh sheet below the result


def _form_row(label: str, kept) -> str:
    """``rows.N`` (the N-th row sent) as the form's row number; a file's ``row N`` as it is."""
    match = re.match(r"^rows\.(\d+)$", label)
    if match and int(match.group(1)) < len(kept):
        return f"第 {kept[int(match.group(1))][0] + 1} 行"
    match = re.match(r"^row (\d+)$", label)
    return f"文件第 {match.group(1)} 行" if match else label


def _sheet_refusal(exc, kept) -> dict:
    """{row label: [Chinese messages]} from a refusal naming ``rows.N.field`` or ``row N.field``."""
    out: dict[str, list[str]] = {}
    for field, _, text in labels.describe_fields(exc.fields):
        match = re.match(r"^(rows\.\d+|row \d+)\.(\w+)$", field)
        if match:
            row, name = _form_row(match.group(1), kept), labels.field_label(match.group(2))
        else:
            row, name = "整张评分表", labels.field_label(field)
        out.setdefault(row, []).append(f"{name}：{_sheet_message(text)}")
    return out


def _sheet_message(text: str) -> str:
    """The expert rules' refusals in Chinese; anything else as the service said it."""
    if "not on the panel of group" in text:
        return "不是本组的评审专家"
    if "not a member of group" in text:
        return "不是本组学员"
    if "scored twice by" in text:
        return "同一专家在本表中对该学员重复评分"
    return {"not a number": "须为数字", "must be between 0 and 100 (score_range)": "须在 0 到 100 之间",
            "at most 2 decimal places": "最多两位小数"}.get(text, text)
