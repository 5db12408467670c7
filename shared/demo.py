"""A small, realistic data set loaded through the gateway of a running stack, narrated as it goes.

    make up && make demo          (runs `wsli demo`)
    wsli demo [--url http://HOST:PORT] [--token <admin token>] [--no-accounts]
    wsli demo --programme         (the whole 180-candidate 2022 programme: shared/programme.py)

The gateway is --url, else the configured one (gateway/config.yml: WEB_SERVER_ADDRESS, which
GATEWAY_ADDRESS overrides).

Everything goes through the HTTP API, as a unit, the operation center, an expert, an
organisation or a district regulator would use it: cycles, the five kinds of nominating unit,
eight candidates and their seals, the rules that refuse bad forms, the 2018 district training
quotas and a few enrolments, then the reports; then every other service far enough that each
console page has something to show: two candidates through the basic and key stages into the
tour (an expert's intensive group left to score), lecture reports with evidence (one approved
and in a payment batch, one failing its check), a case on public notice and one in review, a
safety class with certificates, insured enterprises with an inspection's general and major
hazards and a 全安码. Then one console account per role, bound to those parties, printed at the
end with the page that shows its data, and the public URLs.

It can run again on the same stack: what an earlier run created is found and reported
as already there. It exits non-zero only when a call returns a status it did not expect.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from stdnum.cn import ric, uscc

_serial = itertools.count(100)


def resident_id(region: str = "110101", birth: str = "19900307", gender: str = "male") -> str:
    """A valid GB 11643 number (check digit computed); the same calls in order give the same numbers."""
    n = next(_serial)
    seq = f"{(2 * n + (1 if gender == 'male' else 0)) % 1000:03d}"
    first17 = region + birth[:6] + f"{int(birth[6:]):02d}" + seq
    return first17 + ric.calc_check_digit(first17 + "0")


def credit_code(seed: int) -> str:
    first17 = f"91110000{seed:09d}"[:17]
    return first17 + uscc.calc_check_digit(first17)


REQUEST_TIMEOUT_S = 30
POLL_S, WAIT_S = 0.5, 120   # waiting for events to travel between services
MAX_PAGES = 50          # lookups page through at most this many pages of 200
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()   # deadlines are Beijing dates

# The five kinds of nominating unit; `key` is how the demo refers to them below.
UNITS = [
    {"key": "dongcheng", "name": "东城区应急管理局", "kind": "district_safety_office", "district": "东城",
     "contact_name": "张伟", "contact_phone": "13901012345"},
    {"key": "picc", "name": "人保财险北京分公司", "kind": "insurer_branch", "district": "西城",
     "credit_code": credit_code(911100001), "contact_name": "刘洋", "contact_phone": "13801106789"},
    {"key": "jiangong", "name": "北京朝阳建工集团有限公司", "kind": "insured_enterprise", "district": "朝阳",
     "credit_code": credit_code(911100002), "contact_name": "孙磊", "contact_phone": "13611052233"},
    {"key": "anxin", "name": "北京安信安全技术服务有限公司", "kind": "safety_service_org", "district": "海淀",
     "credit_code": credit_code(911100003), "contact_name": "周敏", "contact_phone": "13511084455"},
    {"key": "lantian", "name": "北京蓝天应急志愿服务队", "kind": "social_org", "district": "通州",
     "contact_name": "吴强", "contact_phone": "13711126677"},
]

# tests.support numbers people with a per-process serial: the same calls in the same
# order give the same ID numbers on every run, so a re-run finds its people again.
# A region code must have existed in the birth year: 通州 was 通县 (110223, from 1982) until 1997.
CANDIDATES = [
    dict(unit="dongcheng", name="王建国", id_number=resident_id("110101", "19750412", "male"),
         email="wangjianguo@example.com", phone="13910010001", title="高级工程师", education="硕士研究生",
         school_major="中国矿业大学（北京） 安全技术及工程", employer_position="东城区应急管理局 安全生产科科长",
         deeds="从事安全生产监管十五年，牵头辖区安责险宣传进企业活动，年均宣讲30余场。",
         recommendation_reason="熟悉安责险政策与事故预防服务，讲解通俗易懂，企业反响好。"),
    dict(unit="dongcheng", name="李秀英", id_number=resident_id("110101", "19820903", "female"),
         email="lixiuying@example.com", phone="13910010002", title="工程师", education="本科",
         school_major="首都经济贸易大学 安全工程", employer_position="东城区东华门街道 专职安全员",
         deeds="负责街道沿街商户安全检查与培训，组织“安全生产月”宣讲12场。",
         recommendation_reason="基层经验丰富，善于结合身边案例讲解。"),
    dict(unit="dongcheng", name="陈立新", id_number=resident_id("110101", "19790115", "male"),
         email="chenlixin@example.com", phone="13910010003", title=None, education="大专",
         school_major="北京劳动保障职业学院 安全管理", employer_position="东城区安全生产执法队 队员",
         deeds="参与执法检查，协助开展企业安全培训。", recommendation_reason="工作认真负责。"),
    dict(unit="picc", name="刘晓燕", id_number=resident_id("110102", "19880621", "female"),
         email="liuxiaoyan@example.com", phone="13810020001", title="经济师", education="本科",
         school_major="中央财经大学 保险学", employer_position="人保财险北京分公司 安责险业务部 主管",
         deeds="负责安责险承保与事故预防服务，为300余家企业讲解安责险条款与理赔流程。",
         recommendation_reason="精通安责险条款与事故预防服务机制。"),
    dict(unit="picc", name="赵志强", id_number=resident_id("110105", "19850308", "male"),
         email="zhaozhiqiang@example.com", phone="13810020002", title="注册安全工程师", education="本科",
         school_major="北京科技大学 安全工程", employer_position="人保财险北京分公司 风险管理部 风控工程师",
         deeds="开展投保企业风险评估与隐患排查服务200余次。", recommendation_reason="专业扎实，现场经验丰富。"),
    dict(unit="jiangong", name="孙海涛", id_number=resident_id("110105", "19800726", "male"),
         email="sunhaitao@example.com", phone="13610030001", title="高级工程师", education="本科",
         school_major="北京建筑大学 土木工程", employer_position="北京朝阳建工集团有限公司 安全总监",
         deeds="组织集团各项目部班前安全讲话与应急演练，年培训作业人员2000余人次。",
         recommendation_reason="熟悉建筑施工安全，能讲透安责险在企业中的作用。"),
    dict(unit="anxin", name="周丽娟", id_number=resident_id("110108", "19900214", "female"),
         email="zhoulijuan@example.com", phone="13510040001", title="注册安全工程师", education="硕士研究生",
         school_major="北京理工大学 安全科学与工程", employer_position="北京安信安全技术服务有限公司 技术负责人",
         deeds="为安责险投保企业提供事故预防技术服务，编写《小微企业安全生产手册》。",
         recommendation_reason="技术功底扎实，表达清晰。"),
    dict(unit="lantian", name="吴俊峰", id_number=resident_id("110223", "19930519", "male"),
         email="wujunfeng@example.com", phone="13710050001", title=None, education="本科",
         school_major="北京联合大学 应急管理", employer_position="北京蓝天应急志愿服务队 副队长",
         deeds="带领志愿者走进社区开展应急避险与安全生产宣传40余场。",
         recommendation_reason="热心公益，宣讲感染力强。"),
]
LATE_ID = resident_id("110101", "19870911", "female")
PERSON = {c["name"]: c for c in CANDIDATES}

# Two enterprises, each enrolling its principal person and its safety manager (seed 004).
ENROLMENTS = [
    {"district": "朝阳", "organised_by": "朝阳区住房和城乡建设委员会",
     "unit": {"name": "北京朝阳建工集团有限公司", "credit_code": credit_code(911100002), "staff_count": 320,
              "operating_district": "朝阳", "registered_district": "朝阳", "industry": "建筑施工"},
     "people": {"principal": ("郑国华", resident_id("110105", "19680302", "male"), "13601050011"),
                # the same person as the lecturer candidate: one ID number
                "safety_manager": ("孙海涛", PERSON["孙海涛"]["id_number"], PERSON["孙海涛"]["phone"])}},
    {"district": "通州", "organised_by": "通州区交通局",
     "unit": {"name": "北京通运物流有限公司", "credit_code": credit_code(911100004), "staff_count": 86,
              "operating_district": "通州", "registered_district": "通州", "industry": "道路货物运输"},
     "people": {"principal": ("马春生", resident_id("110101", "19720817", "male"), "13701120022"),
                "safety_manager": ("何静", resident_id("110223", "19890124", "female"), "13701120033")}},
]
ROLE_LABEL = {"principal": "主要负责人", "safety_manager": "安全生产管理人员"}

# The case campaign's reviewing experts: (code their token and account are bound to, name, phone).
CASE_EXPERTS = [("case-exp-1", "评审专家甲", "13900139001"), ("case-exp-2", "评审专家乙", "13900139002"),
                ("case-exp-3", "评审专家丙", "13900139003")]
CASE_PRINCIPLES = ("authenticity", "compliance", "advancement", "replicability", "effectiveness")


def case_campaign(year: int) -> dict:
    """A campaign shaped as the 2023 one (categories, levels, the five principles' weights), open this year."""
    return {"year": year, "title": f"{year}年安责险事故预防典型案例征集（演示）", "deadline": f"{year}-12-31",
            "categories": [{"code": "tools_technology", "label": "工具技术产品类"}, {"code": "other", "label": "其他"}],
            "levels": [{"level": "best", "count": 1}, {"level": "excellent", "count": 1}],
            "scoring_form": [{"principle": p, "weight": w} for p, w in zip(CASE_PRINCIPLES,
                                                                            ("0.2", "0.15", "0.2", "0.2", "0.25"))],
            "experts_per_case": 3, "disagreement_threshold": "15", "notice_working_days": 5,
            "ranking_basis": "normalised"}


def last_working_day():
    from shared.workdays import is_working_day, local_date, utcnow

    day = local_date(utcnow())
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


CLASS_DAYS = ["2018-06-14", "2018-06-15"]     # a Thursday and a Friday: the class of the 2018 enrolments

# The experts on the demo's panels: (the person their account and token are bound to, name).
EXPERTS = [("exp-demo-1", "专家甲"), ("exp-demo-2", "专家乙"), ("exp-demo-3", "专家丙")]
EXAM_LABEL = {"basic_test": "基础培训测试", "key_theory": "重点培训理论考核"}
STAGE_LABEL = {"basic": "基础培训", "key": "重点培训", "intensive": "强化培训"}

# The risk service's insured enterprises, with positions (the risk map draws each district as the area
# its enterprises cover) and this year's policy with the insurer below.
INSURER = "人保财险北京分公司"
ENTERPRISES = [
    (credit_code(911100002), "北京朝阳建工集团有限公司", "朝阳", "建外街道", "建筑施工", 320, "孙磊", "13611052233", 116.452, 39.909),
    (credit_code(911100005), "北京望京商业管理有限公司", "朝阳", "望京街道", "人员密集场所", 140, "钱芳", "13611058899", 116.476, 40.001),
    (credit_code(911100006), "北京东坝仓储有限公司", "朝阳", "东坝地区", "危险化学品", 60, "冯刚", "13611057788", 116.552, 39.967),
    (credit_code(911100004), "北京通运物流有限公司", "通州", "永顺镇", "道路货物运输", 86, "马春生", "13701120022", 116.675, 39.913),
]
# a 1×1 PNG: the inspection's site photo
DEMO_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc0000003"
                         "01010018dd8db00000000049454e44ae426082")


