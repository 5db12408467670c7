"""The question bank, exams and attempts (online and on paper), and expert panels' scores."""
from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.auth import STAFF
from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Forbidden, NotFound, RuleViolation, ValidationFailed
from shared.documents import decode_upload, read_table
from shared.pii import get_vault
from shared.schemas import agency_row, as_code, load, schema_instance
from shared.workdays import utcnow

from . import domain, schemas
from .models import Attempt, ClassSeat, Exam, ExpertScore, Group, GroupExpert, GroupMember, Question, Trainee
from .roles import CLASS_STAFF, EXAM_READERS, EXPERTS, TAKERS


class ExamRpc:

    @rpc(roles=STAFF)
    @transactional
    def create_question(self, payload):
        data = load(schemas.QuestionIn, payload)
        question = self._add_question(data)
        self.db.emit("questions_added", question.id, {"question_ids": [question.id]})
        self.db.audit(self.caller, "questions.add", "question", question.id, {"topic": question.topic})
        return schema_instance(schemas.QuestionOut).dump(question)

    @rpc(roles=STAFF)
    @transactional
    def import_questions(self, payload):
        data = load(schemas.QuestionBatchIn, payload)
        ids = []
        for i, item in enumerate(data["questions"]):
            try:
                ids.append(self._add_question(item).id)
            except ValidationFailed as exc:
                raise ValidationFailed(f"question {i}: {exc.message}",
                                       {f"questions.{i}.{k}": v for k, v in exc.fields.items()}) from None
        self.db.emit("questions_added", ids[0] if ids else 0, {"question_ids": ids})
        self.db.audit(self.caller, "questions.import", "question_bank", self.db.agency, {"created": len(ids)})
        return {"created": len(ids), "ids": ids}

    @rpc(roles=STAFF)
    def list_questions(self, query=None):
        params = load(schemas.QuestionQuery, query)
        stmt = select(Question).where(Question.agency_id == self.db.agency)
        if "topic" in params:
            stmt = stmt.where(Question.topic == params["topic"])
        return self._page(stmt, Question.id, params, schemas.QuestionOut().dump)

    @rpc(roles=STAFF)
    @transactional
    def create_exam(self, payload):
        data = load(schemas.ExamIn, payload)
        if data["kind"] == domain.CLASS_EXAM:
            klass = self._class(data["class_id"], field="class_id")
            data["cycle"] = None
            pass_mark = klass.pass_mark
        else:
            data["class_id"] = None
            pass_mark = domain.DEFAULT_PASS_MARK
        if data["pass_mark"] is not None:
            pass_mark = domain.check_score(data["pass_mark"], "pass_mark")
        draw = [(d["topic"], d["count"]) for d in data["draw"]]
        bank = defaultdict(list)
        for qid, topic in self.db.session.execute(select(Question.id, Question.topic).where(
                Question.agency_id == self.db.agency, Question.topic.in_([t for t, _ in draw]))):
            bank[topic].append(qid)
        seed = data["seed"] if data["seed"] is not None else secrets.randbelow(2**53)
        paper = domain.draw_paper(bank, draw, seed)
        key = {str(q.id): q.answer for q in self.db.session.scalars(select(Question).where(Question.id.in_(paper)))}
        exam = Exam(agency_id=self.db.agency, kind=data["kind"], title=data["title"], cycle=data["cycle"],
                    class_id=data["class_id"], seed=seed, draw=data["draw"], paper=paper, answer_key=key,
                    duration_minutes=data["duration_minutes"], pass_mark=pass_mark, created_at=utcnow())
        self.db.session.add(exam)
        self.db.session.flush()
        self.db.emit("exam_created", exam.id, {"exam_id": exam.id, "kind": exam.kind, "cycle": exam.cycle,
                                               "class_id": exam.class_id, "question_count": len(paper),
                                               "platform": None, "reference": None})
        self.db.audit(self.caller, "exam.create", "exam", exam.id, {"kind": exam.kind, "seed": seed})
        return self._exam_out(exam)

    @rpc(roles=EXAM_READERS)
    def get_exam(self, exam_id):
        return self._exam_out(self._exam(exam_id))

    @rpc(roles=TAKERS)
    @transactional
    def start_attempt(self, exam_id, payload):
        exam = self._exam(exam_id)
        data = load(schemas.TakerIn, payload)
        taker, candidate_id, person_key = self._taker(exam, data)
        domain.ensure_one_attempt(self._live_attempt(exam, taker))
        now = utcnow()
        attempt = Attempt(agency_id=self.db.agency, exam_id=exam.id, taker=taker, candidate_id=candidate_id,
                          person_key=person_key, status=domain.STARTED, source="online", started_at=now,
                          deadline_at=now + timedelta(minutes=exam.duration_minutes))
        self.db.session.add(attempt)
        self.db.session.flush()
        self.db.emit("attempt_started", attempt.id, dict(self._attempt_ref(attempt), deadline_at=attempt.deadline_at))
        return self._attempt_out(attempt, exam, with_paper=True)

    @rpc(roles=TAKERS)
    @transactional
    def submit_attempt(self, attempt_id, payload):
        data = load(schemas.AnswersIn, payload)
        attempt = self._attempt(attempt_id)
        exam = self._exam(attempt.exam_id)
        self._check_taker(attempt)
        domain.ensure_submittable(attempt.status)
        now = utcnow()
        domain.ensure_in_time(attempt.deadline_at, now)
        unknown = sorted(set(map(str, data["answers"])) - {str(q) for q in exam.paper})
        if unknown:
            raise ValidationFailed("answers to questions not on the paper",
                                   {"answers": [f"not on this paper: {', '.join(unknown[:10])}"]})
        self._grade(attempt, exam, data["answers"], now)
        return self._attempt_out(attempt, exam)

    @rpc(roles=TAKERS)
    def get_attempt(self, attempt_id):
        attempt = self._attempt(attempt_id)
        self._check_taker(attempt)
        exam = self._exam(attempt.exam_id)
        return self._attempt_out(attempt, exam, with_paper=attempt.status == domain.STARTED)

    @rpc(roles=STAFF)
    @transactional
    def reopen_attempt(self, attempt_id, payload):
        """Void an attempt so the trainee may sit the exam again (an operator's decision, audited)."""
        data = load(schemas.ReopenIn, payload)
        attempt = self._attempt(attempt_id)
        domain.ensure_reopenable(attempt.status)
        attempt.status, attempt.void_reason = domain.ATTEMPT.next(attempt.status, "reopen"), data["reason"]
        self.db.emit("attempt_reopened", attempt.id, dict(self._attempt_ref(attempt), reason=data["reason"]))
        self.db.audit(self.caller, "attempt.reopen", "attempt", attempt.id,
                      {"reason": data["reason"], "score": str(attempt.score) if attempt.score is not None else None})
        return self._attempt_out(attempt, self._exam(attempt.exam_id))

    @rpc(roles=STAFF)
    @transactional
    def import_paper_scores(self, exam_id, payload):
        """Scores of a class that sat the exam on paper: one submitted attempt per row."""
        data = load(schemas.PaperScoresIn, payload)
        exam = self._exam(exam_id)
        now = utcnow()
        ids, seen = [], set()
        for i, row in enumerate(data["rows"]):
            try:
                score = domain.check_score(row["score"])
                taker, candidate_id, person_key = self._taker(exam, row, on_behalf=True)
            except (ValidationFailed, RuleViolation) as exc:
                _prefix_row(exc, i)
                raise
            domain.ensure_one_attempt(self._live_attempt(exam, taker) or taker in seen, row=i)
            seen.add(taker)
            attempt = Attempt(agency_id=self.db.agency, exam_id=exam.id, taker=taker, candidate_id=candidate_id,
                              person_key=person_key, status=domain.SUBMITTED, source="paper", started_at=now,
                              submitted_at=now, score=score)
            self.db.session.add(attempt)
            self.db.session.flush()
            self._emit_exam_scored(attempt, exam)
            ids.append(attempt.id)
        self.db.audit(self.caller, "exam.paper_import", "exam", exam.id, {"rows": len(ids)})
        return {"imported": len(ids), "attempt_ids": ids}


    @rpc(roles=STAFF)
    @transactional
    def import_external_results(self, cycle, payload):
        """Scores of a test taken on another platform (a mini-program): exam scores with their source.

        No question bank and no paper: the platform's import (platform + reference) is the exam.
        Each row stands alone: good rows are kept, refused rows come back with their number and
        fields. Importing the same reference again changes nothing for rows already in.
        """
        data = load(schemas.ExternalResultsIn, payload)
        return self._external(as_code(cycle, field="cycle"), data, data["rows"], list(range(1, len(data["rows"]) + 1)))

    @rpc(roles=STAFF)
    @transactional
    def upload_external_results(self, cycle, upload):
        """The same results as a CSV or XLSX export (?exam=&platform=&reference=; header 学员编号,分数)."""
        query = load(schemas.ExternalResultsQuery, (upload or {}).get("query") or {}) if isinstance(upload, dict) \
            else load(schemas.ExternalResultsQuery, {})
        table = read_table(decode_upload(upload), str(upload.get("filename") or ""))
        if not table or len(table) > schemas.EXTERNAL_MAX_ROWS:
            raise ValidationFailed("rows", {"file": [f"between 1 and {schemas.EXTERNAL_MAX_ROWS} rows"]})
        rows = [{key: row.get(zh) or row.get(key) or None for key, zh in schemas.EXTERNAL_HEADERS.items()}
                for row in table]
        # the spreadsheet's own row numbers: the header is row 1
        return self._external(as_code(cycle, field="cycle"), query, rows, list(range(2, len(rows) + 2)))

    def _external(self, cycle, source, rows, numbers):
        exam = self._external_exam(cycle, source)
        result = {"exam_id": exam.id, "exam": exam.kind, "platform": source["platform"],
                  "reference": source["reference"], "imported": 0, "unchanged": 0, "errors": []}
        now = utcnow()
        for number, raw in zip(numbers, rows):
            try:
                row = load(schemas.ExternalRow, {k: v for k, v in raw.items() if v not in (None, "")})
                score = domain.check_score(row["score"])
                if row.get("candidate_id") is None and row.get("id_number"):
                    row["candidate_id"] = self._candidate_of(cycle, row["id_number"])
                taker, candidate_id, person_key = self._taker(exam, row, on_behalf=True)
                attempt = self.db.session.scalar(select(Attempt).where(
                    Attempt.exam_id == exam.id, Attempt.taker == taker, Attempt.status != domain.VOID))
                if attempt is not None:
                    if attempt.score != score:
                        raise RuleViolation("already imported with another score", {"score": [
                            f"this reference gave {domain.score_text(attempt.score)}; void it to import again"]},
                            rule="one_attempt")
                    result["unchanged"] += 1
                    continue
            except (ValidationFailed, RuleViolation, NotFound) as exc:
                result["errors"].append({"row": number, "message": exc.message,
                                         "fields": exc.fields or {"row": [exc.message]},
                                         "rule": getattr(exc, "rule", None)})
                continue
            attempt = Attempt(agency_id=self.db.agency, exam_id=exam.id, taker=taker, candidate_id=candidate_id,
                              person_key=person_key, status=domain.SUBMITTED, source="online", started_at=now,
                              submitted_at=now, score=score)
            self.db.session.add(attempt)
            self.db.session.flush()
            self._emit_exam_scored(attempt, exam)
            result["imported"] += 1
        self.db.audit(self.caller, "exam.external_import", "exam", exam.id, {
            "platform": source["platform"], "reference": source["reference"], "imported": result["imported"],
            "unchanged": result["unchanged"], "refused": len(result["errors"])})
        return schema_instance(schemas.ExternalResultsOut).dump(result)

    def _candidate_of(self, cycle, id_number) -> int:
        """The trainee of ``cycle`` with this ID number (the platform knows people by it)."""
        found = self.db.session.scalar(select(Trainee.candidate_id).where(
            Trainee.agency_id == self.db.agency, Trainee.cycle == cycle,
            Trainee.person_key == get_vault().blind_index(id_number)))
        if found is None:
            raise NotFound("no trainee of this cycle has this ID number", {"id_number": ["not a trainee of the cycle"]})
        return found

    def _external_exam(self, cycle, source):
        """The exam row standing for one platform import, found again by (cycle, kind, platform, reference).

        Locked for the import: a second import of the same export waits, then finds the rows in. Two
        first imports racing both insert; the unique key lets one through and the other takes its row.
        """
        def find():
            return self.db.session.scalar(select(Exam).where(
                Exam.agency_id == self.db.agency, Exam.cycle == cycle, Exam.kind == source["exam"],
                Exam.platform == source["platform"], Exam.reference == source["reference"]).with_for_update())

        exam = find()
        if exam is not None:
            return exam
        exam = Exam(agency_id=self.db.agency, kind=source["exam"], cycle=cycle, class_id=None, seed=0,
                    draw=[{"platform": source["platform"], "reference": source["reference"]}],
                    platform=source["platform"], reference=source["reference"],
                    title=f"{source['platform']} {source['reference']}"[:200], paper=[], answer_key={},
                    duration_minutes=0, pass_mark=domain.DEFAULT_PASS_MARK, created_at=utcnow())
        try:
            with self.db.session.begin_nested():
                self.db.session.add(exam)
                self.db.session.flush()
        except IntegrityError:  # a concurrent import of the same export made it first (and has committed)
            return find()
        self.db.emit("exam_created", exam.id, {"exam_id": exam.id, "kind": exam.kind, "cycle": exam.cycle,
                                               "class_id": None, "question_count": 0,
                                               "platform": exam.platform, "reference": exam.reference})
        return exam

    @rpc(roles=EXPERTS)
    @transactional
    def score_by_expert(self, payload):
        principal = self.caller
        data = load(schemas.ExpertScoreIn, payload)
        score = domain.check_score(data["score"])
        trainee = self._trainee(data["candidate_id"], field="candidate_id")
        stage = domain.PART_STAGE[data["part"]]
        group_id = self.db.session.scalar(select(GroupMember.group_id).where(
            GroupMember.trainee_id == trainee.id, GroupMember.stage == stage))
        mine = group_id is not None and self.db.session.scalar(select(GroupExpert.id).where(
            GroupExpert.group_id == group_id, GroupExpert.expert == principal.person))
        if not mine:
            raise RuleViolation(f"expert {principal.person} is not on the panel of this trainee's {stage} group",
                                {"candidate_id": ["not in a group assigned to you"]}, rule="expert_group")
        now = utcnow()
        replaced = self._put_expert_score(trainee, data["part"], principal.person, score, data["comment"], now)
        mean, size = self._emit_panel_mean(trainee, data["part"], stage, now)
        return schema_instance(schemas.ExpertScoreOut).dump({
            "candidate_id": trainee.candidate_id, "cycle": trainee.cycle, "part": data["part"],
            "expert": principal.person, "score": domain.score_text(score), "replaced": replaced,
            "panel_mean": domain.score_text(mean), "panel_size": size})

    @rpc(roles=STAFF)
    @transactional
    def enter_score_sheet(self, group_id, payload):
        """A panel's paper score sheet, entered by staff: rows of (expert, candidate, score)."""
        data = load(schemas.ScoreSheetIn, payload)
        labels = [f"rows.{i}" for i in range(len(data["rows"]))]
        return self._score_sheet(group_id, data["part"], data["rows"], labels, data.get("reference"))

    @rpc(roles=STAFF)
    @transactional
    def upload_score_sheet(self, group_id, upload):
        """The same sheet as a CSV or XLSX file (``?part=key_expert``); header 专家,学员编号,分数[,评语]."""
        query = load(schemas.ScoreSheetQuery, (upload or {}).get("query") or {}) if isinstance(upload, dict) else {}
        raw = decode_upload(upload)
        table = read_table(raw, str(upload.get("filename") or ""))
        if not table:
            raise ValidationFailed("empty sheet", {"file": ["no score rows under the header"]})
        if len(table) > schemas.SHEET_MAX_ROWS:
            raise ValidationFailed("too many rows", {"file": [f"at most {schemas.SHEET_MAX_ROWS} rows"]})
        rows, labels, errors = [], [], {}
        for n, row in enumerate(table, start=2):  # the spreadsheet's own row number: the header is row 1
            picked = {key: row.get(zh) or row.get(key) or None for key, zh in schemas.SHEET_HEADERS.items()}
            if isinstance(picked["candidate_id"], str) and picked["candidate_id"].isdigit():
                picked["candidate_id"] = int(picked["candidate_id"])  # a cell is text; the id is a number
            try:
                rows.append(load(schemas.ScoreSheetRow, {k: v for k, v in picked.items() if v is not None}))
                labels.append(f"row {n}")
            except ValidationFailed as exc:
                errors.update({f"row {n}.{k}": v for k, v in exc.fields.items()})
        if errors:
            raise ValidationFailed(f"score sheet: {len(errors)} field(s) refused", errors)
        return self._score_sheet(group_id, query["part"], rows, labels,
                                 query.get("reference") or str(upload.get("filename") or "") or None)

    def _score_sheet(self, group_id, part, rows, labels, reference):
        group = agency_row(self.db.session, Group, self.db.agency, group_id, not_found="group")
        # the group row is the sheet's lock: two entries of the same sheet wait for each other, and the
        # second finds the first one's scores in (each score stored once, each mean emitted once)
        self.db.session.get(Group, group.id, with_for_update=True, populate_existing=True)
        stage = domain.PART_STAGE[part]
        if group.stage != stage:
            raise RuleViolation(f"part {part} is scored in the {stage} stage, group {group.id} is {group.stage}",
                                {"part": [f"not a part of the {group.stage} stage"]}, rule="score_sheet_part")
        panel = set(self.db.session.scalars(select(GroupExpert.expert).where(GroupExpert.group_id == group.id)))
        members = {t.candidate_id: t for t in self.db.session.scalars(
            select(Trainee).join(GroupMember, GroupMember.trainee_id == Trainee.id)
            .where(GroupMember.group_id == group.id))}
        shape, refused, seen = {}, {}, {}
        scores = []
        for label, row in zip(labels, rows):
            try:
                score = domain.check_score(row["score"])
            except ValidationFailed as exc:
                shape.update({f"{label}.{k}": v for k, v in exc.fields.items()})
                continue
            key = (row["expert"], row["candidate_id"])
            if key in seen:
                shape[f"{label}.candidate_id"] = [f"scored twice by {row['expert']} on this sheet (also {seen[key]})"]
                continue
            seen[key] = label
            if row["expert"] not in panel:  # the same rules as an expert's own entry (score_by_expert)
                refused[f"{label}.expert"] = [f"not on the panel of group {group.id} (expert_group)"]
            if row["candidate_id"] not in members:
                refused[f"{label}.candidate_id"] = [f"not a member of group {group.id} (expert_group)"]
            scores.append((row, score, label))
        if shape:
            raise ValidationFailed(f"score sheet: {len(shape)} field(s) refused", shape)
        if refused:
            raise RuleViolation(f"score sheet: {len(refused)} field(s) refused", refused, rule="expert_group")
        now = utcnow()
        stored = {(s.trainee_id, s.expert): s for s in self.db.session.scalars(select(ExpertScore).where(
            ExpertScore.trainee_id.in_([t.id for t in members.values()]), ExpertScore.part == part))}
        results, changed = [], []
        for row, score, label in scores:
            trainee = members[row["candidate_id"]]
            same = stored.get((trainee.id, row["expert"]))
            result = {"row": label, "expert": row["expert"], "candidate_id": row["candidate_id"],
                      "score": domain.score_text(score), "replaced": None, "unchanged": True}
            results.append(result)
            if same is not None and same.score == score and (same.comment or None) == (row.get("comment") or None):
                continue  # already in, as on this sheet: entering it again changes nothing
            result["replaced"] = self._put_expert_score(trainee, part, row["expert"], score, row.get("comment"),
                                                        now, entered_by=self.caller, reference=reference)
            result["unchanged"] = False
            changed.append(row)
        scored = sorted({row["candidate_id"] for row in changed})
        means = {}
        for candidate_id in scored:
            means[candidate_id] = domain.score_text(self._emit_panel_mean(members[candidate_id], part, stage, now)[0])
        for result in results:
            if result["candidate_id"] not in means:  # nothing new for this candidate: no event, the mean as it is
                panel = self._panel_scores(members[result["candidate_id"]], part)
                means[result["candidate_id"]] = domain.score_text(domain.panel_mean([Decimal(p) for p in panel]))
            result["panel_mean"] = means[result["candidate_id"]]
        experts = sorted({row["expert"] for row, _, _ in scores})
        if changed:  # a sheet entered again as it was is no new entry
            self.db.audit(self.caller, "score_sheet.enter", "group", group.id, {
                "part": part, "rows": len(scores), "changed": len(changed), "panel": experts,
                "reference": reference, "entered_by": getattr(self.caller, "actor", None)})
        return schema_instance(schemas.ScoreSheetOut).dump({
            "group_id": group.id, "part": part, "rows": len(scores), "changed": len(changed),
            "unchanged": len(scores) - len(changed), "candidates": len(scored), "panel": experts,
            "entered_by": getattr(self.caller, "actor", None), "reference": reference, "results": results})

    def _put_expert_score(self, trainee, part, expert, score, comment, now, entered_by=None, reference=None):
        """Create or replace one expert's score of a trainee; audited as the expert's, or as entered for them."""
        existing = self.db.session.scalar(select(ExpertScore).where(
            ExpertScore.trainee_id == trainee.id, ExpertScore.part == part, ExpertScore.expert == expert))
        replaced = None
        if existing is None:
            self.db.session.add(ExpertScore(agency_id=self.db.agency, trainee_id=trainee.id, part=part,
                                            expert=expert, score=score, comment=comment,
                                            created_at=now, updated_at=now))
        else:
            replaced = domain.score_text(existing.score)
            existing.score, existing.comment, existing.updated_at = score, comment, now
        self.db.session.flush()
        detail = {"part": part, "score": domain.score_text(score), "previous": replaced}
        if entered_by is not None:  # a paper sheet: staff entered it on the expert's behalf
            detail.update(on_behalf_of=expert, source="paper_sheet", reference=reference)
        self.db.audit(self.caller, "expert_score.replace" if replaced else "expert_score.create", "trainee",
                      trainee.candidate_id, detail)
        return replaced

    def _panel_scores(self, trainee, part) -> list:
        return list(self.db.session.scalars(select(ExpertScore.score).where(
            ExpertScore.trainee_id == trainee.id, ExpertScore.part == part)))

    def _emit_panel_mean(self, trainee, part, stage, now):
        panel = self._panel_scores(trainee, part)
        mean = domain.panel_mean([Decimal(s) for s in panel])
        self.db.emit("expert_scored", trainee.candidate_id, {
            "cycle": trainee.cycle, "candidate_id": trainee.candidate_id, "stage": stage, "part": part,
            "score": domain.score_text(mean), "panel_size": len(panel),
            # the exact sum: scoring takes total / size as the exact mean instead of the rounded one
            "panel_total": domain.score_text(sum((Decimal(s) for s in panel), Decimal(0))), "scored_at": now})
        return mean, len(panel)

    def _add_question(self, data) -> Question:
        options, answer = domain.normalise_question(data["kind"], data["options"], data["answer"])
        question = Question(agency_id=self.db.agency, topic=data["topic"], kind=data["kind"], text=data["text"],
                            options=options, answer=answer, created_at=utcnow())
        self.db.session.add(question)
        self.db.session.flush()
        return question

    @staticmethod
    def _attempt_ref(attempt) -> dict:
        return {"attempt_id": attempt.id, "exam_id": attempt.exam_id, "candidate_id": attempt.candidate_id,
                "person_key": attempt.person_key}

    def _taker(self, exam, data, on_behalf=False):
        """(taker key, candidate_id, person_key) of whoever sits ``exam``; lecturers sit as themselves."""
        if exam.kind == domain.CLASS_EXAM:
            self.caller.require(*CLASS_STAFF)
            if not data.get("id_number"):
                raise ValidationFailed("who sits the exam?", {"id_number": ["required for a class exam"]})
            key = get_vault().blind_index(data["id_number"])
            seat = self.db.session.scalar(select(ClassSeat).where(
                ClassSeat.class_id == exam.class_id, ClassSeat.person_key == key, ClassSeat.status != domain.CANCELLED))
            if seat is None:
                raise RuleViolation("the ID number is not a trainee of this class",
                                    {"id_number": ["not seated in the class"]}, rule="identity_check")
            klass = self._class(exam.class_id)
            days = self._attendance_days(klass, [seat])[seat.id]
            if not domain.may_sit_class_exam(days, utcnow(), seat.excused_reason is not None):
                missed = "; ".join(f"{d['date']} {d['status']}" for d in days if d["status"] != domain.PRESENT)
                raise RuleViolation(
                    f"only trainees who attended the whole class (or were excused by the class manager) sit "
                    f"its exam; {seat.person_name}: {missed}",
                    {"id_number": ["did not attend the whole class"]}, rule="exam_attendance")
            return f"person:{key}", None, key
        if self.caller.role == "lecturer" and not on_behalf:
            trainee = self.db.session.scalar(select(Trainee).where(
                Trainee.agency_id == self.db.agency, Trainee.cycle == exam.cycle,
                (Trainee.person_key == self.caller.person) | (Trainee.candidate_id == _int_or_zero(self.caller.person))))
            if trainee is None or (data.get("candidate_id") not in (None, trainee.candidate_id)):
                raise Forbidden("a lecturer sits exams as themselves only")
        else:
            self.caller.require(*STAFF)
            if not data.get("candidate_id"):
                raise ValidationFailed("who sits the exam?", {"candidate_id": ["required for a programme exam"]})
            trainee = self._trainee(data["candidate_id"], field="candidate_id")
        domain.ensure_may_sit(exam.kind, exam.cycle, trainee.cycle, trainee.status, trainee.stage,
                              trainee.candidate_id)
        return f"candidate:{trainee.candidate_id}", trainee.candidate_id, trainee.person_key

    def _live_attempt(self, exam, taker):
        """The id of the taker's attempt at ``exam`` that counts (any but a void one), or None."""
        return self.db.session.scalar(select(Attempt.id).where(
            Attempt.exam_id == exam.id, Attempt.taker == taker, Attempt.status != domain.VOID))

    def _check_taker(self, attempt):
        if self.caller.role == "lecturer":
            trainee = self._trainee_or_none(attempt.candidate_id) if attempt.candidate_id else None
            if trainee is None or not self._is_self(trainee):
                raise NotFound(f"attempt {attempt.id} not found")
        else:
            self.caller.require(*CLASS_STAFF)
            if self.caller.role == "regulator":
                # a regulator reads its own district's attempts: the class's district, or the trainee's
                exam = self._exam(attempt.exam_id)
                try:
                    if exam.class_id is not None:
                        self._class(exam.class_id)
                    else:
                        self._trainee(attempt.candidate_id)
                except NotFound:
                    raise NotFound(f"attempt {attempt.id} not found") from None

    def _grade(self, attempt, exam, answers, now):
        right, score = domain.grade(exam.paper, {int(k): v for k, v in exam.answer_key.items()}, answers)
        attempt.answers, attempt.correct, attempt.score = answers, right, score
        attempt.status, attempt.submitted_at = domain.ATTEMPT.next(attempt.status, "submit"), now
        self._emit_exam_scored(attempt, exam)

    def _emit_exam_scored(self, attempt, exam):
        if exam.kind not in domain.EXAM_STAGE:
            return  # a class exam's result travels in training_completed
        self.db.emit("exam_scored", attempt.candidate_id, {
            "cycle": exam.cycle, "candidate_id": attempt.candidate_id, "stage": domain.EXAM_STAGE[exam.kind],
            "exam": exam.kind, "score": domain.score_text(attempt.score), "attempt_id": attempt.id,
            "scored_at": attempt.submitted_at, "source": attempt.source,
            # an external test's source: the platform it was taken on and its export's reference
            "platform": exam.platform, "reference": exam.reference})


def _prefix_row(exc, i):
    """Name the import row in an error raised while checking it."""
    exc.message = f"row {i}: {exc.message}"
    exc.fields = {f"rows.{i}.{k}": v for k, v in exc.fields.items()} or {f"rows.{i}": [exc.message]}
    exc.args = (exc.message, exc.fields, *exc.args[2:])


def _int_or_zero(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
