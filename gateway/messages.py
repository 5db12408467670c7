"""The language of an error's ``message``: zh-CN unless the client asks for English.

Services raise with a message in one language (most in English, a domain's rules
often in Chinese); the gateway turns it into the language the client's
``Accept-Language`` prefers. The codes (``error``, ``rule``, the ``fields`` keys)
never change: programs match on them. Known messages are translated from the table;
any other gets the Chinese title of its code, the Chinese names of its fields and
the service's own words, so nothing the service said is lost.
"""
from __future__ import annotations

import re

ZH, EN = "zh-CN", "en"

TITLES = {
    ZH: {"validation_failed": "输入有误", "unauthenticated": "请先登录", "forbidden": "无权进行此操作",
         "not_found": "未找到", "conflict": "与现有记录冲突", "rule_violation": "不符合业务规则",
         "service_unavailable": "服务暂时不可用", "too_large": "内容过大", "too_many_requests": "请求过于频繁",
         "method_not_allowed": "请求方法不被允许", "internal": "系统内部错误"},
    EN: {"validation_failed": "Invalid input", "unauthenticated": "Authentication required",
         "forbidden": "Not allowed", "not_found": "Not found", "conflict": "Conflicts with an existing record",
         "rule_violation": "Refused by a rule", "service_unavailable": "Service unavailable",
         "too_large": "Too large", "too_many_requests": "Too many requests",
         "method_not_allowed": "Method not allowed", "internal": "Internal error"},
}

# English message (the whole of it) -> Chinese; groups carry the specifics over.
TO_ZH: list[tuple[re.Pattern, str]] = [(re.compile(p), t) for p, t in [
    (r"^a bearer token is required$", "需要登录令牌（Authorization: Bearer …）"),
    (r"^this token expired; ask for a new one$", "令牌已过期，请重新申请"),
    (r"^use 'Authorization: Bearer <token>'$", "请使用 Authorization: Bearer <令牌>"),
    (r"^unknown or revoked token$", "令牌无效或已吊销"),
    (r"^role '([^']+)' may not do this \(needs one of: (.+)\)$", r"角色 \1 无权进行此操作（需要：\2）"),
    (r"^a principal of agency '([^']+)' has no access to this agency's records$",
     r"\1 的凭证无权访问本机构的记录"),
    (r"^this deployment serves another agency$", "本平台服务于其他机构"),
    (r"^no route (.+)$", r"没有这个接口：\1"),
    (r"^use (.+)$", r"请使用 \1 方法"),
    (r"^body exceeds (\d+) bytes$", r"请求内容超过 \1 字节"),
    (r"^file exceeds (\d+) bytes$", r"文件超过 \1 字节"),
    (r"^file too large$", "文件过大"),
    (r"^empty file$", "文件为空"),
    (r"^unreadable file$", "无法读取文件"),
    (r"^unreadable XLSX$", "无法读取 XLSX 文件"),
    (r"^too many rows$", "行数过多"),
    (r"^invalid input: (.+)$", r"输入有误：\1"),
    (r"^the body is not JSON$", "请求内容不是 JSON"),
    (r"^year out of range$", "年份超出范围"),
    (r"^year must be a number$", "年份须为数字"),
    (r"^ids are positive integers$", "编号须为正整数"),
    (r"^([a-z_ ]+) (\S+) not found$", r"未找到 \1 \2"),
    (r"^(\S+) did not answer in time$", r"\1 服务未能及时响应"),
    (r"^(\S+) is not running$", r"\1 服务未运行"),
    (r"^(\S+) cannot reach its database$", r"\1 服务无法连接数据库"),
    (r"^the message broker is unavailable$", "消息中间件不可用"),
    (r"^the gateway's database is unavailable$", "网关数据库不可用"),
    (r"^internal error, incident (\w+)$", r"系统内部错误，事件编号 \1"),
    (r"^rate limit exceeded.*$", "请求过于频繁，请稍后再试"),
]]

CJK = re.compile(r"[\u3400-\u9fff]")


def language(accept_language: str | None) -> str:
    """English only when the client prefers it to Chinese; zh-CN otherwise (and by default)."""
    best_en = best_zh = -1.0
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        match = re.search(r"q=([^;]*)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        q -= n * 1e-6  # the earlier of equal weights wins
        if tag.startswith("en"):
            best_en = max(best_en, q)
        elif tag.startswith("zh") or tag == "*":
            best_zh = max(best_zh, q)
    return EN if best_en > 0 and best_en > best_zh else ZH


def localise(body: dict, lang: str) -> dict:
    """The error body with its ``message`` in ``lang``; everything else as it was."""
    message = str(body.get("message") or "")
    code = str(body.get("error") or "")
    out = dict(body)
    if lang == EN:
        if CJK.search(message):
            out["message"] = _compose(EN, code, body, None)
        return out
    if CJK.search(message):
        return out
    for pattern, template in TO_ZH:
        if pattern.match(message):
            out["message"] = pattern.sub(template, message)
            return out
    out["message"] = _compose(ZH, code, body, message)
    return out


def _compose(lang: str, code: str, body: dict, original: str | None) -> str:
    title = TITLES[lang].get(code, TITLES[lang]["internal"] if code == "internal" else code or "error")
    if body.get("rule"):
        title += f"（规则 {body['rule']}）" if lang == ZH else f" (rule {body['rule']})"
    parts = []
    fields = body.get("fields") or {}
    if fields:
        if lang == ZH:
            from gateway.web.labels import describe_fields
            parts.append("；".join(f"{name}：{text}" for _, name, text in describe_fields(fields)))
        else:
            parts.append("fields: " + ", ".join(sorted(str(k) for k in fields)))
    if original and not fields:
        parts.append(original)
    if not parts:
        return title
    return f"{title}：{'；'.join(parts)}" if lang == ZH else f"{title}: {'; '.join(parts)}"
