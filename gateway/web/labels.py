"""zh-CN labels for the enum codes the services return, one table per service.

The codes stay as they are in the API (programs match on them); people read these
labels. Served as ``GET /api/v1/labels`` by the web component and used by every
template through ``label(table, code)``. Tables whose services already carry a
Chinese name for a code (unit kinds, lecture kinds, scenarios) are read from there
so the two cannot drift apart.
"""
from __future__ import annotations

from services.cases import domain as cases
from services.registration import domain as registration
from services.risk import domain as risk
from services.subsidies import domain as subsidies
from services.training import domain as training
from shared import validators

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "registration": {
        "candidate_status": {
            "submitted": "待单位盖章", "unit_approved": "单位已盖章，待中心审核", "approved": "中心已审核通过",
            "rejected": "已退回", "withdrawn": "已撤回",
        },
        "unit_kind": dict(registration.UNIT_KINDS),
        "gender": {"male": "男", "female": "女"},
        "rejected_stage": {"unit": "推荐单位退回", "center": "运营中心退回"},
        "enrolment_role": dict(registration.ENROLMENT_ROLES),
        "enrolment_status": {"enrolled": "已报名", "cancelled": "已取消"},
    },
    "training": {
        "stage": {"basic": "基础培训", "key": "重点培训", "intensive": "强化培训"},
        "trainee_status": {"active": "在训", "withdrawn": "已退出", "not_advanced": "未晋级"},
        "scenario": dict(training.SCENARIOS),
        "certificate_status": {"valid": "有效", "revoked": "已撤销", "unknown": "查无此证", "foreign": "外地机构颁发"},
        "question_kind": {"single": "单选题", "multiple": "多选题", "true_false": "判断题"},
    },
    "scoring": {
        "part": {"basic_test": "基础培训考试", "key_theory": "重点培训理论考试", "key_expert": "重点培训专家评分",
                 "intensive_review": "强化培训专家评审", "lectures": "宣讲场次加分"},
        "decision": {"advanced": "晋级", "not_advanced": "未晋级", "qualified": "合格", "unqualified": "不合格"},
        "stage_state": {"open": "进行中", "closed": "已关闭"},
    },
    "subsidies": {
        "lecture_status": {
            "received": "已提交，自动核验中", "checks_failed": "自动核验未通过", "awaiting_review": "待人工审核",
            "approved": "已通过", "rejected": "已退回",
        },
        "lecture_kind": dict(subsidies.KINDS),
        "order_status": {"ordered": "已点单", "accepted": "已承接", "scheduled": "已排期", "held": "已举办",
                         "cancelled": "已取消"},
        "subsidy_status": {"unpaid": "未拨付", "in_batch": "拨付中", "paid": "已拨付", "revoked": "已撤销"},
        "batch_status": {"open": "待导出", "exported": "已导出", "settled": "已结算"},
        "item_status": {"pending": "待银行处理", "paid": "已到账", "failed": "失败"},
        "check_outcome": {"passed": "通过", "failed": "未通过", "not_applicable": "不适用"},
        "check_rule": {
            "lecturer_not_in_tour": "宣讲员未进入本期巡讲（强化阶段）",
            "lecturer_id_mismatch": "身份证号与宣讲员报名信息不一致",
            "outside_tour_window": "宣讲日期不在本期巡讲时间段内",
            "order_mismatch": "点单式宣讲须有本人承接并已排期的点单",
            "exchange_host": "交流式宣讲须在其他巡讲宣讲员所在单位举办",
            "audience_mismatch": "听众人数与签到表人数不一致",
            "evidence_incomplete": "签到表照片、完整视频、不少于4张现场照片和横幅须齐全",
            "evidence_late": "佐证材料须在宣讲后3个工作日内提交",
            "calendar_range": "官方节假日安排未覆盖相关日期",
        },
    },
    "cases": {
        "case_status": dict(cases.STATUS_LABELS),
        "channel": dict(cases.CHANNELS),
        "level": dict(cases.LEVELS),
        "principle": dict(cases.PRINCIPLES),
        "finding_kind": {"hard": "硬性要求", "warning": "提示"},
        "finding_outcome": {"pass": "通过", "fail": "不通过", "unknown": "无法判断"},
    },
    "risk": {
        "hazard_level": dict(risk.HAZARD_LEVELS),
        "hazard_status": {"found": "待整改", "rectifying": "整改中", "awaiting_reinspection": "待复查",
                          "closed": "已销号", "reopened": "复查未通过"},
        "service_kind": dict(risk.SERVICE_KINDS),
    },
    "gateway": {
        "agency": {"beijing": "北京市", "national": "全国", "tianjin": "天津市", "foshan": "佛山市"},
        "role": {
            "admin": "系统管理员", "operator": "运营中心", "unit": "推荐单位", "expert": "专家", "lecturer": "宣讲员",
            "enterprise": "企业", "insurer": "保险机构", "organisation": "申报单位", "service_org": "安全技术服务机构", "regulator": "区级监管部门", "integrator": "系统对接",
            "finance": "财务", "public": "公众",
        },
    },
}

