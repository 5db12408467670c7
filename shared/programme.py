"""The 2022 lecturer programme, scripted: 180 candidates from registration to the 50 gold lecturers.

    wsli demo --programme [--url http://HOST:PORT] [--token <admin token>] [--cycle CODE]

Through the gateway, as the operation center runs it, with the bulk routes wherever they exist:
180 forms in one bulk call, the units' seals and the center's approval in bulk, the basic test imported as an external test, the key stage (theory imported
the same way, 18 groups with 3-expert panels entered as paper score sheets), the intensive stage
(5 groups, likewise), 160 tour lectures with evidence entered and approved in bulk, and before
each of the three closes the stage's readiness. It checks the cut-offs 150 / 80 / 50 (exit 1
otherwise) and prints how many HTTP calls it made (every request, polls included) next to the
number the same steps take with the single routes only: that figure is counted in code, each
bulk item as the one call its single route would take (see ``SINGLE``), not measured by a run.
"""
from __future__ import annotations

import base64
import time
import uuid
from datetime import date, timedelta

from stdnum.cn import ric

from shared.demo import Demo, Stop, Unreachable, admin_token, gateway_url, heading

CANDIDATES = 180
CUTOFFS = {"basic": 150, "key": 80, "final": 50}
LECTURES_EACH = 2                  # 80 tour lecturers x 2 = 160 lectures
PANEL = 3                          # experts per group
RETRIES_503 = 2
EXTERNAL_ROWS_PER_CALL = 40        # rows of an external test per call (see Programme.external)
POLL_S, WAIT_S = 0.5, 180          # waiting for events to travel between services
UNIT_KINDS = ["district_safety_office", "insurer_branch", "insured_enterprise", "safety_service_org", "social_org"]
# evidence files: tiny stand-ins with the right magic numbers (sign-in sheet, video, 4 site photos)
JPEG, MP4 = b"\xff\xd8\xff\xe0JFIF-programme-", b"\x00\x00\x00\x18ftypmp42programme-"

# What each bulk call stands for with the single routes only (one call per item):
# unit-approvals -> POST /candidates/{id}/unit-approval, center-approvals -> .../center-approval,
# group-experts -> POST /groups/{id}/experts, score-sheets -> POST /expert-scores (one per row, by the expert;
# plus one expert token per expert), external-exam-results -> one exam score per row (the lower bound: the
# single route for a test is an attempt, started and submitted), lectures/batch -> POST /lectures,
# lectures/approvals -> POST /lectures/{id}/approval.
SINGLE = "per bulk item one single call; every other call (polls included) counts once"


def id_number(i: int) -> str:
    """A valid GB 11643 number for candidate ``i``: one birthday per candidate, checksum computed."""
    birth = date(1970, 1, 1) + timedelta(days=97 * i)
    first17 = f"110101{birth:%Y%m%d}{(2 * i + 1) % 1000:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def recent_working_day() -> date:
    from shared.workdays import is_working_day, local_date, utcnow
    day = local_date(utcnow()) - timedelta(days=1)
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


