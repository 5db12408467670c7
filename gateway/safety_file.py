"""The enterprise safety file: one aggregate over several services, fetched concurrently.

Like the dashboard, every part is started before any is awaited, all share one time
budget, and a part whose service is down or refuses is reported, not fatal. A part
whose service offers no way to look an enterprise up is listed as ``not_exposed``
with the reason, so a reader knows the gap is structural rather than an outage.
"""
from __future__ import annotations

import time

from shared.errors import WsliError

# part -> (service, rpc) called with the credit code, or None with why it cannot be fetched
PARTS = {
    "risk": ("risk", "safety_file"),
    "registration": None,
    "training": None,
    "subsidies": None,
}
NOT_EXPOSED = {
    "registration": "registration 未提供按统一社会信用代码查询企业报名人员（主要负责人、安全生产管理人员）的接口",
    "training": "training 的证书按人员查询，需先从 registration 得到企业的报名人员",
    "subsidies": "subsidies 未提供按企业查询已预约宣讲的接口（风险服务的宣讲申请见 risk 部分的 requests）",
}


def gather(gateway, credit_code: str) -> dict:
    from .service import ServiceUnavailable, _remaining

    started = {part: (spec[0], gateway._start(spec[0], spec[1], credit_code))
               for part, spec in PARTS.items() if spec is not None}
    deadline = time.monotonic() + gateway._rpc_timeout()
    parts, missing = {}, []
    for part, (service, call) in started.items():
        try:
            parts[part] = {"status": "ok", "data": gateway._finish(service, call, _remaining(deadline))}
        except ServiceUnavailable as exc:
            parts[part] = {"status": "unavailable", "error": exc.to_dict()}
            missing.append(part)
        except WsliError as exc:
            parts[part] = {"status": "error", "error": exc.to_dict()}
    for part, spec in PARTS.items():
        if spec is None:
            parts[part] = {"status": "not_exposed", "error": {"error": "not_exposed", "message": NOT_EXPOSED[part]}}
            missing.append(part)
    return {"credit_code": credit_code, "parts": parts, "missing": missing}