# The services' input fields, for error messages that name the field in Chinese.
FIELDS = {
    "cycle": "批次", "name": "姓名", "email": "电子邮箱", "phone": "手机号", "education": "学历",
    "id_number": "身份证号", "title": "职称", "school_major": "毕业院校及专业", "employer_position": "工作单位及职务",
    "deeds": "主要事迹", "recommendation_reason": "推荐理由", "remarks": "备注", "speech_draft": "宣讲稿",
    "photo": "照片", "photo.data_base64": "照片", "birth_month": "出生年月", "gender": "性别", "unit_id": "推荐单位",
    "signed_by": "签章人", "opinion": "意见", "reason": "理由", "status": "状态", "score": "分数",
    "candidate_id": "人选编号", "group_id": "小组", "part": "评分项", "username": "用户名", "password": "密码",
    "role": "角色", "district": "区", "person": "人员", "page": "页码", "stage": "阶段", "comment": "评语",
    "campaign": "征集年度", "category": "案例类别", "period_start": "实施起始年月", "period_end": "实施截止年月",
    "summary": "案例简介", "creators": "主要创造人", "participants": "参与创造人", "files": "案例材料",
    "case_id": "案例", "contact": "联系方式", "reasons": "异议理由", "note": "整改说明", "photos": "照片",
    "_db": "数据库", "_body": "请求内容", "_schema": "表单",
    "expert": "专家", "rows": "评分行", "sheet": "评分表文件", "file": "文件", "file_id": "文件",
    "lecture_date": "宣讲日期", "venue": "宣讲单位", "audience_count": "听众人数", "kind": "宣讲形式",
    "lecturer_name": "宣讲员姓名", "bank": "开户行", "branch": "支行", "account_number": "银行账号",
    "order_id": "点单编号", "host_candidate_id": "承办宣讲员编号", "head_count": "签到表人数",
    "signin_sheet": "签到表", "video": "视频", "banner_photos": "横幅照片", "report": "宣讲报告",
}

# marshmallow's and our own most frequent English field messages
MESSAGES = {
    "Missing data for required field.": "必填",
    "Field may not be null.": "不能为空",
    "Not a valid email address.": "不是有效的电子邮箱",
    "Not a valid integer.": "须为整数",
    "Not a valid number.": "须为数字",
    "Not a valid string.": "须为文字",
    "Not a valid date.": "不是有效的日期",
    "Unknown field.": "未知字段",
    "Shorter than minimum length 1.": "不能为空",
    # shared/validators.py
    validators.RESIDENT_ID_LENGTH: "须为 18 位",
    validators.RESIDENT_ID_LEGACY: "不接受 15 位旧身份证号，请填写 18 位号码",
    validators.RESIDENT_ID_CHECKSUM: "校验码不正确（GB 11643），请核对",
    validators.RESIDENT_ID_BIRTH_DATE: "出生日期不是有效日期",
    validators.RESIDENT_ID_REGION: "地区码不是有效的行政区划代码",
    validators.RESIDENT_ID_FORMAT: "格式不正确",
    validators.USCC_CHECKSUM: "校验码不正确（GB 32100），请核对",
    validators.MOBILE_INVALID: "须为 13–19 开头的 11 位手机号",
    validators.EMAIL_TOO_LONG: f"不能超过 {validators.EMAIL_MAX_LENGTH} 个字符",
    validators.EMAIL_SPACES: "不能含空格",
    validators.EMAIL_ONE_AT: "须含且仅含一个 @",
    validators.EMAIL_INVALID: "不是有效的电子邮箱",
    validators.EMAIL_DOMAIN_DOT: "域名须含“.”",
}

ERROR_TITLES = {
    "validation_failed": "输入有误", "unauthenticated": "请先登录", "forbidden": "无权进行此操作",
    "not_found": "未找到", "conflict": "与现有记录冲突", "rule_violation": "不符合业务规则",
    "service_unavailable": "服务暂时不可用", "too_large": "文件过大",
}


def label(table: str, code) -> str:
    """The Chinese label of ``code`` in ``table`` (``service.table`` or a bare table name); the code itself when none."""
    if code is None:
        return "—"
    if "." in table:
        service, name = table.split(".", 1)
        return LABELS.get(service, {}).get(name, {}).get(str(code), str(code))
    for tables in LABELS.values():
        if table in tables:
            return tables[table].get(str(code), str(code))
    return str(code)


def table(name: str) -> dict[str, str]:
    """A whole ``service.table`` (for a select's options)."""
    service, inner = name.split(".", 1)
    return LABELS.get(service, {}).get(inner, {})


def field_label(name: str) -> str:
    return FIELDS.get(name, FIELDS.get(name.split(".")[-1], name))


def field_message(text: str) -> str:
    if text in MESSAGES:
        return MESSAGES[text]
    if text.startswith("Longer than maximum length"):
        return "超过最大长度 " + text.rsplit(" ", 1)[-1].rstrip(".")
    return text


def describe_fields(fields: dict) -> list[tuple[str, str, str]]:
    """(field, Chinese field name, Chinese messages) for an error's ``fields``, nested ones flattened."""
    out = []

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, (list, tuple)):
            texts = [field_message(str(v)) for v in value if not isinstance(v, (dict, list))]
            for v in value:
                if isinstance(v, (dict, list)):
                    walk(prefix, v)
            if texts:
                out.append((prefix, field_label(prefix), "；".join(texts)))
        else:
            out.append((prefix, field_label(prefix), field_message(str(value))))

    walk("", fields or {})
    return out


def labelled_enums() -> list[str]:
    return [f"{service}.{name}" for service, tables in LABELS.items() for name in tables]