class Programme(Demo):
    def __init__(self, base: str, admin: str, cycle: str):
        super().__init__(base, admin, with_accounts=False)
        self.cycle = cycle
        self.single = 0      # the same steps with single routes only (counted, see SINGLE)
        self.closes: dict[str, int] = {}

    def call(self, method, path, body=None, token=None, params=None, *, stands_for: int = 1):
        before = self.calls
        out = super().call(method, path, body, token=token, params=params)
        self.single += stands_for + (self.calls - before - 1)   # 429 retries count in both figures
        return out

    def must(self, what, method, path, body=None, ok=(200, 201), stands_for=1, params=None, retry=False):
        status, answer = self.call(method, path, body, params=params, stands_for=stands_for)
        for _ in range(RETRIES_503 if retry else 0):
            if status != 503:
                break
            # the service did not answer in time; this call is repeat-safe, so ask again once
            # the first attempt had time to finish (the retry counts as a call, in both figures)
            time.sleep(2)
            status, answer = self.call(method, path, body, params=params)
        if status not in ok:
            self.expect(what, status, answer, *ok)
            raise Stop(what)
        return answer

    def bulk(self, what, path, body, items: int, key="items"):
        """A bulk call; every item must come back ok (applied, or already there)."""
        answer = self.must(what, "POST", path, body, stands_for=items, retry=True)
        refused = [i for i in answer.get(key, []) if not i.get("ok", True)]
        if refused:
            self.fail(f"{what}: {len(refused)} 项被拒", refused[:3])
            raise Stop(what)
        print(f"  ✓ {what}：{items} 项（1 个请求）")
        return answer

    def wait(self, what, method, path, done, params=None):
        deadline = time.monotonic() + WAIT_S
        while True:
            status, answer = self.call(method, path, params=params)
            if status == 200 and done(answer):
                return answer
            if time.monotonic() > deadline:
                self.fail(f"等待超时：{what}", answer)
                raise Stop(what)
            time.sleep(POLL_S)

    # ---- the programme ---------------------------------------------------------------------------

    def run(self) -> None:
        c = self.cycle
        heading(f"1. 周期 {c}、推荐单位、培训阶段、评分方案、巡讲期")
        self.must("新建周期", "POST", "/api/v1/cycles", {"code": c, "title": f"{c} 金牌宣讲员培养计划（2022 方案）",
                                                        "deadline": (date.today() + timedelta(days=30)).isoformat()})
        units = [self.must(f"登记单位 {k}", "POST", "/api/v1/units", {
            "name": f"{c} 推荐单位{n + 1}", "kind": k, "district": ["东城", "西城", "朝阳", "海淀", "通州"][n],
            "contact_name": "张伟", "contact_phone": "13901012345"})["id"] for n, k in enumerate(UNIT_KINDS)]
        self.must("建立三个培训阶段", "POST", f"/api/v1/cycles/{c}/stages", {"plan": "2022"})
        self.must("载入 2022 评分方案", "PUT", f"/api/v1/scoring/schemes/{c}", {"published": "2022"})
        today = date.today()
        self.must("巡讲期与每场补贴", "PUT", f"/api/v1/subsidy-cycles/{c}", {
            "tour_start": (today - timedelta(days=60)).isoformat(), "tour_end": (today + timedelta(days=60)).isoformat(),
            "lecture_subsidy_fen": 30000})
        print("  ✓ 周期、5 个单位、阶段、评分方案、巡讲期")

        heading(f"2. 报名 {CANDIDATES} 人（批量报名：一个请求）")
        forms = [{"cycle": c, "unit_id": units[i % 5], "name": f"候选人{i + 1:03d}", "id_number": id_number(i),
                  "email": f"p{i + 1:03d}@example.com", "phone": f"139{i + 1:08d}", "education": "本科",
                  "school_major": "北京科技大学 安全工程", "employer_position": "安全管理员",
                  "deeds": "长期从事安全生产宣传培训。", "recommendation_reason": "讲解通俗易懂。"}
                 for i in range(CANDIDATES)]
        answer = self.bulk("报名表", "/api/v1/candidates/batch", {"forms": forms}, len(forms))
        ids = [item["candidate_id"] for item in answer["items"]]   # in the order sent = the order of the scores
        people = dict(zip(ids, forms))
        print(f"  ✓ {len(ids)} 人报名")

        heading("3. 单位盖章、中心审核（批量）")
        self.bulk("单位盖章", "/api/v1/candidates/unit-approvals", {"candidate_ids": ids, "signed_by": "单位经办"},
                  len(ids))
        self.bulk("中心审核", "/api/v1/candidates/center-approvals", {"candidate_ids": ids, "signed_by": "中心审核员"},
                  len(ids))
        self.wait("培训学员就位", "GET", f"/api/v1/cycles/{c}/trainees", lambda b: b["total"] == len(ids),
                  params={"per_page": 1})

        heading("4. 基础培训测试：外部平台成绩导入")
        # distinct scores in registration order: the first 150 advance
        self.external("basic_test", {cid: 100 - n * 0.25 for n, cid in enumerate(ids)})
        basic = self.close("basic")
        key_ids = [cid for cid in ids if cid in set(basic)]

        heading("5. 重点培训：理论考核导入，18 个小组、每组 3 名专家的纸质评分表")
        self.wait("重点培训学员", "GET", f"/api/v1/cycles/{c}/trainees", lambda b: b["total"] == len(key_ids),
                  params={"per_page": 1, "stage": "key"})
        self.external("key_theory", {cid: 95 - (n % 40) * 0.5 for n, cid in enumerate(key_ids)})
        self.panels("key", "key_expert", lambda n: 90 - (n * 7 % 150) * 0.2)
        key = self.close("key")

        heading("6. 强化培训：5 个小组、每组 3 名专家的复评评分表")
        self.wait("强化培训学员", "GET", f"/api/v1/cycles/{c}/trainees", lambda b: b["total"] == len(key),
                  params={"per_page": 1, "stage": "intensive"})
        self.panels("intensive", "intensive_review", lambda n: 92 - (n * 11 % 80) * 0.3)

        heading(f"7. 巡讲：{len(key)} 名宣讲员各 {LECTURES_EACH} 场，附证据（批量录入、批量审核）")
        self.wait("巡讲宣讲员就位", "GET", f"/api/v1/subsidy-cycles/{c}/compliance",
                  lambda b: len(b.get("lecturers", [])) == len(key))
        files = {"signin": self.upload(JPEG + b"signin", "signin.jpg"), "video": self.upload(MP4, "lecture.mp4"),
                 "photos": [self.upload(JPEG + b"photo%d" % n, f"photo{n}.jpg") for n in range(4)]}
        day = recent_working_day()
        reports = [{"cycle": c, "candidate_id": cid, "kind": "self_hosted", "lecturer_name": people[cid]["name"],
                    "id_number": people[cid]["id_number"], "lecture_date": day.isoformat(),
                    "venue": f"北京宣讲企业{cid}-{k + 1}", "audience_count": 30, "bank": "中国工商银行",
                    "branch": "北京东城支行", "account_number": "6222021234561234567", "contact": "13812345678",
                    "signin_sheet": {"file": files["signin"], "head_count": 30}, "video": {"file": files["video"]},
                    "photos": [{"file": f, "shows_banner": n == 0} for n, f in enumerate(files["photos"])]}
                   for cid in key for k in range(LECTURES_EACH)]
        entered = self.bulk("邮件报来的宣讲统计表", "/api/v1/lectures/batch", {"reports": reports}, len(reports))
        lecture_ids = [i["lecture_id"] for i in entered["items"]]
        self.wait("自动检查完成", "GET", "/api/v1/lectures", lambda b: b["total"] == len(lecture_ids),
                  params={"cycle": c, "status": "awaiting_review", "per_page": 1})
        self.bulk("审核通过", "/api/v1/lectures/approvals", {"lecture_ids": lecture_ids, "signed_by": "中心审核员"},
                  len(lecture_ids))
        self.wait("评分收到全部宣讲", "GET", f"/api/v1/scoring/cycles/{c}/stages/final/ranking",
                  lambda b: sum(r.get("lectures") or 0 for r in b["ranked"]) == len(lecture_ids))
        self.close("final")

    def external(self, exam: str, scores: dict[int, float]) -> None:
        """One platform export, sent in parts: the route has the ordinary RPC timeout, not a bulk one,
        and each row is written and announced on its own. The same reference again changes nothing."""
        rows = [{"candidate_id": cid, "score": f"{s:.2f}"} for cid, s in scores.items()]
        imported = calls = 0
        for start in range(0, len(rows), EXTERNAL_ROWS_PER_CALL):
            part = rows[start:start + EXTERNAL_ROWS_PER_CALL]
            answer = self.must(f"导入 {exam}", "POST", f"/api/v1/cycles/{self.cycle}/external-exam-results",
                               {"exam": exam, "platform": "安责险学习小程序", "reference": f"{self.cycle}-{exam}",
                                "rows": part}, stands_for=len(part), retry=True)
            if answer["errors"]:
                self.fail(f"导入 {exam}：{len(answer['errors'])} 行被拒", answer["errors"][:3])
                raise Stop(exam)
            imported, calls = imported + answer["imported"], calls + 1
        print(f"  ✓ {exam}：导入 {imported} 人（{calls} 个请求）")

    def panels(self, stage: str, part: str, score) -> None:
        self.must(f"{stage} 分组", "POST", f"/api/v1/cycles/{self.cycle}/stages/{stage}/group-assignment")
        groups = self.must(f"{stage} 小组", "GET", f"/api/v1/cycles/{self.cycle}/stages/{stage}/groups")
        panel = {g["id"]: [f"{self.cycle}-{stage}-g{g['id']}-e{e + 1}" for e in range(PANEL)] for g in groups}
        self.bulk(f"{len(groups)} 个小组的专家", "/api/v1/group-experts",
                  {"items": [{"group_id": g, "expert": e} for g, es in panel.items() for e in es]},
                  sum(map(len, panel.values())))
        self.single += sum(map(len, panel.values()))   # one expert token each, to score with the single route
        n = rows = 0
        for g in groups:
            sheet = []
            for m in g["members"]:
                base = score(n)
                n += 1
                sheet += [{"expert": e, "candidate_id": m["candidate_id"], "score": f"{base + d:.2f}"}
                          for e, d in zip(panel[g["id"]], (-1, 0, 1))]
            self.must(f"小组 {g['id']} 评分表", "POST", f"/api/v1/groups/{g['id']}/score-sheets",
                      {"part": part, "reference": f"{self.cycle}-{part}-{g['id']}", "rows": sheet}, ok=(201,),
                      stands_for=len(sheet), retry=True)
            rows += len(sheet)
        print(f"  ✓ {len(groups)} 张评分表，{rows} 行（{n} 名学员 × {PANEL} 名专家）")

    def upload(self, data: bytes, name: str) -> str:
        self.single += 1
        response = self._send("POST", "/api/v1/lecture-files", data=data, params={"filename": name},
                              headers={"Authorization": f"Bearer {self.admin}",
                                       "Content-Type": "application/octet-stream"})
        if response.status_code not in (200, 201):   # 200: the same file uploaded before
            self.expect(f"上传证据 {name}", response.status_code, response.text, 201)
            raise Stop("evidence")
        return response.json()["sha256"]

    def close(self, stage: str) -> list[int]:
        """Readiness first (polled until every score is in and nothing is in flight), then the close."""
        self.wait(f"{stage} 就绪", "GET", f"/api/v1/scoring/cycles/{self.cycle}/stages/{stage}/readiness",
                  lambda b: b["ready"])
        closed = self.must(f"关闭 {stage}", "POST", f"/api/v1/scoring/cycles/{self.cycle}/stages/{stage}/close", {})
        self.closes[stage] = closed["advanced"]
        mark = "✓" if closed["advanced"] == CUTOFFS[stage] else "✗"
        print(f"  {mark} 关闭 {stage}：前 {closed['cutoff']} 名，晋级 {closed['advanced']}，"
              f"未晋级 {closed['not_advanced']}，未排名 {closed['unranked']}")
        return closed["advanced_ids"]


def run(args) -> int:
    url = args.url or gateway_url()
    cycle = getattr(args, "cycle", None) or "P" + uuid.uuid4().hex[:8]
    print(f"wsli 培养计划全流程（2022 方案，{CANDIDATES} 人）→ {url}，周期 {cycle}")
    prog = Programme(url, admin_token(args), cycle)
    started = time.monotonic()
    try:
        prog.run()
    except Unreachable as exc:
        print(f"\n无法连接网关：{exc}\n先启动：make up（或用 --url 指向正在运行的网关）")
        return 2
    except Stop as exc:
        print(f"\n中止：{exc}")
    took = time.monotonic() - started
    got = " / ".join(str(prog.closes.get(s, "—")) for s in CUTOFFS)
    print(f"\n晋级人数（基础 / 重点 / 金牌）：{got}（应为 150 / 80 / 50）")
    print(f"共发出 {prog.calls} 个 HTTP 请求（用时 {took:.0f} 秒）；"
          f"只用单条路由时同样的步骤需要 {prog.single} 个（按步骤计数：{SINGLE}）。")
    ok = prog.closes == CUTOFFS and not prog.unexpected
    print("✓ 培养计划完成" if ok else "✗ 培养计划未按预期完成")
    return 0 if ok else 1
