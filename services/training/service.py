"""The training service: nameko glue around the rules in ``domain``.

Lecturer programme (seed 000 §五–七): stages and course plans, trainees from
registration's approvals, advancement from scoring's decisions, groups, exams,
expert panels. Safety-training classes (seed 004): institutions, teachers,
classes, attendance with identity check, hours, certificates, ratings.
"""
from __future__ import annotations

import base64
import json
import secrets
from collections import defaultdict
from datetime import time, timedelta
from decimal import Decimal

from marshmallow import ValidationError
from nameko.dependency_providers import Config
from sqlalchemy import func, select

from shared.auth import STAFF, CallerProvider
from shared.db import Database, transactional
from shared.entrypoints import PlatformRpc, rpc
from shared.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from shared.pii import get_vault, mask_name
from shared.schemas import load, page_of
from shared.subscriber import subscribe
from shared.workdays import utcnow

from . import domain, pdf, schemas
from .models import (
    AbsenceReport, Attempt, Attendance, Base, Certificate, ClassSeat, ClassTeacher, EnrolledPerson, Exam,
    ExpertScore, Group, GroupExpert, GroupMember, HoursEntry, Institution, Question, Rating, Stage, Teacher,
    Trainee, TrainingClass, platform,
)

READERS = ("admin", "operator", "integrator", "regulator")
CLASS_STAFF = ("admin", "operator", "regulator")  # a regulator acts on its own district's classes