class Unreachable(Exception):
    pass


class Demo:
    def __init__(self, base: str, admin_token: str, with_accounts: bool = True):
        self.with_accounts = with_accounts
        self.base = base.rstrip("/")
        self.admin = admin_token
        self.session = requests.Session()
        self.unexpected: list[str] = []
        self.calls = 0           # HTTP requests made, retries after 429 included
        self.accounts: list[tuple[str, str, str, str]] = []   # username, role, name, its main page
        self.links: dict[str, str] = {}          # username -> the page that shows its demo data
        self.public: dict[str, str] = {}         # what anyone may open, no login
        self.risk_accounts: dict[str, dict] = {}  # role -> the risk-service party its account is bound to
        self.case_accounts: dict[str, dict] = {}  # role -> the cases-service party its account is bound to
        self.enrolled: list[tuple[int, str, str]] = []   # (enrolment id, ID number, credit code) made by this run

    # ---- HTTP ---------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        for _ in range(30):  # a polite client: on 429 wait as told, then ask again
            self.calls += 1
            try:
                response = self.session.request(method, self.base + path, timeout=REQUEST_TIMEOUT_S, **kwargs)
            except requests.RequestException as exc:
                raise Unreachable(f"{method} {path}: {exc}") from None
            if response.status_code != 429:
                break
            time.sleep(min(5.0, float(response.headers.get("Retry-After") or 1)))
        return response

    @staticmethod
    def _answer(response: requests.Response):
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def call(self, method: str, path: str, body=None, token: str | None = None, params=None):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token or self.admin}"}
        return self._answer(self._send(method, path, params=params, headers=headers,
                                       data=None if body is None else json.dumps(body)))

    def upload_raw(self, path: str, data: bytes, filename: str, content_type: str, token: str | None = None,
                   params: dict | None = None):
        """A raw-body upload (CSV, photo, evidence file): (status, body)."""
        return self._answer(self._send("POST", path, data=data, params={"filename": filename, **(params or {})},
                                       headers={"Authorization": f"Bearer {token or self.admin}",
                                                "Content-Type": content_type}))

    def get(self, what: str, path: str, params=None):
        """A read that must answer 200: its body, or None (recorded)."""
        status, body = self.call("GET", path, params=params)
        return body if self.expect(what, status, body, 200) else None

    def poll(self, what: str, path: str, done, params=None, timeout: float = WAIT_S):
        """Poll a read until ``done(body)`` (events travel between services): the body, or None (recorded)."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.call("GET", path, params=params)
            if status == 200 and done(body):
                return body
            if time.monotonic() > deadline:
                self.fail(f"等待超时：{what}", body)
                return None
            time.sleep(POLL_S)

    def expect(self, what: str, status: int, body, *allowed: int) -> bool:
        """False, recorded and explained when the status is not one this step allows."""
        if status in allowed:
            return True
        self.unexpected.append(f"{what}: HTTP {status}")
        print(f"  ✗ {what}：意外的 HTTP {status}（预期 {'/'.join(map(str, allowed))}）— {brief(body)}")
        return False

    def fail(self, what: str, body) -> None:
        self.unexpected.append(what)
        print(f"  ✗ {what} — {brief(body)}")

    def create_or_find(self, what: str, path: str, body: dict, lookup, token: str | None = None):
        """POST ``body``; a 409 means an earlier run made it: ``lookup()`` finds it. (item or None, created)."""
        status, answer = self.call("POST", path, body, token=token)
        if status == 201:
            return answer, True
        if status != 409:
            self.expect(what, status, answer, 201, 409)
            return None, False
        found = lookup()
        if found is None:
            self.fail(f"{what}：返回 409，但在列表中找不到", answer)
        return found, False

    def find(self, path: str, params: dict, match) -> dict | None:
        """The first listed item that ``match``es, paging through a bounded number of pages."""
        for page in range(1, MAX_PAGES + 1):
            status, body = self.call("GET", path, params=dict(params, page=page, per_page=200))
            if not self.expect(f"查询 {path}", status, body, 200):
                return None
            for item in body["items"]:
                if match(item):
                    return item
            if page * body["per_page"] >= body["total"]:
                return None
        return None

    # ---- the story ----------------------------------------------------------------------------

    def run(self) -> None:
        current = self.cycles()
        units = self.units()
        unit_token = self.unit_token(units["dongcheng"])
        candidates = self.candidates(current, units, unit_token)
        self.workflow(candidates, unit_token)
        self.rules(current, units)
        self.enrolment()
        self.reports(current)
        self.other_services(current, units)
        self.tour(current, candidates)
        self.cases()
        self.safety_class()
        self.risk()
        if self.with_accounts:
            self.console_accounts(units["dongcheng"], candidates)

    def cycles(self) -> str:
        heading("1. 培养周期")
        year = TODAY.year
        wanted = [(str(year), f"{year}年北京安责险金牌宣讲员培养计划", f"{year}-12-31"),
                  ("2022", "2022年北京安责险金牌宣讲员培养计划", "2022-08-10")]
        for code, title, deadline in wanted:
            status, body = self.call("POST", "/api/v1/cycles", {"code": code, "title": title, "deadline": deadline})
            if status == 201:
                print(f"  ✓ 新建周期 {code}「{title}」，截止 {deadline}（{'报名中' if body['open'] else '已截止'}）")
            elif status == 409:
                got, existing = self.call("GET", f"/api/v1/cycles/{code}")
                if self.expect(f"读取周期 {code}", got, existing, 200):
                    state = "报名中" if existing["open"] else "已截止"
                    print(f"  • 周期 {code} 已存在（之前运行过），截止 {existing['deadline']}（{state}）")
            else:
                self.expect(f"新建周期 {code}", status, body, 201, 409)
        return str(year)

    def units(self) -> dict[str, dict]:
        heading("2. 推荐单位（五类）")
        found = {}
        for spec in UNITS:
            unit, created = self.create_or_find(
                f"登记单位 {spec['name']}", "/api/v1/units", {k: v for k, v in spec.items() if k != "key"},
                lambda spec=spec: self.find("/api/v1/units", {"kind": spec["kind"]}, lambda u: u["name"] == spec["name"]))
            if unit and created:
                print(f"  ✓ #{unit['id']} {unit['name']}（{unit['kind_label']}，{unit['district']}）")
            elif unit:
                print(f"  • #{unit['id']} {unit['name']} 已存在（之前运行过）")
            if unit:
                found[spec["key"]] = unit
        if len(found) < len(UNITS):
            raise Stop("单位没有全部就绪，后面的步骤依赖它们")
        return found

    def unit_token(self, unit: dict) -> str:
        heading("3. 单位令牌")
        status, body = self.call("POST", "/api/v1/tokens", {"role": "unit", "unit_id": unit["id"], "name": unit["name"]})
        if not self.expect("签发单位令牌", status, body, 201):
            raise Stop("没有单位令牌")
        print(f"  ✓ 为 {unit['name']} 签发单位令牌 {body['prefix']}…（只能为本单位报名、盖章）")
        return body["token"]

    def candidates(self, cycle: str, units: dict, unit_token: str) -> dict[str, dict]:
        heading(f"4. 报名：{cycle} 周期的八名候选人")
        registered = {}
        for person in CANDIDATES:
            unit = units[person["unit"]]
            form = {k: v for k, v in person.items() if k != "unit" and v is not None}
            form["cycle"] = cycle
            if person["unit"] == "dongcheng":
                token = unit_token          # the unit submits its own forms
            else:
                token, form["unit_id"] = None, unit["id"]   # the center enters a paper form for the unit
            body, created = self.create_or_find(
                f"{person['name']} 报名", "/api/v1/candidates", form,
                lambda n=person["name"], u=unit["id"]: self.find(
                    "/api/v1/candidates", {"cycle": cycle, "unit_id": u, "q": n}, lambda c: c["name"] == n), token=token)
            if body and created:
                print(f"  ✓ #{body['id']} {body['name']}（{gender(body)}，{body['birth_month']}，"
                      f"身份证 {body['id_number']}）由 {unit['name']} 推荐")
            elif body:
                print(f"  • {person['name']} 已报名（#{body['id']}，状态 {body['status']}）")
            if body:
                registered[person["name"]] = body
        return registered

    def workflow(self, candidates: dict, unit_token: str) -> None:
        heading("5. 盖章、审核与驳回")
        self.seal(candidates.get("王建国"), "unit", "东城区应急管理局 张伟", "同意推荐", unit_token)
        self.seal(candidates.get("李秀英"), "unit", "东城区应急管理局 张伟", "同意推荐", unit_token)
        self.seal(candidates.get("刘晓燕"), "unit", "人保财险北京分公司 刘洋", "同意推荐（纸质表已盖章）", None)
        self.seal(candidates.get("王建国"), "center", "运营中心 审核组", "同意，进入基础培训", None)
        self.seal(candidates.get("刘晓燕"), "center", "运营中心 审核组", "同意", None)
        self.reject(candidates.get("陈立新"), "东城区应急管理局 张伟", "推荐材料不全：缺少近两年参加宣讲活动的情况说明",
                    unit_token)

    def seal(self, candidate, stage: str, signed_by: str, opinion: str, token) -> None:
        if candidate is None:
            return
        label, path, needs, done = {
            "unit": ("单位盖章", "unit-approval", "submitted", ("unit_approved", "approved")),
            "center": ("中心审核通过", "center-approval", "unit_approved", ("approved",)),
        }[stage]
        status_now = self.current_status(candidate)
        if status_now in done:
            print(f"  • {candidate['name']}：{label} 已完成（当前状态 {status_now}）")
            return
        status, body = self.call("POST", f"/api/v1/candidates/{candidate['id']}/{path}",
                                 {"signed_by": signed_by, "opinion": opinion}, token=token)
        if self.expect(f"{candidate['name']} {label}", status, body, 200):
            print(f"  ✓ {candidate['name']}：{label}（{signed_by}：{opinion}）→ 状态 {body['status']}")

    def reject(self, candidate, signed_by: str, reason: str, token) -> None:
        if candidate is None:
            return
        if self.current_status(candidate) == "rejected":
            print(f"  • {candidate['name']}：已被驳回（之前运行过）")
            return
        status, body = self.call("POST", f"/api/v1/candidates/{candidate['id']}/rejection",
                                 {"signed_by": signed_by, "reason": reason}, token=token)
        if self.expect(f"驳回 {candidate['name']}", status, body, 200):
            stage = "单位" if body["rejected_stage"] == "unit" else "中心"
            print(f"  ✓ {candidate['name']}：被{stage}驳回，理由：{body['rejection_reason']}")

    def current_status(self, candidate) -> str | None:
        status, body = self.call("GET", f"/api/v1/candidates/{candidate['id']}")
        return body.get("status") if status == 200 and isinstance(body, dict) else None

    def rules(self, cycle: str, units: dict) -> None:
        heading("6. 规则校验（这些请求应当被拒绝）")
        dongcheng = units["dongcheng"]["id"]
        base = {k: v for k, v in CANDIDATES[1].items() if k not in ("unit", "id_number") and v is not None}

        status, body = self.call("POST", "/api/v1/candidates",
                                 dict(base, cycle="2022", unit_id=dongcheng, name="黄丽", id_number=LATE_ID))
        if self.expect("逾期报名 2022 周期", status, body, 422):
            print(f"  ✓ 422 逾期报名被拒：规则 {body.get('rule')} — {body.get('message')}")

        first = CANDIDATES[0]
        status, body = self.call("POST", "/api/v1/candidates",
                                 dict(base, cycle=cycle, unit_id=dongcheng, name="王建民", id_number=first["id_number"]))
        if self.expect("同一身份证重复报名", status, body, 409):
            print(f"  ✓ 409 同一身份证号在 {cycle} 周期已报名（{first['name']}）："
                  f"{'; '.join(body.get('fields', {}).get('id_number', [body.get('message', '')]))}")

        malformed = first["id_number"][:-1] + ("0" if first["id_number"][-1] != "0" else "1")
        status, body = self.call("POST", "/api/v1/candidates",
                                 dict(base, cycle=cycle, unit_id=dongcheng, name="钱多多", id_number=malformed))
        if self.expect("身份证号校验位错误", status, body, 400):
            print(f"  ✓ 400 身份证号 {malformed} 不合法：id_number → "
                  f"{'; '.join(body.get('fields', {}).get('id_number', ['?']))}")

    def enrolment(self) -> None:
        heading("7. 2018 年区级培训名额与报名")
        status, body = self.call("PUT", "/api/v1/district-quotas", {"year": 2018})
        if self.expect("加载 2018 年区级名额", status, body, 200):
            print(f"  ✓ 已加载 {body['year']} 年名额表：{body['districts']} 个区，合计 {body['total']:,} 人")
        for plan in ENROLMENTS:
            district = plan["district"]
            status, body = self.call("POST", "/api/v1/tokens",
                                     {"role": "regulator", "district": district, "name": f"{district}区应急管理局"})
            if not self.expect(f"签发{district}区监管令牌", status, body, 201):
                continue
            regulator = body["token"]
            for role, (name, id_number, phone) in plan["people"].items():
                status, body = self.call("POST", "/api/v1/enrolments", {
                    "year": 2018, "role": role, "organised_by": plan["organised_by"], "unit": plan["unit"],
                    "person": {"name": name, "id_number": id_number, "phone": phone}}, token=regulator)
                who = f"{plan['unit']['name']} {ROLE_LABEL[role]} {name}"
                if status == 201:
                    print(f"  ✓ #{body['id']} {district}：{who}（{body['person_id_number']}）")
                    self.enrolled.append((body["id"], id_number, plan["unit"]["credit_code"]))
                elif self.expect(f"报名 {who}", status, body, 201, 409):
                    print(f"  • {district}：{who} 已报名（之前运行过）")

    def reports(self, cycle: str) -> None:
        heading(f"8. 名额报告：{cycle} 周期未达最低推荐数的单位")
        status, body = self.call("GET", f"/api/v1/cycles/{cycle}/quota-report")
        if self.expect("名额报告", status, body, 200):
            short = [r for r in body["rows"] if r["shortfall"]]
            print(f"  共推荐 {body['nominated']} 人；{body['units_short']} 个单位未达最低数"
                  f"{'（已截止，已标记 ' + str(body['units_flagged']) + ' 个）' if body['closed'] else '（报名中，暂不标记）'}")
            for r in short:
                print(f"    - {r['unit_name']}（{r['district'] or '—'}）：已推荐 {r['nominated']} / 最低 {r['minimum']}，"
                      f"还差 {r['shortfall']}{'  ⚑ 已标记' if r['flagged'] else ''}")
        status, body = self.call("GET", "/api/v1/cycles/2022/quota-report")
        if self.expect("2022 名额报告", status, body, 200):
            print(f"  2022 周期（{'已截止' if body['closed'] else '报名中'}）：{body['units_flagged']} 个单位因未达最低数被标记")

        heading("9. 2018 年培训报名进度（本次涉及的区）")
        status, body = self.call("GET", "/api/v1/enrolment-progress/2018")
        if self.expect("报名进度", status, body, 200):
            touched = {plan["district"] for plan in ENROLMENTS}
            for r in body["rows"]:
                if r["district"] in touched:
                    print(f"  {r['district']}：已报名 {r['enrolled']:,} / 名额 {r['quota']:,}（{r['percent']}%），"
                          f"剩余 {r['remaining']:,}")
            print(f"  全市：已报名 {body['enrolled']:,} / 名额 {body['quota']:,}（{body['percent']}%）")

        heading("10. 健康检查 /health")
        status, body = self.call("GET", "/health")
        if self.expect("健康检查", status, body, 200):
            parts = "，".join(f"{name} {s['status']}" for name, s in body["services"].items())
            print(f"  {body['status']}（机构 {body['agency']}）：{parts}")


    def step(self, what: str, method: str, path: str, body=None, ok=(200, 201), again=(409,), token=None):
        """One call that may have been made by an earlier run (``again``): says which, returns the body."""
        status, answer = self.call(method, path, body, token=token)
        if status in ok:
            print(f"  ✓ {what}")
            return answer
        if status in again:
            print(f"  • {what}：已存在（之前运行过）")
            return None
        self.expect(what, status, answer, *ok, *again)
        return None

    def other_services(self, cycle: str, units: dict) -> None:
        heading(f"11. 培训：{cycle} 周期的三个阶段（附件2–4 课程计划）")
        self.step("建立基础 / 重点 / 强化培训阶段", "POST", f"/api/v1/cycles/{cycle}/stages", {"plan": "2022"})
        status, stages = self.call("GET", f"/api/v1/cycles/{cycle}/stages")
        if self.expect("读取培训阶段", status, stages, 200):
            for stage in stages:
                print(f"    - {stage['stage']}（{stage['mode']}）：{len(stage.get('sessions') or [])} 次课，"
                      f"学员 {stage.get('trainees', 0)} 人")

        heading("12. 评分：2022 年公布的评分方案")
        scheme = self.step(f"{cycle} 周期载入评分方案（基础前150，重点前80，最终前50）", "PUT",
                           f"/api/v1/scoring/schemes/{cycle}", {"published": "2022"}, again=(409, 422))
        if scheme:
            print("    " + "；".join(f"{s['name']} 前 {s['cutoff']} 名" for s in scheme["stages"]))

        heading("13. 宣讲补贴：巡讲期与每场补贴")
        self.step(f"{cycle} 周期巡讲期 {TODAY.year}-01-01 至 {TODAY.year}-12-31，每场补贴 300.00 元", "PUT",
                  f"/api/v1/subsidy-cycles/{cycle}", {"tour_start": f"{TODAY.year}-01-01",
                                                      "tour_end": f"{TODAY.year}-12-31",
                                                      "lecture_subsidy_fen": 30000})

        heading("14. 事故预防典型案例征集（2023 年活动）")
        self.step("载入 2023 年征集活动（截止日期、类别、评审原则）", "PUT", "/api/v1/case-campaigns/2023",
                  {"published": 2023}, again=(409, 422))

    # ---- the lecturer programme: two stages closed, the tour, an expert's open group ----------------

    def tour(self, cycle: str, candidates: dict) -> None:
        """The two center-approved candidates through the basic and key stages (scores imported and
        entered from paper sheets, each stage closed when ready) into the tour; the demo expert gets
        the intensive group to score; 王建国 reports two lectures with their evidence files."""
        approved = [candidates[n] for n in ("王建国", "刘晓燕") if n in candidates]
        if len(approved) < 2:
            return
        ids = [c["id"] for c in approved]
        heading(f"15. 培训与评分：{cycle} 周期两名学员通过基础、重点培训")
        trainees = f"/api/v1/cycles/{cycle}/trainees"
        if not self.poll("学员进入基础培训", trainees, lambda b: b["total"] >= len(ids), {"per_page": 1}):
            return
        self.exam(cycle, "basic_test", {cid: 90 - 2 * n for n, cid in enumerate(ids)})
        if not self.close_when_ready(cycle, "basic"):
            return
        if not self.poll("学员进入重点培训", trainees, lambda b: all(
                t["stage"] != "basic" for t in b["items"] if t["candidate_id"] in ids), {"per_page": 200}):
            return
        self.exam(cycle, "key_theory", {cid: 86 - 3 * n for n, cid in enumerate(ids)})
        self.panel(cycle, "key", EXPERTS, sheet="key_expert")
        if not self.close_when_ready(cycle, "key"):
            return
        heading(f"16. 强化培训：专家 {EXPERTS[0][1]} 的小组（待评分）")
        # the close's advancement reaches training as an event: group only those who have arrived
        if not self.poll("学员进入强化培训", trainees, lambda b: all(
                t["stage"] == "intensive" for t in b["items"] if t["candidate_id"] in ids), {"per_page": 200}):
            return
        self.panel(cycle, "intensive", EXPERTS[:1], sheet=None)
        self.links["zhuanjia"] = f"/groups?cycle={cycle}&stage=intensive"
        self.lectures(cycle, approved[0])

    def exam(self, cycle: str, exam: str, scores: dict) -> None:
        """An online test taken on an external platform, imported; the same reference again is unchanged."""
        rows = [{"candidate_id": cid, "score": f"{score:.2f}"} for cid, score in scores.items()]
        body = self.step(f"导入{EXAM_LABEL[exam]}成绩 {len(rows)} 人（安责险学习小程序）", "POST",
                         f"/api/v1/cycles/{cycle}/external-exam-results",
                         {"exam": exam, "platform": "安责险学习小程序", "reference": f"demo-{cycle}-{exam}", "rows": rows})
        if body and body.get("errors"):
            self.fail(f"导入{EXAM_LABEL[exam]}：{len(body['errors'])} 行被拒", body["errors"][:3])

    def close_when_ready(self, cycle: str, stage: str) -> bool:
        """Wait until every score is in, then close the stage; True once it is closed."""
        path = f"/api/v1/scoring/cycles/{cycle}/stages/{stage}"
        ready = self.poll(f"{stage} 阶段成绩到齐", f"{path}/readiness", lambda b: b["ready"] or b["status"] == "closed")
        if ready is None:
            return False
        if ready["status"] == "closed":
            print(f"  • {STAGE_LABEL[stage]}已关闭（之前运行过）")
            return True
        closed = self.step(f"关闭{STAGE_LABEL[stage]}", "POST", f"{path}/close", {})
        if closed:
            print(f"    前 {closed['cutoff']} 名晋级：{closed['advanced']} 人")
        return closed is not None

    def panel(self, cycle: str, stage: str, experts, sheet: str | None) -> None:
        """Groups for the stage, the experts on every group's panel and, with ``sheet``, their paper score sheet."""
        placed = self.step(f"{STAGE_LABEL[stage]}分组", "POST", f"/api/v1/cycles/{cycle}/stages/{stage}/group-assignment",
                           again=(409, 422))
        if placed:
            print(f"    新分入 {placed['assigned']} 人")
        groups = [g for g in self.get(f"{stage} 小组", f"/api/v1/cycles/{cycle}/stages/{stage}/groups") or []
                  if g["members"]]
        items = [{"group_id": g["id"], "expert": person, "name": name} for g in groups for person, name in experts]
        if items:
            self.step(f"{len(groups)} 个小组的评审专家：{'、'.join(name for _, name in experts)}", "POST",
                      "/api/v1/group-experts", {"items": items})
        for g in groups if sheet else []:
            rows = [{"expert": person, "candidate_id": m["candidate_id"], "score": f"{84 + d - n:.2f}"}
                    for n, m in enumerate(g["members"]) for d, (person, _) in enumerate(experts)]
            self.step(f"小组 {g['number']} 的纸质评分表（{len(rows)} 行）", "POST", f"/api/v1/groups/{g['id']}/score-sheets",
                      {"part": sheet, "reference": f"demo-{cycle}-{sheet}-{g['id']}", "rows": rows}, again=(409, 422))

    def lectures(self, cycle: str, lecturer: dict) -> None:
        """Two 附件5 reports with their evidence files: one passes the checks and is approved (a subsidy,
        then a payment batch), the other's head count disagrees with its sign-in sheet (the check fails)."""
        from shared.programme import JPEG, MP4, recent_working_day

        heading(f"17. 巡讲：{lecturer['name']} 的宣讲统计表与证据，审核，拨付批次")
        if not self.poll("宣讲员进入巡讲", f"/api/v1/subsidy-cycles/{cycle}/compliance",
                         lambda b: len(b.get("lecturers", [])) >= 1):
            return
        files = {}
        for key, data, name, kind in (("signin", JPEG + b"demo-signin", "签到表.jpg", "image/jpeg"),
                                      ("video", MP4 + b"demo-video", "宣讲全程.mp4", "video/mp4"),
                                      *((f"photo{n}", JPEG + b"demo-photo%d" % n, f"现场{n}.jpg", "image/jpeg")
                                        for n in range(4))):
            status, body = self.upload_raw("/api/v1/lecture-files", data, name, "application/octet-stream")
            if not self.expect(f"上传证据 {name}", status, body, 200, 201):
                return
            files[key] = body["sha256"]
        day = recent_working_day().isoformat()
        person = PERSON[lecturer["name"]]
        reports = [{"cycle": cycle, "candidate_id": lecturer["id"], "kind": "self_hosted",
                    "lecturer_name": lecturer["name"], "id_number": person["id_number"], "lecture_date": day,
                    "venue": venue, "audience_count": audience, "bank": "中国工商银行", "branch": "北京东城支行",
                    "account_number": "6222021234561234567", "contact": person["phone"],
                    "signin_sheet": {"file": files["signin"], "head_count": 40}, "video": {"file": files["video"]},
                    "photos": [{"file": files[f"photo{n}"], "shows_banner": n == 0} for n in range(4)]}
                   for venue, audience in (("北京朝阳建工集团有限公司 项目部会议室", 40), ("东华门街道社区活动中心", 36))]
        entered = self.step("录入两份宣讲统计表（附签到表、视频、现场照片）", "POST", "/api/v1/lectures/batch",
                            {"reports": reports})
        if not entered:
            return
        lecture_ids = [i.get("lecture_id") for i in entered["items"]]
        if None in lecture_ids:
            self.fail("宣讲统计表被拒", entered["items"])
            return
        states = {}
        for lid in lecture_ids:
            found = self.poll(f"宣讲 {lid} 自动检查", f"/api/v1/lectures/{lid}", lambda b: b["status"] != "received")
            states[lid] = found and found["status"]
        print("  " + "；".join(f"#{lid} {state}" for lid, state in states.items()))
        if states[lecture_ids[0]] == "awaiting_review":
            self.step("中心审核通过第一份", "POST", "/api/v1/lectures/approvals",
                      {"lecture_ids": lecture_ids[:1], "signed_by": "运营中心 审核组"})
        batch = self.step("生成宣讲补贴拨付批次", "POST", "/api/v1/payment-batches", {"cycle": cycle}, again=(422,))
        batch_id = batch["id"] if batch else self.last_batch(cycle)
        if batch_id:
            print(f"    拨付批次 #{batch_id}：银行文件 /payments?batch={batch_id}")
            self.links["caiwu"] = f"/payments?batch={batch_id}"

    def last_batch(self, cycle: str) -> int | None:
        """There is no list of batches: an earlier run's batch is found by number."""
        last = None
        for n in range(1, MAX_PAGES + 1):
            status, body = self.call("GET", f"/api/v1/payment-batches/{n}")
            if status != 200:
                break
            if body.get("cycle") == cycle:
                last = n
        return last

    # ---- the prevention-case campaign: one case in 公示, one in review --------------------------------

    def cases(self) -> None:
        """This year's campaign reviewed and levelled, its list on public notice (公示); next year's
        campaign with a case whose assigned expert (the demo's case expert) has still to score it."""
        year = TODAY.year
        heading(f"18. 典型案例：{year} 年案例公示中，{year + 1} 年案例评审中")
        org = self.case_organisation()
        if org is None:
            return
        self.case_accounts["organisation"] = org
        for code, name, phone in CASE_EXPERTS:
            self.step(f"登记评审专家 {name}", "POST", "/api/v1/case-experts",
                      {"code": code, "name": name, "employer_name": "北京市安全生产科学技术研究院", "phone": phone})
        for campaign, title, scorers in ((year, "风险减量服务进工地", CASE_EXPERTS),
                                         (year + 1, "小微企业安责险事故预防服务包", CASE_EXPERTS[1:])):
            self.step(f"载入 {campaign} 年征集活动（演示）", "PUT", f"/api/v1/case-campaigns/{campaign}",
                      case_campaign(campaign), again=(409, 422))
            listed = self.get("案例列表", "/api/v1/cases", {"campaign": campaign}) or {"total": 0}
            if listed["total"]:
                print(f"  • {campaign} 年已有 {listed['total']} 个案例（之前运行过）")
                continue
            case = self.submit_case(org, campaign, title)
            if case and self.review(case, scorers) and campaign == year:
                self.step(f"{campaign} 年确定等次", "POST", f"/api/v1/case-campaigns/{campaign}/levels", {})
                self.step(f"{campaign} 年名单公示（自 {last_working_day()} 起）", "POST",
                          f"/api/v1/case-campaigns/{campaign}/notice", {"starts_on": last_working_day().isoformat()})
        self.public["典型案例公示（可提异议）"] = console_url().rstrip("/") + f"/public/cases/{year}"

    def case_organisation(self) -> dict | None:
        name = "北京安信安全技术服务有限公司"
        self.step(f"登记申报单位 {name}", "POST", "/api/v1/case-organisations", {
            "name": name, "short_name": "安信安全", "credit_code": credit_code(911100003), "kind": "service_org",
            "declared_no_bad_record": True, "declared_not_dishonest": True,
            "contact_name": "周敏", "contact_phone": "13511084455"})
        org = next((o for o in self.get("申报单位", "/api/v1/case-organisations") or [] if o["name"] == name), None)
        if org is None:
            self.fail("找不到申报单位", name)
            return None
        token = self.token("organisation", f"{name}经办", unit_id=org["id"])
        return dict(org, token=token) if token else None

    def token(self, role: str, name: str, **binding) -> str | None:
        status, body = self.call("POST", "/api/v1/tokens", {"role": role, "name": name, **binding})
        return body["token"] if self.expect(f"签发{role}令牌", status, body, 201) else None

    def submit_case(self, org: dict, campaign: int, title: str) -> dict | None:
        """The organisation uploads its report (.docx and PDF) and two photos, then submits the 附件一 form."""
        from shared import demo_files

        paragraphs = demo_files.report_paragraphs(title, org["name"])
        files = {}
        for kind, filename, data in (("report_docx", "案例报告.docx", demo_files.report_docx(paragraphs)),
                                     ("report_pdf", "案例报告.pdf", demo_files.report_pdf(paragraphs)),
                                     ("photo", "现场隐患排查.jpg", demo_files.site_photo()),
                                     ("photo", "专家培训会.jpg", demo_files.site_photo((200, 120, 30)))):
            status, body = self.upload_raw("/api/v1/case-files", data, filename, "application/octet-stream",
                                           org["token"], {"kind": kind})
            if not self.expect(f"上传 {filename}", status, body, 201):
                return None
            if kind == "photo":
                files.setdefault("photos", []).append(body["id"])
            else:
                files[kind] = body["id"]
        return self.step(f"{org['name']} 申报「{title}」（{campaign} 年）", "POST", "/api/v1/cases", {
            "campaign": campaign, "channel": "self", "name": title, "category": "tools_technology",
            "period_start": f"{campaign - 2}-03", "period_end": f"{campaign - 1}-12",
            "summary": "以安责险为纽带，保险机构联合技术服务机构为投保企业开展风险辨识、隐患排查和整改跟踪。",
            "creators": ["周敏"], "participants": ["孙磊", "刘洋"], "files": files}, token=org["token"])

    def review(self, case: dict, scorers) -> bool:
        """Screened, assigned to three experts with no conflict; ``scorers`` give their five-principle marks."""
        campaign = case["campaign"]
        self.step("形式审查通过", "POST", f"/api/v1/cases/{case['id']}/screening", {"result": "pass"})
        plan = self.step(f"{campaign} 年分配评审专家", "POST", f"/api/v1/case-campaigns/{campaign}/assignments", {})
        if not plan:
            return False
        for code, name, _ in scorers:
            token = self.token("expert", name, person=code)
            if token:
                self.step(f"{name} 评分", "PUT", f"/api/v1/cases/{case['id']}/scores/mine", {
                    "marks": {p: str(88 + n) for n, p in enumerate(CASE_PRINCIPLES)},
                    "comment": "做法扎实，数据可信，可复制推广。"}, token=token)
        return True

    # ---- the mandatory safety training: a class, its attendance and exam, certificates ----------------

    def safety_class(self) -> None:
        """The 2018 class of 朝阳建工's two enrolled people (seed 004): two days, attendance checked in and
        out, the closing exam on paper, completion; each passes with a certificate anyone can verify."""
        heading("19. 安全培训班：朝阳区 2018 年第1期，考勤、结业考试、合格证")
        credit = ENROLMENTS[0]["unit"]["credit_code"]
        found = self.certificates_of(credit)
        if found:
            print(f"  • 合格证已发（之前运行过）：{'、'.join(c['number'] for c in found)}")
        else:
            found = self.hold_class([e for e in self.enrolled if e[2] == credit])
        if found:
            self.public["证书核验（扫合格证二维码）"] = found[0]["verify_url"]

    def certificates_of(self, credit_code: str) -> list[dict]:
        """The certificates of an enterprise's people, from its safety file (training's part)."""
        status, body = self.call("GET", f"/api/v1/safety-files/{credit_code}")
        if status != 200:
            return []
        part = body["parts"].get("training", {}).get("data") or {}
        return [c for p in part.get("people", []) for c in p.get("certificates", [])]

    def hold_class(self, people: list[tuple[int, str, str]]) -> list[dict]:
        if not people:
            self.fail("没有可安排的报名人员", "enrolments")
            return []
        inst = self.step("登记培训机构 朝阳区安全生产培训中心", "POST", "/api/v1/institutions", {
            "name": "朝阳区安全生产培训中心", "full_time_managers": 3, "management_system": True,
            "teacher_min_years": 6, "evaluation_mechanism": True, "seats": 60})
        teacher = self.step("登记授课教师 孙老师（注册安全工程师）", "POST", "/api/v1/teachers", {
            "name": "孙老师", "qualification": "registered_safety_engineer", "years_experience": 12})
        manager = inst and self.step("登记班主任 韩梅", "POST", "/api/v1/class-managers", {
            "institution_id": inst["id"], "name": "韩梅", "id_number": resident_id("110105", "19820611", "female")})
        if not (inst and teacher and manager):
            return []
        days = CLASS_DAYS
        klass = self.step(f"开班：{days[0]}–{days[1]}，每天 09:00–17:00", "POST", "/api/v1/classes", {
            "title": "朝阳区2018年第1期安全生产培训班", "institution_id": inst["id"], "district": "朝阳", "days": days,
            "manager_id": manager["id"], "capacity": 40, "teacher_ids": [teacher["id"]]})
        if not klass:
            return []
        path = f"/api/v1/classes/{klass['id']}"
        seats = {}
        for enrolment_id, id_number, _ in people:
            deadline = time.monotonic() + WAIT_S       # the enrolment travels from registration first
            while True:
                status, seat = self.call("POST", f"{path}/seats", {"enrolment_id": enrolment_id})
                if status == 201 or time.monotonic() > deadline:
                    break
                time.sleep(POLL_S)
            if self.expect(f"入座 报名 #{enrolment_id}", status, seat, 201):
                seats[id_number] = seat
        for id_number, seat in seats.items():
            for day, date_text in enumerate(days, start=1):
                for action, hhmm in (("check_in", "08:50"), ("check_out", "17:05")):
                    status, body = self.call("POST", f"{path}/attendance", {
                        "seat_id": seat["id"], "id_number": id_number, "day": day, "action": action,
                        "at": f"{date_text}T{hhmm}:00+08:00"})
                    self.expect(f"{seat['person_name']} 第{day}天 {action}", status, body, 200)
        print(f"  ✓ {len(seats)} 人两天全勤（08:50 签到，17:05 签退）")
        questions = [{"topic": "安责险结业", "kind": "single", "text": f"安责险结业题{i + 1}",
                      "options": {"A": "是", "B": "否"}, "answer": ["A"]} for i in range(4)]
        self.step("题库：4 道结业单选题", "POST", "/api/v1/questions/batch", {"questions": questions})
        exam = self.step("结业考试（抽 2 题）", "POST", "/api/v1/exams", {
            "kind": "class_exam", "title": "结业考试", "class_id": klass["id"],
            "draw": [{"topic": "安责险结业", "count": 2}], "seed": 1})
        if not exam:
            return []
        self.step("录入纸质考试成绩", "POST", f"/api/v1/exams/{exam['id']}/paper-scores",
                  {"rows": [{"id_number": n, "score": "88"} for n in seats]})
        done = self.step("结业：计学时、判合格、发证", "POST", f"{path}/completion", {})
        if done:
            print(f"    合格 {done['passed']} 人，合格证：{'、'.join(done['certificates'])}")
        return self.certificates_of(people[0][2])

    # ---- risk service: insured enterprises, an inspection with hazards, the 全安码 ---------------------

    def risk(self) -> None:
        heading("20. 风险服务：保险机构、参保企业、隐患排查、全安码")
        base = "/api/v1/risk"
        self.step(f"登记保险机构 {INSURER}", "POST", f"{base}/insurers", {"name": INSURER})
        header = "统一社会信用代码,企业名称,区,镇街,行业,从业人数,联系人,联系电话,经度,纬度,保险机构,保单年度,起保日期,终保日期,参保人数"
        year = TODAY.year
        rows = [",".join(map(str, (*e, INSURER, year, f"{year}-01-01", f"{year}-12-31", e[5]))) for e in ENTERPRISES]
        status, body = self.upload_raw(f"{base}/enterprise-imports",
                                       ("\ufeff" + "\n".join([header] + rows) + "\n").encode("utf-8"),
                                       "enterprises.csv", "text/csv")
        if self.expect("导入参保企业名单", status, body, 200):
            print(f"  ✓ 企业名单（含坐标与保单）：新增 {body.get('created', 0)}，未变 {body.get('unchanged', 0)}，"
                  f"错误 {len(body.get('errors', []))}")
        listed = self.get("参保企业", f"{base}/enterprises", {"per_page": 100}) or {"items": []}
        by_code = {e["credit_code"]: e for e in listed["items"]}
        builder = by_code.get(ENTERPRISES[0][0])
        if builder is None:
            self.fail("找不到导入的企业", ENTERPRISES[0][1])
            return
        self.risk_accounts = {"enterprise": builder}
        self.step(f"{year} 年度排查计划", "POST", f"{base}/inspection-plans", {"year": year})
        inspections = self.get("排查任务", f"{base}/inspections", {"year": year, "per_page": 100}) or {"items": []}
        visit = next((i for i in inspections["items"] if i["enterprise_id"] == builder["id"]), None)
        found = self.risk_organisation(base)
        if found:
            self.risk_accounts["service_org"] = found[0]
        if visit is None or found is None:
            self.fail("找不到排查任务或服务机构", visit)
        elif visit["status"] not in ("planned", "assigned"):
            print(f"  • {builder['name']} 已排查（之前运行过）")
        else:
            self.inspect(base, visit, *found, builder)
        qr = self.call("GET", f"{base}/enterprises/{builder['id']}/qr-code")
        qr = qr[1] if qr[0] == 200 else self.step(f"为 {builder['name']} 生成全安码", "POST",
                                                  f"{base}/enterprises/{builder['id']}/qr-code", {})
        if qr:
            self.public["全安码（企业扫码页）"] = qr["url"]
        insurer = next((i for i in self.get("保险机构", f"{base}/insurers") or [] if i["name"] == INSURER), None)
        if insurer:
            self.risk_accounts["insurer"] = insurer

    def risk_organisation(self, base: str) -> tuple[dict, dict] | None:
        """The safety-service organisation and its technician: (organisation, technician), found again on a later run."""
        name = "北京安信安全技术服务有限公司"
        org = next((o for o in self.get("服务机构", f"{base}/organisations") or [] if o["name"] == name), None) or \
            self.step(f"登记服务机构 {name}", "POST", f"{base}/organisations", {"name": name})
        if not org:
            return None
        techs = self.get("技术人员", f"{base}/organisations/{org['id']}/technicians") or []
        tech = techs[0] if techs else self.step("登记技术人员 周敏", "POST", f"{base}/technicians",
                                                {"organisation_id": org["id"], "name": "周敏", "phone": "13511084455"})
        return (org, tech) if tech else None

    def inspect(self, base: str, inspection: dict, org: dict, tech: dict, enterprise: dict) -> None:
        self.step(f"派 {org['name']} 排查 {enterprise['name']}", "POST",
                  f"{base}/inspections/{inspection['id']}/assignment",
                  {"organisation_id": org["id"], "technician_id": tech["id"]})
        status, photo = self.upload_raw(f"{base}/photos", DEMO_PNG, "现场.png", "image/png")
        if not self.expect("上传现场照片", status, photo, 200, 201):
            return
        visited = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).isoformat()
        self.step("现场排查：一般隐患 1 项、重大隐患 1 项（重大隐患报区监管部门）", "POST",
                  f"{base}/inspections/{inspection['id']}/visit", {
                      "visited_at": visited, "technician_id": tech["id"], "findings": "脚手架未设防护栏；配电箱无漏电保护",
                      "photos": [photo["key"]],
                      "hazards": [{"level": "general", "description": "脚手架未设防护栏", "location": "3号楼",
                                   "rectify_working_days": 5},
                                  {"level": "major", "description": "配电箱无漏电保护", "location": "工地配电房"}]})

    def account_plan(self, unit: dict, candidates: dict) -> list[tuple[str, str, str, dict, str]]:
        """(username, role, name, binding, main page): one account per role, bound to the demo's own parties."""
        cycle = str(TODAY.year)
        lecturer = PERSON["王建国"]
        plan = [("zhongxin", "operator", "中心审核员", {}, "/lectures?status=checks_failed"),
                ("guanli", "admin", "系统管理员", {}, "/candidates"),
                ("dongcheng", "unit", f"{unit['name']}经办人", {"unit_id": unit["id"]}, "/candidates"),
                ("jianguan", "regulator", "朝阳区应急管理局监管员", {"district": "朝阳"}, "/hazards"),
                ("zhuanjia", "expert", EXPERTS[0][1], {"person": EXPERTS[0][0]},
                 self.links.get("zhuanjia", f"/groups?cycle={cycle}&stage=intensive")),
                ("jiangshi", "lecturer", lecturer["name"], {"person": person_key(lecturer["id_number"])}, "/me"),
                ("caiwu", "finance", "财务经办", {}, self.links.get("caiwu", "/payments")),
                ("jieru", "integrator", "对接系统", {}, "/coverage")]
        if "organisation" in self.case_accounts:
            org = self.case_accounts["organisation"]
            plan.append(("anli", "organisation", f"{org['name']}案例经办", {"unit_id": org["id"]}, "/cases"))
            plan.append(("pingshen", "expert", CASE_EXPERTS[0][1], {"person": CASE_EXPERTS[0][0]}, "/cases"))
        parties = self.risk_accounts
        if "enterprise" in parties:
            plan.append(("qiye", "enterprise", f"{parties['enterprise']['name']}安全员",
                         {"person": parties["enterprise"]["credit_code"]}, "/hazards"))
        if "insurer" in parties:
            plan.append(("baoxian", "insurer", f"{parties['insurer']['name']}经办", {"unit_id": parties["insurer"]["id"]},
                         "/hazards"))
        if "service_org" in parties:
            plan.append(("fuwu", "service_org", f"{parties['service_org']['name']}技术员",
                         {"unit_id": parties["service_org"]["id"]}, "/hazards"))
        return plan

    def console_accounts(self, unit: dict, candidates: dict) -> None:
        """One console account per role (as ``wsli user create`` makes them), printed with the password at the end."""
        heading("21. 网页控制台账户（wsli user create）")
        # in this process, as `wsli user create` does it, into the console's database (WEB_DB_URI)
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from gateway.web.accounts import create_user
        from gateway.web.models import WebUser
        from shared.catalogue import WEB
        from shared.config import load_config
        from shared.db import make_engine
        from shared.errors import WsliError
        from shared.workdays import utcnow

        config = load_config(WEB.config_path)
        engine = make_engine(config["DB_URI"])
        try:
            with Session(engine, expire_on_commit=False) as session:
                for username, role, name, binding, page in self.account_plan(unit, candidates):
                    found = session.scalar(select(WebUser.id).where(WebUser.agency_id == config["AGENCY_ID"],
                                                                    WebUser.username == username))
                    if found is not None:
                        print(f"  • {username} 已存在（之前运行过；忘记密码：wsli user password --username {username}）")
                        self.accounts.append((username, role, name, page))
                        continue
                    try:
                        create_user(session, agency=config["AGENCY_ID"], username=username, password=DEMO_PASSWORD,
                                    role=role, display_name=name, now=utcnow(), **binding)
                        session.commit()
                    except WsliError as exc:
                        session.rollback()
                        self.fail(f"新建控制台账户 {username}", exc.to_dict())
                        continue
                    print(f"  ✓ {username}（{name}，角色 {role}）")
                    self.accounts.append((username, role, name, page))
        except Exception as exc:  # the console's database is not reachable from here: say so, go on
            self.fail("网页控制台数据库（WEB_DB_URI）", str(exc))
        finally:
            engine.dispose()


