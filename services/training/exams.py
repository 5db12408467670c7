"""The question bank, exams and attempts (online and on paper), and expert panels' scores."""
from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from shared.auth import STAFF
from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Forbidden, NotFound, RuleViolation, ValidationFailed
from shared.pii import get_vault
from shared.schemas import load
from shared.workdays import utcnow

from . import domain, schemas
from .models import Attempt, ClassSeat, Exam, ExpertScore, GroupExpert, GroupMember, Question, Trainee
from .roles import CLASS_STAFF, EXAM_READERS, EXPERTS, TAKERS


class ExamRpc:

    @rpc(roles=STAFF)
    @transactional
    def create_question(self, payload):
        data = load(schemas.QuestionIn, payload)
        question = self._add_question(data)
        self.db.emit("questions_added", question.id, {"question_ids": [question.id]})
        self.db.audit(self.caller, "questions.add", "question", question.id, {"topic": question.topic})
        return schemas.QuestionOut().dump(question)

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
                                               "class_id": exam.class_id, "question_count": len(paper)})
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
        existing = self.db.session.scalar(select(ExpertScore).where(
            ExpertScore.trainee_id == trainee.id, ExpertScore.part == data["part"],
            ExpertScore.expert == principal.person))
        replaced = None
        if existing is None:
            self.db.session.add(ExpertScore(agency_id=self.db.agency, trainee_id=trainee.id, part=data["part"],
                                            expert=principal.person, score=score, comment=data["comment"],
                                            created_at=now, updated_at=now))
        else:
            replaced = domain.score_text(existing.score)
            existing.score, existing.comment, existing.updated_at = score, data["comment"], now
        self.db.session.flush()
        self.db.audit(self.caller, "expert_score.replace" if replaced else "expert_score.create", "trainee",
                      trainee.candidate_id, {"part": data["part"], "score": domain.score_text(score),
                                             "previous": replaced})
        panel = list(self.db.session.scalars(select(ExpertScore.score).where(
            ExpertScore.trainee_id == trainee.id, ExpertScore.part == data["part"])))
        mean = domain.panel_mean([Decimal(s) for s in panel])
        self.db.emit("expert_scored", trainee.candidate_id, {
            "cycle": trainee.cycle, "candidate_id": trainee.candidate_id, "stage": stage, "part": data["part"],
            "score": domain.score_text(mean), "panel_size": len(panel),
            # the exact sum: scoring takes total / size as the exact mean instead of the rounded one
            "panel_total": domain.score_text(sum((Decimal(s) for s in panel), Decimal(0))), "scored_at": now})
        return schemas.ExpertScoreOut().dump({
            "candidate_id": trainee.candidate_id, "cycle": trainee.cycle, "part": data["part"],
            "expert": principal.person, "score": domain.score_text(score), "replaced": replaced,
            "panel_mean": domain.score_text(mean), "panel_size": len(panel)})

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
            "scored_at": attempt.submitted_at, "source": attempt.source})


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