class TrainingService(PlatformRpc):
    name = "training"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    config = Config()

    # ---- events consumed ---------------------------------------------------------------------

    @subscribe("registration", "candidate_approved")
    @transactional
    def on_candidate_approved(self, event):
        if not self.db.claim(event, "training.on_candidate_approved"):
            return
        d = event.data
        trainee = self._trainee_or_none(d["candidate_id"])
        now = utcnow()
        if trainee is None:
            self.db.session.add(Trainee(
                agency_id=self.db.agency, cycle=d["cycle"], candidate_id=d["candidate_id"],
                person_key=d["person_key"], name=d["name"], gender=d.get("gender"),
                id_masked=d.get("id_number_masked"), unit_id=d.get("unit_id"), unit_kind=d.get("unit_kind"),
                district=d.get("district"), stage=domain.BASIC, status=domain.ACTIVE, created_at=now, updated_at=now))

    @subscribe("registration", "candidate_withdrawn")
    @transactional
    def on_candidate_withdrawn(self, event):
        if not self.db.claim(event, "training.on_candidate_withdrawn"):
            return
        trainee = self._trainee_or_none(event.data["candidate_id"])
        if trainee is None:  # withdrawn before approval: never a trainee
            return
        trainee.status, trainee.status_reason, trainee.updated_at = domain.WITHDRAWN, event.data["reason"], utcnow()
        # the seat in a group is freed for someone else
        for member in self.db.session.scalars(select(GroupMember).where(GroupMember.trainee_id == trainee.id)):
            self.db.session.delete(member)

    @subscribe("scoring", "candidate_advanced")
    @transactional
    def on_candidate_advanced(self, event):
        if not self.db.claim(event, "training.on_candidate_advanced"):
            return
        data = self._event_data(schemas.AdvancedData, event)
        trainee = self._trainee_or_none(data["candidate_id"])
        if trainee is None:
            # not yet approved here (registration's event still on its way): retried, then parked
            raise LookupError(f"candidate {data['candidate_id']} is not a trainee here yet")
        trainee.stage = domain.advance_stage(trainee.stage, data["to_stage"])
        if trainee.status == domain.NOT_ADVANCED:
            trainee.status, trainee.status_reason = domain.ACTIVE, None
        trainee.updated_at = utcnow()

    @subscribe("scoring", "candidate_not_advanced")
    @transactional
    def on_candidate_not_advanced(self, event):
        if not self.db.claim(event, "training.on_candidate_not_advanced"):
            return
        data = self._event_data(schemas.NotAdvancedData, event)
        trainee = self._trainee_or_none(data["candidate_id"])
        if trainee is None or trainee.status == domain.WITHDRAWN:
            return
        # a decision about an earlier stage than the trainee reached is stale
        if domain.STAGE_ORDER.get(data["stage"], -1) >= domain.STAGE_ORDER[trainee.stage]:
            trainee.status, trainee.status_reason, trainee.updated_at = \
                domain.NOT_ADVANCED, data["reason"], utcnow()

    @subscribe("registration", "trainee_enrolled")
    @transactional
    def on_trainee_enrolled(self, event):
        if not self.db.claim(event, "training.on_trainee_enrolled"):
            return
        d = event.data
        if self._enrolled_or_none(d["enrolment_id"]) is None:
            self.db.session.add(EnrolledPerson(
                agency_id=self.db.agency, enrolment_id=d["enrolment_id"], year=d["year"], district=d["district"],
                role=d["role"], unit_name=d["unit_name"], person_name=d["person_name"],
                id_masked=d["id_number_masked"], person_key=d["person_key"], status="enrolled",
                received_at=utcnow()))

    @subscribe("registration", "enrolment_cancelled")
    @transactional
    def on_enrolment_cancelled(self, event):
        if not self.db.claim(event, "training.on_enrolment_cancelled"):
            return
        person = self._enrolled_or_none(event.data["enrolment_id"])
        if person is None:
            return
        person.status = "cancelled"
        open_seats = self.db.session.scalars(
            select(ClassSeat).join(TrainingClass, ClassSeat.class_id == TrainingClass.id).where(
                ClassSeat.enrolment_id == person.enrolment_id, ClassSeat.status == "enrolled",
                TrainingClass.status == "open", TrainingClass.agency_id == self.db.agency))
        for seat in open_seats:
            seat.status = "cancelled"

    # ---- stages and trainees ------------------------------------------------------------------

    @rpc
    @transactional
    def create_stages(self, cycle, payload):
        self.caller.require(*STAFF)
        data = load(schemas.StagesIn, payload)
        cycle = self._cycle_code(cycle)
        plan = domain.load_plan(data["plan"])
        if self.db.session.scalar(select(Stage.id).where(Stage.agency_id == self.db.agency, Stage.cycle == cycle)):
            raise Conflict(f"cycle {cycle} already has its stages", {"cycle": ["stages exist"]})
        now = utcnow()
        for name in domain.STAGES:
            spec = plan["stages"][name]
            self.db.session.add(Stage(
                agency_id=self.db.agency, cycle=cycle, stage=name, title=spec["title"], mode=spec["mode"],
                plan=data["plan"], sessions=_jsonable(spec["sessions"]), courses=_jsonable(spec["courses"]),
                created_at=now))
        self.db.session.flush()
        self.db.emit("stages_planned", cycle, {"cycle": cycle, "plan": data["plan"], "stages": list(domain.STAGES)})
        self.db.audit(self.caller, "stages.create", "cycle", cycle, data)
        return self._stages_out(cycle)

    @rpc
    def list_stages(self, cycle):
        self.caller.require(*READERS, "expert", "lecturer")
        return self._stages_out(self._cycle_code(cycle))

    @rpc
    def list_trainees(self, cycle, query=None):
        self.caller.require(*READERS, "expert")
        params = load(schemas.TraineeQuery, query)
        stmt = select(Trainee).where(Trainee.agency_id == self.db.agency, Trainee.cycle == self._cycle_code(cycle))
        if self.caller.role == "regulator":
            stmt = stmt.where(Trainee.district == self.caller.district)
        for key in ("stage", "status", "district"):
            if key in params:
                stmt = stmt.where(getattr(Trainee, key) == params[key])
        return self._page(stmt, Trainee.id, params, self._trainee_out)

    @rpc
    def get_trainee(self, candidate_id):
        self.caller.require(*READERS, "expert", "lecturer")
        trainee = self._trainee(candidate_id)
        if self.caller.role == "lecturer" and not self._is_self(trainee):
            raise NotFound(f"trainee {candidate_id} not found")
        return self._trainee_out(trainee)

    # ---- groups ----------------------------------------------------------------------------------

    @rpc
    @transactional
    def assign_groups(self, cycle, stage, payload=None):
        """Create the stage's groups if needed and place every unplaced active trainee."""
        self.caller.require(*STAFF)
        cycle, stage = self._cycle_code(cycle), self._stage_name(stage)
        groups = self._ensure_groups(cycle, stage)
        members = self.db.session.execute(
            select(GroupMember.group_id, Trainee.district, Trainee.unit_kind)
            .join(Trainee, GroupMember.trainee_id == Trainee.id)
            .where(GroupMember.group_id.in_([g.id for g in groups]))).all()
        seats = {g.id: domain.Seat(g.id, g.capacity) for g in groups}
        for group_id, district, kind in members:
            seat = seats[group_id]
            seat.districts[district] += 1
            seat.kinds[kind] += 1
            seat.size += 1
        placed_ids = select(GroupMember.trainee_id).where(GroupMember.stage == stage)
        waiting = self.db.session.execute(
            select(Trainee.id, Trainee.district, Trainee.unit_kind).where(
                Trainee.agency_id == self.db.agency, Trainee.cycle == cycle, Trainee.stage == stage,
                Trainee.status == domain.ACTIVE, Trainee.id.not_in(placed_ids))).all()
        placement = domain.assign_groups([tuple(w) for w in waiting], list(seats.values()))
        now = utcnow()
        for trainee_id, group_id in placement.items():
            self.db.session.add(GroupMember(group_id=group_id, trainee_id=trainee_id, stage=stage,
                                            assigned_by="auto", assigned_at=now))
        self.db.session.flush()
        if placement:
            candidates = dict(self.db.session.execute(
                select(Trainee.id, Trainee.candidate_id).where(Trainee.id.in_(list(placement)))).all())
            self.db.emit("groups_assigned", f"{cycle}/{stage}", {"cycle": cycle, "stage": stage, "placements": [
                {"candidate_id": candidates[t], "group_id": g} for t, g in sorted(placement.items())]})
        self.db.audit(self.caller, "groups.assign", "stage", f"{cycle}/{stage}", {"assigned": len(placement)})
        return schemas.AssignmentOut().dump({"cycle": cycle, "stage": stage, "assigned": len(placement),
                                             "groups": [self._group_out(g) for g in groups]})

    @rpc
    def list_groups(self, cycle, stage):
        self.caller.require(*READERS, "expert")
        cycle, stage = self._cycle_code(cycle), self._stage_name(stage)
        groups = self.db.session.scalars(select(Group).where(
            Group.agency_id == self.db.agency, Group.cycle == cycle, Group.stage == stage)
            .order_by(Group.batch, Group.number)).all()
        if self.caller.role == "expert":
            mine = set(self.db.session.scalars(select(GroupExpert.group_id).where(
                GroupExpert.expert == self.caller.person)))
            groups = [g for g in groups if g.id in mine]
        return [self._group_out(g) for g in groups]

    @rpc
    @transactional
    def move_trainee(self, group_id, candidate_id, payload=None):
        """An operator's correction: put a trainee into this group (capacity still holds)."""
        self.caller.require(*STAFF)
        group = self._group(group_id)
        trainee = self._trainee(candidate_id)
        if trainee.cycle != group.cycle or trainee.stage != group.stage or trainee.status != domain.ACTIVE:
            raise RuleViolation(
                f"trainee {trainee.candidate_id} is {trainee.status} at the {trainee.stage} stage of {trainee.cycle}",
                {"candidate_id": [f"not an active {group.stage} trainee of {group.cycle}"]}, rule="group_stage")
        member = self.db.session.scalar(select(GroupMember).where(
            GroupMember.trainee_id == trainee.id, GroupMember.stage == group.stage))
        if member is not None and member.group_id == group.id:
            return self._group_out(group)
        domain.ensure_room(self._group_size(group.id), group.capacity)
        previous = member.group_id if member else None
        if member is None:
            member = GroupMember(trainee_id=trainee.id, stage=group.stage)
            self.db.session.add(member)
        member.group_id, member.assigned_by, member.assigned_at = group.id, self.caller.actor, utcnow()
        self.db.session.flush()
        self.db.emit("trainee_moved", trainee.candidate_id, {
            "cycle": group.cycle, "stage": group.stage, "candidate_id": trainee.candidate_id,
            "from_group": previous, "to_group": group.id})
        self.db.audit(self.caller, "groups.move", "trainee", trainee.candidate_id,
                      {"from_group": previous, "to_group": group.id})
        return self._group_out(group)

    @rpc
    @transactional
    def add_group_expert(self, group_id, payload):
        self.caller.require(*STAFF)
        data = load(schemas.ExpertIn, payload)
        group = self._group(group_id)
        exists = self.db.session.scalar(select(GroupExpert.id).where(
            GroupExpert.group_id == group.id, GroupExpert.expert == data["expert"]))
        if not exists:
            self.db.session.add(GroupExpert(group_id=group.id, expert=data["expert"], expert_name=data["name"]))
            self.db.session.flush()
            self.db.emit("group_expert_assigned", group.id, {"group_id": group.id, "expert": data["expert"]})
            self.db.audit(self.caller, "groups.expert_add", "group", group.id, data)
        return self._group_out(group)

    # ---- question bank and exams --------------------------------------------------------------

    @rpc
    @transactional
    def create_question(self, payload):
        self.caller.require(*STAFF)
        data = load(schemas.QuestionIn, payload)
        question = self._add_question(data)
        self.db.emit("questions_added", question.id, {"question_ids": [question.id]})
        self.db.audit(self.caller, "questions.add", "question", question.id, {"topic": question.topic})
        return schemas.QuestionOut().dump(question)

    @rpc
    @transactional
    def import_questions(self, payload):
        self.caller.require(*STAFF)
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

    @rpc
    def list_questions(self, query=None):
        self.caller.require(*STAFF)
        params = load(schemas.QuestionQuery, query)
        stmt = select(Question).where(Question.agency_id == self.db.agency)
        if "topic" in params:
            stmt = stmt.where(Question.topic == params["topic"])
        return self._page(stmt, Question.id, params, schemas.QuestionOut().dump)

    @rpc
    @transactional
    def create_exam(self, payload):
        self.caller.require(*STAFF)
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

    @rpc
    def get_exam(self, exam_id):
        self.caller.require(*READERS, "lecturer")
        return self._exam_out(self._exam(exam_id))

    @rpc
    @transactional
    def start_attempt(self, exam_id, payload):
        exam = self._exam(exam_id)
        data = load(schemas.TakerIn, payload)
        taker, candidate_id, person_key = self._taker(exam, data)
        live = self.db.session.scalar(select(Attempt.id).where(
            Attempt.exam_id == exam.id, Attempt.taker == taker, Attempt.status != "void"))
        if live:
            raise RuleViolation(f"one attempt per trainee per exam (attempt #{live} exists)",
                                {"exam_id": ["already attempted; an operator may re-open it"]}, rule="one_attempt")
        now = utcnow()
        attempt = Attempt(agency_id=self.db.agency, exam_id=exam.id, taker=taker, candidate_id=candidate_id,
                          person_key=person_key, status="started", source="online", started_at=now,
                          deadline_at=now + timedelta(minutes=exam.duration_minutes))
        self.db.session.add(attempt)
        self.db.session.flush()
        self.db.emit("attempt_started", attempt.id, dict(self._attempt_ref(attempt), deadline_at=attempt.deadline_at))
        return self._attempt_out(attempt, exam, with_paper=True)

    @rpc
    @transactional
    def submit_attempt(self, attempt_id, payload):
        data = load(schemas.AnswersIn, payload)
        attempt = self._attempt(attempt_id)
        exam = self._exam(attempt.exam_id)
        self._check_taker(attempt)
        if attempt.status != "started":
            raise RuleViolation(f"the attempt is {attempt.status}", {"status": [f"is {attempt.status}"]},
                                rule="one_attempt")
        now = utcnow()
        domain.ensure_in_time(attempt.deadline_at, now)
        unknown = sorted(set(map(str, data["answers"])) - {str(q) for q in exam.paper})
        if unknown:
            raise ValidationFailed("answers to questions not on the paper",
                                   {"answers": [f"not on this paper: {', '.join(unknown[:10])}"]})
        self._grade(attempt, exam, data["answers"], now)
        return self._attempt_out(attempt, exam)

    @rpc
    def get_attempt(self, attempt_id):
        attempt = self._attempt(attempt_id)
        self._check_taker(attempt)
        exam = self._exam(attempt.exam_id)
        return self._attempt_out(attempt, exam, with_paper=attempt.status == "started")

    @rpc
    @transactional
    def reopen_attempt(self, attempt_id, payload):
        """Void an attempt so the trainee may sit the exam again (an operator's decision, audited)."""
        self.caller.require(*STAFF)
        data = load(schemas.ReopenIn, payload)
        attempt = self._attempt(attempt_id)
        if attempt.status == "void":
            raise Conflict("the attempt is already void", {"status": ["void"]})
        attempt.status, attempt.void_reason = "void", data["reason"]
        self.db.emit("attempt_reopened", attempt.id, dict(self._attempt_ref(attempt), reason=data["reason"]))
        self.db.audit(self.caller, "attempt.reopen", "attempt", attempt.id,
                      {"reason": data["reason"], "score": str(attempt.score) if attempt.score is not None else None})
        return self._attempt_out(attempt, self._exam(attempt.exam_id))

    @rpc
    @transactional
    def import_paper_scores(self, exam_id, payload):
        """Scores of a class that sat the exam on paper: one submitted attempt per row."""
        self.caller.require(*STAFF)
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
            live = self.db.session.scalar(select(Attempt.id).where(
                Attempt.exam_id == exam.id, Attempt.taker == taker, Attempt.status != "void"))
            if live or taker in seen:
                raise RuleViolation(f"row {i}: this trainee already has an attempt",
                                    {f"rows.{i}": ["one attempt per trainee per exam"]}, rule="one_attempt")
            seen.add(taker)
            attempt = Attempt(agency_id=self.db.agency, exam_id=exam.id, taker=taker, candidate_id=candidate_id,
                              person_key=person_key, status="submitted", source="paper", started_at=now,
                              submitted_at=now, score=score)
            self.db.session.add(attempt)
            self.db.session.flush()
            self._emit_exam_scored(attempt, exam)
            ids.append(attempt.id)
        self.db.audit(self.caller, "exam.paper_import", "exam", exam.id, {"rows": len(ids)})
        return {"imported": len(ids), "attempt_ids": ids}

    # ---- expert panels -----------------------------------------------------------------------

    @rpc
    @transactional
    def score_by_expert(self, payload):
        principal = self.caller.require("expert")
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
            "score": domain.score_text(mean), "panel_size": len(panel), "scored_at": now})
        return schemas.ExpertScoreOut().dump({
            "candidate_id": trainee.candidate_id, "cycle": trainee.cycle, "part": data["part"],
            "expert": principal.person, "score": domain.score_text(score), "replaced": replaced,
            "panel_mean": domain.score_text(mean), "panel_size": len(panel)})

    # ---- institutions and teachers ------------------------------------------------------------

    @rpc
    @transactional
    def register_institution(self, payload):
        self.caller.require(*STAFF)
        data = load(schemas.InstitutionIn, payload)
        if self.db.session.scalar(select(Institution.id).where(
                Institution.agency_id == self.db.agency, Institution.name == data["name"])):
            raise Conflict(f"institution {data['name']!r} exists", {"name": ["already exists"]})
        now = utcnow()
        institution = Institution(agency_id=self.db.agency, created_at=now, updated_at=now, **data)
        self.db.session.add(institution)
        self.db.session.flush()
        self.db.emit("institution_registered", institution.id, {
            "institution_id": institution.id, "name": institution.name,
            "qualified": not domain.institution_failures(_institution_dict(institution))})
        self.db.audit(self.caller, "institution.register", "institution", institution.id, data)
        return self._institution_out(institution)

    @rpc
    def list_institutions(self):
        self.caller.require(*READERS)
        rows = self.db.session.scalars(select(Institution).where(
            Institution.agency_id == self.db.agency).order_by(Institution.id))
        return [self._institution_out(i) for i in rows]

    @rpc
    @transactional
    def register_teacher(self, payload):
        self.caller.require(*STAFF)
        data = load(schemas.TeacherIn, payload)
        teacher = Teacher(agency_id=self.db.agency, created_at=utcnow(), **data)
        self.db.session.add(teacher)
        self.db.session.flush()
        self.db.emit("teacher_registered", teacher.id, {"teacher_id": teacher.id, "name": teacher.name})
        self.db.audit(self.caller, "teacher.register", "teacher", teacher.id, data)
        return self._teacher_out(teacher)

    @rpc
    def list_teachers(self):
        self.caller.require(*READERS)
        rows = self.db.session.scalars(select(Teacher).where(Teacher.agency_id == self.db.agency).order_by(Teacher.id))
        return [self._teacher_out(t) for t in rows]

    @rpc
    def get_teacher(self, teacher_id):
        self.caller.require(*READERS)
        return self._teacher_out(self._teacher(teacher_id))

    # ---- classes -----------------------------------------------------------------------------

    @rpc
    @transactional
    def create_class(self, payload):
        self.caller.require(*CLASS_STAFF)
        data = load(schemas.ClassIn, payload)
        self._own_district(data["district"])
        domain.ensure_class_days(data["days"])
        institution = self._institution(data["institution_id"])
        domain.ensure_institution_qualified(_institution_dict(institution))
        domain.ensure_class_capacity(data["capacity"], institution.seats)
        pass_mark = domain.check_score(data["pass_mark"], "pass_mark") if data["pass_mark"] is not None \
            else domain.DEFAULT_PASS_MARK
        if data["day_start"] >= data["day_end"]:
            raise ValidationFailed("the day ends after it starts", {"day_end": ["must be after day_start"]})
        teachers = []
        for i, tid in enumerate(dict.fromkeys(data["teacher_ids"])):
            teacher = self.db.session.get(Teacher, tid)
            if teacher is None or teacher.agency_id != self.db.agency:
                raise ValidationFailed("unknown teacher", {f"teacher_ids.{i}": [f"no teacher {tid}"]})
            if teacher.years_experience < domain.TEACHER_MIN_YEARS:
                raise RuleViolation(f"teacher {teacher.name} has {teacher.years_experience} years; 附件2 asks 5",
                                    {f"teacher_ids.{i}": ["fewer than 5 years in the field"]},
                                    rule="teacher_experience")
            teachers.append(teacher)
        klass = TrainingClass(
            agency_id=self.db.agency, title=data["title"], institution_id=institution.id,
            year=data["days"][0].year, district=data["district"], day1=data["days"][0], day2=data["days"][1],
            day_start=data["day_start"], day_end=data["day_end"], manager_name=data["manager_name"],
            capacity=data["capacity"], class_hours=domain.CLASS_HOURS, pass_mark=pass_mark, status="open",
            created_at=utcnow())
        klass.institution = institution
        self.db.session.add(klass)
        self.db.session.flush()
        for teacher in teachers:
            self.db.session.add(ClassTeacher(class_id=klass.id, teacher_id=teacher.id))
        self.db.session.flush()
        self.db.emit("class_created", klass.id, {"class_id": klass.id, "institution_id": institution.id,
                                                 "year": klass.year, "district": klass.district,
                                                 "capacity": klass.capacity})
        self.db.audit(self.caller, "class.create", "class", klass.id, {"institution_id": institution.id})
        return self._class_out(klass)

    @rpc
    def get_class(self, class_id):
        self.caller.require(*READERS)
        return self._class_out(self._class(class_id))

    @rpc
    @transactional
    def add_seat(self, class_id, payload):
        self.caller.require(*CLASS_STAFF)
        data = load(schemas.SeatIn, payload)
        klass = self._class(class_id, write=True)
        person = self._enrolled_or_none(data["enrolment_id"])
        if person is None:
            raise ValidationFailed("unknown enrolment", {"enrolment_id": [f"no enrolment {data['enrolment_id']}"]})
        if person.status != "enrolled":
            raise RuleViolation("the enrolment was cancelled", {"enrolment_id": ["cancelled"]}, rule="enrolment_status")
        if person.year != klass.year:
            raise RuleViolation(f"enrolled for {person.year}, the class is in {klass.year}",
                                {"enrolment_id": [f"year {person.year} != {klass.year}"]}, rule="enrolment_year")
        existing = self.db.session.scalar(select(ClassSeat).where(
            ClassSeat.class_id == klass.id, ClassSeat.person_key == person.person_key))
        if existing is not None and existing.status != "cancelled":
            raise Conflict("this person already has a seat in the class", {"enrolment_id": ["already seated"]})
        taken = self.db.session.scalar(select(func.count()).where(
            ClassSeat.class_id == klass.id, ClassSeat.status != "cancelled"))
        domain.ensure_class_room(taken, klass.capacity)
        if existing is not None:
            existing.status, existing.enrolment_id = "enrolled", person.enrolment_id
            seat = existing
        else:
            seat = ClassSeat(class_id=klass.id, enrolment_id=person.enrolment_id, person_key=person.person_key,
                             person_name=person.person_name, id_masked=person.id_masked, district=person.district,
                             status="enrolled")
            self.db.session.add(seat)
        self.db.session.flush()
        self.db.emit("trainee_seated", seat.id, {"class_id": klass.id, "seat_id": seat.id,
                                                 "person_key": seat.person_key, "district": seat.district})
        self.db.audit(self.caller, "class.seat", "class", klass.id, {"enrolment_id": person.enrolment_id})
        return self._seat_out(seat)

    @rpc
    @transactional
    def record_attendance(self, class_id, payload):
        self.caller.require(*CLASS_STAFF)
        data = load(schemas.AttendanceIn, payload)
        klass = self._class(class_id, write=True)
        seat = self.db.session.get(ClassSeat, data["seat_id"])
        if seat is None or seat.class_id != klass.id or seat.status == "cancelled":
            raise ValidationFailed("no such seat in this class", {"seat_id": ["not a seat of this class"]})
        if get_vault().blind_index(data["id_number"]) != seat.person_key:
            raise RuleViolation("the ID number presented is not the enrolled person's",
                                {"id_number": ["does not match the enrolled trainee"]}, rule="identity_check")
        at = data["at"] or utcnow()
        day = klass.day1 if data["day"] == 1 else klass.day2
        domain.ensure_on_class_day(at, day)
        row = self.db.session.scalar(select(Attendance).where(
            Attendance.seat_id == seat.id, Attendance.day == data["day"]))
        if row is None:
            row = Attendance(seat_id=seat.id, day=data["day"])
            self.db.session.add(row)
        if data["action"] == "check_in":
            if row.checked_in_at is not None:
                raise Conflict("already checked in that day", {"action": ["checked in already"]})
            row.checked_in_at = at
        else:
            if row.checked_in_at is None:
                raise RuleViolation("check in before checking out", {"action": ["not checked in"]},
                                    rule="attendance_order")
            if at < row.checked_in_at:
                raise ValidationFailed("check-out before check-in", {"at": ["earlier than the check-in"]})
            row.checked_out_at = at
        self.db.session.flush()
        self.db.emit("attendance_recorded", seat.id, {"class_id": klass.id, "seat_id": seat.id, "day": row.day,
                                                      "action": data["action"], "at": at})
        return schemas.AttendanceOut().dump({"seat_id": seat.id, "day": row.day, "checked_in_at": row.checked_in_at,
                                             "checked_out_at": row.checked_out_at})

    @rpc
    @transactional
    def complete_class(self, class_id, payload=None):
        """Close a class: hours to the ledger, outcome per seat, absences to districts, certificates."""
        self.caller.require(*CLASS_STAFF)
        klass = self._class(class_id, write=True)
        now = utcnow()
        seats = self.db.session.scalars(select(ClassSeat).where(
            ClassSeat.class_id == klass.id, ClassSeat.status == "enrolled").order_by(ClassSeat.id)).all()
        attendance = defaultdict(dict)
        for row in self.db.session.scalars(select(Attendance).where(Attendance.seat_id.in_([s.id for s in seats]))):
            attendance[row.seat_id][row.day] = row
        scores = self._class_scores(klass)
        windows = [domain.day_window(d, _hhmm(klass.day_start), _hhmm(klass.day_end)) for d in (klass.day1, klass.day2)]
        report = defaultdict(list)
        certificates, passed = [], 0
        for seat in seats:
            statuses = []
            for n, (_, ends) in enumerate(windows, start=1):
                row = attendance[seat.id].get(n)
                statuses.append(domain.day_status(row and row.checked_in_at, row and row.checked_out_at, ends))
            score = scores.get(seat.person_key)
            outcome = domain.class_outcome(statuses, score, Decimal(klass.pass_mark))
            seat.status, seat.hours, seat.passed, seat.score = \
                outcome["status"], outcome["hours"], outcome["passed"], score
            if outcome["hours"]:
                self.db.session.add(HoursEntry(agency_id=self.db.agency, person_key=seat.person_key, year=klass.year,
                                               class_id=klass.id, hours=outcome["hours"], credited_at=now))
                self.db.emit("training_completed", seat.person_key, {
                    "person_key": seat.person_key, "person_name": seat.person_name, "class_id": klass.id,
                    "year": klass.year, "class_hours": outcome["hours"], "passed": outcome["passed"],
                    "completed_at": now})
            if outcome["status"] != domain.PRESENT:
                self.db.session.add(AbsenceReport(
                    agency_id=self.db.agency, class_id=klass.id, year=klass.year, district=seat.district,
                    seat_id=seat.id, person_name=seat.person_name, id_masked=seat.id_masked,
                    status=outcome["status"], full_days=outcome["full_days"], reported_at=now))
                report[seat.district].append({
                    "person_key": seat.person_key, "person_name": seat.person_name, "enrolment_id": seat.enrolment_id,
                    "status": outcome["status"], "full_days": outcome["full_days"]})
            if outcome["passed"]:
                passed += 1
                certificates.append(self._issue_certificate(seat, klass, now))
        for district, people in sorted(report.items()):
            self.db.emit("absence_reported", f"{klass.id}/{district}", {
                "class_id": klass.id, "year": klass.year, "district": district, "people": people})
        klass.status, klass.completed_at = "completed", now
        self.db.audit(self.caller, "class.complete", "class", klass.id,
                      {"seats": len(seats), "passed": passed, "reported": sum(map(len, report.values()))})
        return {"class_id": klass.id, "completed": len(seats), "passed": passed,
                "reported": sum(map(len, report.values())), "certificates": certificates}

    @rpc
    def list_absences(self, query=None):
        self.caller.require(*READERS)
        params = load(schemas.AbsenceQuery, query)
        stmt = select(AbsenceReport).where(AbsenceReport.agency_id == self.db.agency)
        if self.caller.role == "regulator":
            stmt = stmt.where(AbsenceReport.district == self.caller.district)
        for key in ("year", "district"):
            if key in params:
                stmt = stmt.where(getattr(AbsenceReport, key) == params[key])
        return self._page(stmt, AbsenceReport.id, params, lambda r: schemas.AbsenceOut().dump({
            "class_id": r.class_id, "year": r.year, "district": r.district, "person_name": r.person_name,
            "id_number": r.id_masked, "status": r.status, "full_days": r.full_days, "reported_at": r.reported_at}))

    @rpc
    def person_hours(self, person_key):
        self.caller.require(*READERS)
        return self._hours_out(str(person_key))

    @rpc
    def lookup_hours(self, payload):
        self.caller.require(*READERS)
        data = load(schemas.HoursLookupIn, payload)
        return self._hours_out(get_vault().blind_index(data["id_number"]), data["year"])

    # ---- ratings -----------------------------------------------------------------------------

    @rpc
    @transactional
    def rate_teacher(self, class_id, payload):
        """A trainee rates a teacher of their class, once; the ID number says who they are."""
        data = load(schemas.RatingIn, payload)
        klass = self._class_or_none(class_id)
        seat = klass and self.db.session.scalar(select(ClassSeat).where(
            ClassSeat.class_id == klass.id, ClassSeat.person_key == get_vault().blind_index(data["id_number"]),
            ClassSeat.status != "cancelled"))
        if seat is None:  # the same answer for "no class" and "not in it": nothing to probe
            raise RuleViolation("only a trainee of the class rates its teachers",
                                {"id_number": ["not a trainee of this class"]}, rule="rating_trainee")
        teaches = self.db.session.scalar(select(ClassTeacher.id).where(
            ClassTeacher.class_id == klass.id, ClassTeacher.teacher_id == data["teacher_id"]))
        if not teaches:
            raise RuleViolation("the teacher did not teach this class",
                                {"teacher_id": ["not a teacher of this class"]}, rule="rating_teacher")
        done = self.db.session.scalar(select(Rating.id).where(
            Rating.class_id == klass.id, Rating.teacher_id == data["teacher_id"], Rating.seat_id == seat.id))
        if done:
            raise Conflict("each trainee rates each teacher of a class once", {"teacher_id": ["already rated"]})
        rating = Rating(agency_id=self.db.agency, class_id=klass.id, teacher_id=data["teacher_id"], seat_id=seat.id,
                        stars=data["stars"], comment=data["comment"], created_at=utcnow())
        self.db.session.add(rating)
        self.db.session.flush()
        self.db.emit("teacher_rated", rating.id, {"class_id": klass.id, "teacher_id": rating.teacher_id,
                                                  "stars": rating.stars})
        return schemas.RatingOut().dump(rating)

    # ---- certificates ------------------------------------------------------------------------

    @rpc
    def verify_certificate(self, number):
        """Public: valid / revoked / unknown here, or which agency to ask (the number says)."""
        number = str(number)[:80]
        issuer = domain.certificate_agency(number)
        if issuer is not None and issuer != self.db.agency.lower():
            return schemas.VerifyOut().dump({
                "number": number, "status": "foreign", "agency": issuer,
                "message": f"issued by agency {issuer}: ask its verify URL"})
        cert = self._certificate_or_none(number)
        if cert is None:
            return schemas.VerifyOut().dump({"number": number, "status": "unknown", "agency": self.db.agency,
                                             "message": "no certificate with this number"})
        klass = self.db.session.get(TrainingClass, cert.class_id)
        return schemas.VerifyOut().dump({
            "number": cert.number, "status": cert.status, "agency": self.db.agency,
            "name": mask_name(cert.person_name), "issued_at": cert.issued_at,
            "revoked_reason": cert.revoked_reason,
            "training_class": {"id": klass.id, "title": klass.title, "institution": klass.institution.name,
                               "year": klass.year, "days": [klass.day1.isoformat(), klass.day2.isoformat()],
                               "class_hours": klass.class_hours},
            "message": "valid" if cert.status == "valid" else f"revoked: {cert.revoked_reason}"})

    @rpc
    def get_certificate(self, number):
        self.caller.require(*READERS)
        return self._certificate_out(self._certificate(number))

    @rpc
    def certificate_pdf(self, number):
        self.caller.require(*READERS)
        return self._pdf(self._certificate(number))

    @rpc
    def download_certificate(self, number, payload):
        """Public: the holder downloads their own certificate with their ID number."""
        data = load(schemas.DownloadIn, payload)
        cert = self._certificate_or_none(str(number))
        if cert is None or cert.person_key != get_vault().blind_index(data["id_number"]):
            raise NotFound(f"certificate {number} not found")
        return self._pdf(cert)

    @rpc
    @transactional
    def revoke_certificate(self, number, payload):
        self.caller.require(*STAFF)
        data = load(schemas.RevokeIn, payload)
        cert = self._certificate(number)
        if cert.status == "revoked":
            raise Conflict("the certificate is already revoked", {"status": ["revoked"]})
        cert.status, cert.revoked_reason, cert.revoked_at = "revoked", data["reason"], utcnow()
        self.db.emit("certificate_revoked", cert.number, {"number": cert.number, "person_key": cert.person_key,
                                                          "reason": data["reason"], "revoked_at": cert.revoked_at})
        self.db.audit(self.caller, "certificate.revoke", "certificate", cert.number, data)
        return self._certificate_out(cert)

    # ---- helpers -----------------------------------------------------------------------------

    def _event_data(self, schema_cls, event) -> dict:
        try:
            return schema_cls().load(event.data, unknown="exclude")
        except ValidationError as exc:
            raise ValidationFailed(f"{event.type} data is not as the contract says", exc.messages) from None

    @staticmethod
    def _cycle_code(cycle) -> str:
        cycle = str(cycle)
        try:
            schemas.CODE(cycle)
        except ValidationError:
            raise ValidationFailed("bad cycle code", {"cycle": ["letters, digits, - and _ only (≤20)"]}) from None
        return cycle

    @staticmethod
    def _stage_name(stage) -> str:
        if stage not in domain.STAGES:
            raise ValidationFailed("unknown stage", {"stage": [f"one of: {', '.join(domain.STAGES)}"]})
        return stage

    def _own_district(self, district):
        if self.caller.role == "regulator" and district != self.caller.district:
            raise Forbidden(f"a regulator of {self.caller.district} acts on classes there only")

    def _trainee_or_none(self, candidate_id):
        return self.db.session.scalar(select(Trainee).where(
            Trainee.agency_id == self.db.agency, Trainee.candidate_id == _as_id(candidate_id)))

    def _trainee(self, candidate_id, field=None):
        trainee = self._trainee_or_none(candidate_id)
        if trainee is None or (self.caller.role == "regulator" and trainee.district != self.caller.district):
            if field:
                raise ValidationFailed("unknown trainee", {field: [f"no trainee {candidate_id}"]})
            raise NotFound(f"trainee {candidate_id} not found")
        return trainee

    def _is_self(self, trainee) -> bool:
        return self.caller.person in (trainee.person_key, str(trainee.candidate_id))

    def _enrolled_or_none(self, enrolment_id):
        return self.db.session.scalar(select(EnrolledPerson).where(
            EnrolledPerson.agency_id == self.db.agency, EnrolledPerson.enrolment_id == enrolment_id))

    def _group(self, group_id):
        group = self.db.session.get(Group, _as_id(group_id))
        if group is None or group.agency_id != self.db.agency:
            raise NotFound(f"group {group_id} not found")
        return group

    def _group_size(self, group_id) -> int:
        return self.db.session.scalar(select(func.count()).where(GroupMember.group_id == group_id))

    def _ensure_groups(self, cycle, stage):
        layout = domain.group_layout(stage)
        existing = {(g.batch, g.number): g for g in self.db.session.scalars(select(Group).where(
            Group.agency_id == self.db.agency, Group.cycle == cycle, Group.stage == stage))}
        for batch, number, scenario, capacity in layout:
            if (batch, number) not in existing:
                group = Group(agency_id=self.db.agency, cycle=cycle, stage=stage, batch=batch, number=number,
                              scenario=scenario, capacity=capacity)
                self.db.session.add(group)
                existing[(batch, number)] = group
        self.db.session.flush()
        return [existing[k] for k in sorted(existing)]

    def _exam(self, exam_id):
        exam = self.db.session.get(Exam, _as_id(exam_id))
        if exam is None or exam.agency_id != self.db.agency:
            raise NotFound(f"exam {exam_id} not found")
        return exam

    def _attempt(self, attempt_id):
        attempt = self.db.session.get(Attempt, _as_id(attempt_id))
        if attempt is None or attempt.agency_id != self.db.agency:
            raise NotFound(f"attempt {attempt_id} not found")
        return attempt

    def _taker(self, exam, data, on_behalf=False):
        """(taker key, candidate_id, person_key) of whoever sits ``exam``; lecturers sit as themselves."""
        if exam.kind == domain.CLASS_EXAM:
            self.caller.require(*CLASS_STAFF)
            if not data.get("id_number"):
                raise ValidationFailed("who sits the exam?", {"id_number": ["required for a class exam"]})
            key = get_vault().blind_index(data["id_number"])
            seated = self.db.session.scalar(select(ClassSeat.id).where(
                ClassSeat.class_id == exam.class_id, ClassSeat.person_key == key, ClassSeat.status != "cancelled"))
            if not seated:
                raise RuleViolation("the ID number is not a trainee of this class",
                                    {"id_number": ["not seated in the class"]}, rule="identity_check")
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
        stage = domain.EXAM_STAGE[exam.kind]
        if trainee.cycle != exam.cycle or trainee.status != domain.ACTIVE or \
                domain.STAGE_ORDER[trainee.stage] < domain.STAGE_ORDER[stage]:
            raise RuleViolation(f"candidate {trainee.candidate_id} is {trainee.status} at the {trainee.stage} stage",
                                {"candidate_id": [f"not an active {stage} trainee of {exam.cycle}"]},
                                rule="exam_stage")
        return f"candidate:{trainee.candidate_id}", trainee.candidate_id, trainee.person_key

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
        attempt.status, attempt.submitted_at = "submitted", now
        self._emit_exam_scored(attempt, exam)

    def _emit_exam_scored(self, attempt, exam):
        if exam.kind not in domain.EXAM_STAGE:
            return  # a class exam's result travels in training_completed
        self.db.emit("exam_scored", attempt.candidate_id, {
            "cycle": exam.cycle, "candidate_id": attempt.candidate_id, "stage": domain.EXAM_STAGE[exam.kind],
            "exam": exam.kind, "score": domain.score_text(attempt.score), "attempt_id": attempt.id,
            "scored_at": attempt.submitted_at, "source": attempt.source})

    def _class_scores(self, klass) -> dict[str, Decimal]:
        """Each seated person's score in the class's exam (the latest exam when there are several)."""
        exam_id = self.db.session.scalar(select(func.max(Exam.id)).where(Exam.class_id == klass.id))
        if exam_id is None:
            return {}
        return {key: Decimal(score) for key, score in self.db.session.execute(select(
            Attempt.person_key, Attempt.score).where(Attempt.exam_id == exam_id, Attempt.status == "submitted"))}

    def _institution(self, institution_id):
        institution = self.db.session.get(Institution, _as_id(institution_id))
        if institution is None or institution.agency_id != self.db.agency:
            raise ValidationFailed("unknown institution", {"institution_id": [f"no institution {institution_id}"]})
        return institution

    def _teacher(self, teacher_id):
        teacher = self.db.session.get(Teacher, _as_id(teacher_id))
        if teacher is None or teacher.agency_id != self.db.agency:
            raise NotFound(f"teacher {teacher_id} not found")
        return teacher

    def _class_or_none(self, class_id):
        klass = self.db.session.get(TrainingClass, _as_id(class_id))
        return klass if klass is not None and klass.agency_id == self.db.agency else None

    def _class(self, class_id, write=False, field=None):
        klass = self._class_or_none(class_id)
        if klass is None or (self.caller.role == "regulator" and klass.district != self.caller.district):
            if field:
                raise ValidationFailed("unknown class", {field: [f"no class {class_id}"]})
            raise NotFound(f"class {class_id} not found")
        if write and klass.status != "open":
            raise RuleViolation("the class is completed", {"class_id": ["completed"]}, rule="class_completed")
        return klass

    def _certificate_or_none(self, number):
        return self.db.session.scalar(select(Certificate).where(
            Certificate.agency_id == self.db.agency, Certificate.number == str(number)))

    def _certificate(self, number):
        cert = self._certificate_or_none(number)
        if cert is None:
            raise NotFound(f"certificate {number} not found")
        return cert

    def _issue_certificate(self, seat, klass, now) -> str:
        cert = Certificate(agency_id=self.db.agency, number=f"pending-{seat.id}", seat_id=seat.id, class_id=klass.id,
                           person_key=seat.person_key, person_name=seat.person_name, id_masked=seat.id_masked,
                           year=klass.year, status="valid", issued_at=now)
        self.db.session.add(cert)
        self.db.session.flush()
        # the row id is unique in the agency's database, so the number is too
        cert.number = domain.certificate_number(self.db.agency, klass.year, cert.id)
        self.db.emit("certificate_issued", cert.number, {"number": cert.number, "person_key": cert.person_key,
                                                         "class_id": klass.id, "year": klass.year, "issued_at": now})
        return cert.number

    def _verify_url(self, number) -> str:
        return domain.verify_url(self.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000", number)

    def _pdf(self, cert) -> dict:
        klass = self.db.session.get(TrainingClass, cert.class_id)
        lines = [
            (24, "安全生产培训合格证"),
            (14, f"证书编号：{cert.number}"),
            (14, f"姓名：{cert.person_name}    身份证号：{cert.id_masked}"),
            (12, f"培训班：{klass.title}（{klass.institution.name}）"),
            (12, f"培训日期：{klass.day1.isoformat()} 至 {klass.day2.isoformat()}，共 {klass.class_hours} 学时"),
            (12, f"发证日期：{cert.issued_at.date().isoformat()}    状态：{'有效' if cert.status == 'valid' else '已撤销'}"),
            (10, "扫描二维码或访问下方网址查验（全市通查通用）"),
        ]
        data = pdf.certificate_pdf(lines, self._verify_url(cert.number))
        return {"filename": f"{cert.number}.pdf", "content_type": "application/pdf",
                "data_base64": base64.b64encode(data).decode("ascii")}

    def _page(self, stmt, order_column, params, render):
        total = self.db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        page, per_page = params["page"], params["per_page"]
        rows = self.db.session.scalars(stmt.order_by(order_column).offset((page - 1) * per_page).limit(per_page))
        return page_of([render(r) for r in rows.unique()], page, per_page, total)

    @staticmethod
    def _attempt_ref(attempt) -> dict:
        return {"attempt_id": attempt.id, "exam_id": attempt.exam_id, "candidate_id": attempt.candidate_id,
                "person_key": attempt.person_key}

    def _add_question(self, data) -> Question:
        options, answer = domain.normalise_question(data["kind"], data["options"], data["answer"])
        question = Question(agency_id=self.db.agency, topic=data["topic"], kind=data["kind"], text=data["text"],
                            options=options, answer=answer, created_at=utcnow())
        self.db.session.add(question)
        self.db.session.flush()
        return question

    # ---- output ------------------------------------------------------------------------------

    def _stages_out(self, cycle):
        stages = {s.stage: s for s in self.db.session.scalars(select(Stage).where(
            Stage.agency_id == self.db.agency, Stage.cycle == cycle))}
        if not stages:
            raise NotFound(f"cycle {cycle} has no stages")
        counts = dict(self.db.session.execute(select(Trainee.stage, func.count()).where(
            Trainee.agency_id == self.db.agency, Trainee.cycle == cycle, Trainee.status == domain.ACTIVE)
            .group_by(Trainee.stage)).all())
        return schemas.StageOut(many=True).dump([{
            "cycle": cycle, "stage": s.stage, "title": s.title, "mode": s.mode, "plan": s.plan,
            "sessions": s.sessions, "courses": s.courses, "trainees": counts.get(s.stage, 0)}
            for s in (stages[n] for n in domain.STAGES if n in stages)])

    def _trainee_out(self, t) -> dict:
        groups = dict(self.db.session.execute(select(GroupMember.stage, GroupMember.group_id).where(
            GroupMember.trainee_id == t.id)).all())
        return schemas.TraineeOut().dump({
            "id": t.id, "cycle": t.cycle, "candidate_id": t.candidate_id, "name": t.name, "gender": t.gender,
            "id_number": t.id_masked, "unit_id": t.unit_id, "unit_kind": t.unit_kind, "district": t.district,
            "stage": t.stage, "status": t.status, "status_reason": t.status_reason, "groups": groups})

    def _group_out(self, g) -> dict:
        members = self.db.session.execute(select(Trainee).join(GroupMember, GroupMember.trainee_id == Trainee.id)
                                          .where(GroupMember.group_id == g.id).order_by(Trainee.candidate_id)).scalars()
        experts = self.db.session.scalars(select(GroupExpert.expert).where(GroupExpert.group_id == g.id)
                                          .order_by(GroupExpert.id)).all()
        return schemas.GroupOut().dump({
            "id": g.id, "cycle": g.cycle, "stage": g.stage, "batch": g.batch, "number": g.number,
            "scenario": g.scenario, "scenario_label": domain.SCENARIOS.get(g.scenario), "capacity": g.capacity,
            "members": [{"trainee_id": t.id, "candidate_id": t.candidate_id, "name": t.name, "district": t.district,
                         "unit_kind": t.unit_kind} for t in members],
            "experts": experts})

    def _exam_out(self, e) -> dict:
        return schemas.ExamOut().dump({
            "id": e.id, "kind": e.kind, "title": e.title, "cycle": e.cycle, "stage": domain.EXAM_STAGE.get(e.kind),
            "class_id": e.class_id, "seed": e.seed, "draw": e.draw, "questions": len(e.paper),
            "duration_minutes": e.duration_minutes, "pass_mark": domain.score_text(e.pass_mark)})

    def _attempt_out(self, a, exam, with_paper=False) -> dict:
        paper = []
        if with_paper:
            by_id = {q.id: q for q in self.db.session.scalars(select(Question).where(Question.id.in_(exam.paper)))}
            paper = [{"id": q.id, "kind": q.kind, "text": q.text, "options": q.options}
                     for q in (by_id[i] for i in exam.paper if i in by_id)]
        return schemas.AttemptOut().dump({
            "id": a.id, "exam_id": a.exam_id, "candidate_id": a.candidate_id, "status": a.status, "source": a.source,
            "started_at": a.started_at, "deadline_at": a.deadline_at, "submitted_at": a.submitted_at,
            "correct": a.correct, "score": domain.score_text(a.score) if a.score is not None else None,
            "paper": paper})

    def _institution_out(self, i) -> dict:
        failures = domain.institution_failures(_institution_dict(i))
        return schemas.InstitutionOut().dump(dict(
            _institution_dict(i), id=i.id, name=i.name, district=i.district, qualified=not failures,
            failed_conditions=[{"rule": r, "field": f, "condition": m} for r, f, m in failures]))

    def _teacher_out(self, t) -> dict:
        stars = list(self.db.session.scalars(select(Rating.stars).where(Rating.teacher_id == t.id)))
        average = domain.rating_average(stars)
        return schemas.TeacherOut().dump({
            "id": t.id, "name": t.name, "qualification": t.qualification, "title": t.title, "field": t.field,
            "years_experience": t.years_experience, "ratings": len(stars),
            "average": domain.score_text(average) if average is not None else None})

    def _seat_out(self, s) -> dict:
        return schemas.SeatOut().dump({
            "id": s.id, "enrolment_id": s.enrolment_id, "person_name": s.person_name, "id_number": s.id_masked,
            "district": s.district, "status": s.status, "hours": s.hours, "passed": s.passed,
            "score": domain.score_text(s.score) if s.score is not None else None})

    def _class_out(self, c) -> dict:
        seats = self.db.session.scalars(select(ClassSeat).where(ClassSeat.class_id == c.id).order_by(ClassSeat.id))
        teacher_ids = self.db.session.scalars(select(ClassTeacher.teacher_id).where(ClassTeacher.class_id == c.id)
                                              .order_by(ClassTeacher.id)).all()
        return schemas.ClassOut().dump({
            "id": c.id, "title": c.title, "institution_id": c.institution_id, "institution": c.institution.name,
            "year": c.year, "district": c.district, "days": [c.day1, c.day2], "day_start": c.day_start,
            "day_end": c.day_end, "manager_name": c.manager_name, "capacity": c.capacity,
            "class_hours": c.class_hours, "pass_mark": domain.score_text(c.pass_mark), "status": c.status,
            "teacher_ids": teacher_ids, "seats": [self._seat_out(s) for s in seats]})

    def _hours_out(self, person_key, year=None) -> dict:
        stmt = select(HoursEntry).where(HoursEntry.agency_id == self.db.agency, HoursEntry.person_key == person_key)
        if year is not None:
            stmt = stmt.where(HoursEntry.year == year)
        # sorted here, not in SQL: an ORDER BY year steers SQLite to the (agency, year, person)
        # index and a scan of the agency's whole ledger instead of the person's few rows
        entries = sorted(self.db.session.scalars(stmt), key=lambda e: (e.year, e.class_id))
        if self.caller.role == "regulator":
            # a regulator sees hours earned in classes of its district
            visible = set(self.db.session.scalars(select(TrainingClass.id).where(
                TrainingClass.id.in_([e.class_id for e in entries]), TrainingClass.district == self.caller.district)))
            entries = [e for e in entries if e.class_id in visible]
        years = defaultdict(int)
        for e in entries:
            years[str(e.year)] += e.hours
        return schemas.HoursOut().dump({"person_key": person_key, "years": dict(years), "classes": [
            {"class_id": e.class_id, "year": e.year, "hours": e.hours} for e in entries]})

    def _certificate_out(self, c) -> dict:
        return schemas.CertificateOut().dump({
            "number": c.number, "status": c.status, "person_name": c.person_name, "id_number": c.id_masked,
            "class_id": c.class_id, "year": c.year, "issued_at": c.issued_at, "revoked_at": c.revoked_at,
            "revoked_reason": c.revoked_reason, "verify_url": self._verify_url(c.number)})


def _prefix_row(exc, i):
    """Name the import row in an error raised while checking it."""
    exc.message = f"row {i}: {exc.message}"
    exc.fields = {f"rows.{i}.{k}": v for k, v in exc.fields.items()} or {f"rows.{i}": [exc.message]}
    exc.args = (exc.message, exc.fields, *exc.args[2:])


def _institution_dict(i) -> dict:
    return {k: getattr(i, k) for k in ("full_time_managers", "management_system", "teacher_min_years",
                                       "evaluation_mechanism", "seats")}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _int_or_zero(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _as_id(value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("ids are positive integers", {"id": [f"{value!r} is not an id"]}) from None
    if number < 1 or number > 2**62:
        raise ValidationFailed("ids are positive integers", {"id": [f"{value!r} is out of range"]})
    return number