def person_key(id_number: str) -> str:
    """The key a lecturer's account is bound to: the ID number's keyed hash, with this process's vault
    or else the configured one (the console's PII_INDEX_KEY)."""
    from shared.pii import PiiVault, get_vault

    try:
        vault = get_vault()
    except RuntimeError:
        from shared.catalogue import WEB
        from shared.config import load_config
        vault = PiiVault.from_config(load_config(WEB.config_path))
    return vault.blind_index(id_number)


DEMO_PASSWORD = "wsli-demo-2026"


class Stop(Exception):
    """A step the rest depends on did not work; the reason was printed already."""


def heading(text: str) -> None:
    print(f"\n== {text} ==")


def gender(candidate: dict) -> str:
    return {"male": "男", "female": "女"}.get(candidate.get("gender"), "?")


def brief(body) -> str:
    text = json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body
    return text if len(text) <= 300 else text[:300] + "…"


def admin_token(args) -> str:
    """--token, else $WSLI_TOKEN, else a new admin token minted in the local gateway database."""
    if args.token or os.environ.get("WSLI_TOKEN"):
        return args.token or os.environ["WSLI_TOKEN"]
    print("未提供令牌（--token 或 WSLI_TOKEN）：运行 `wsli token create --role admin --name demo` 新建一个管理员令牌，"
          "它写入本机网关数据库（gateway/config.yml 的 DB_URI，可由 GATEWAY_DB_URI 覆盖）。")
    done = subprocess.run([sys.executable, "-m", "shared.cli", "token", "create", "--role", "admin", "--name", "demo"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"wsli token create failed ({done.returncode}): {done.stderr.strip()}")
    token = done.stdout.strip().splitlines()[0]
    print(f"  新令牌 {token[:12]}…（{done.stderr.strip().lstrip('# ')}）")
    return token


def gateway_url() -> str:
    """The configured gateway: gateway/config.yml's WEB_SERVER_ADDRESS (GATEWAY_ADDRESS overrides it)."""
    from shared.catalogue import GATEWAY
    from shared.config import load_config

    return "http://" + load_config(GATEWAY.config_path)["WEB_SERVER_ADDRESS"]


def console_url() -> str:
    from shared.catalogue import WEB
    from shared.config import load_config

    return "http://" + load_config(WEB.config_path)["WEB_SERVER_ADDRESS"] + "/"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the gateway (default: the configured address, GATEWAY_ADDRESS)")
    p.add_argument("--token", help="an admin token (default: $WSLI_TOKEN, else one is minted with `wsli token create`)")
    p.add_argument("--no-accounts", action="store_true", help="do not create console accounts")
    p.add_argument("--programme", action="store_true",
                   help="instead: the whole 2022 programme for 180 candidates with the bulk routes "
                        "(shared/programme.py); prints the HTTP calls it took")
    p.add_argument("--cycle", help="--programme: the cycle code to use (default: a new one)")


def run(args) -> int:
    if getattr(args, "programme", False):
        from shared import programme
        return programme.run(args)
    url = args.url or gateway_url()
    print(f"wsli 演示数据 → {url}（今天 {TODAY.isoformat()}，北京时间）")
    demo = Demo(url, admin_token(args), with_accounts=not args.no_accounts)
    try:
        status, body = demo.call("GET", "/api/v1/cycles")
        if status == 401:
            print(f"令牌被拒绝（HTTP 401：{brief(body)}）。若令牌是 `wsli token create` 新建的，"
                  "它写入的网关数据库必须是 --url 这个网关所用的（同样的 GATEWAY_DB_URI）。")
            return 1
        demo.run()
    except Unreachable as exc:
        print(f"\n无法连接网关：{exc}\n先启动：make up（或用 --url 指向正在运行的网关）")
        return 2
    except Stop as exc:
        print(f"\n中止：{exc}")

    console = console_url().rstrip("/")
    if demo.accounts:
        heading("演示账户（网页控制台，本地演示密码，勿用于生产）")
        print(f"  登录：{console}/")
        print(f"  {'用户名':<8} / 密码               {'角色':<11} {'姓名':<16} 首页")
        for username, role, name, page in demo.accounts:
            print(f"  {username:<10} / {DEMO_PASSWORD}   {role:<12} {name:<16} {console}{page}")
    if demo.public:
        heading("公开页面（无需登录）")
        for what, url in demo.public.items():
            print(f"  {what}：{url}")
    print(f"\n共发出 {demo.calls} 个 HTTP 请求。")
    if demo.unexpected:
        print(f"\n✗ {len(demo.unexpected)} 个请求返回了意外的状态：")
        for line in demo.unexpected:
            print(f"  - {line}")
        return 1
    print("\n✓ 演示完成：所有请求都返回了预期的状态。")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="wsli demo", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
