"""Lookups with their access checks, and the output of records."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.schemas import as_id, paginate

from . import domain, schemas
from .models import (
    ClassSeat, ClassTeacher, EnrolledPerson, Exam, Attempt, Group, GroupExpert, GroupMember, HoursEntry,
    Institution, Question, Rating, Stage, Teacher, Trainee, TrainingClass,
)


class Lookups:

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
            Trainee.agency_id == self.db.agency, Trainee.candidate_id == as_id(candidate_id)))

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
        group = self.db.session.get(Group, as_id(group_id))
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
        exam = self.db.session.get(Exam, as_id(exam_id))
        if exam is None or exam.agency_id != self.db.agency:
            raise NotFound(f"exam {exam_id} not found")
        return exam

    def _attempt(self, attempt_id):
        attempt = self.db.session.get(Attempt, as_id(attempt_id))
        if attempt is None or attempt.agency_id != self.db.agency:
            raise NotFound(f"attempt {attempt_id} not found")
        return attempt

    def _institution(self, institution_id):
        institution = self.db.session.get(Institution, as_id(institution_id))
        if institution is None or institution.agency_id != self.db.agency:
            raise ValidationFailed("unknown institution", {"institution_id": [f"no institution {institution_id}"]})
        return institution

    def _teacher(self, teacher_id):
        teacher = self.db.session.get(Teacher, as_id(teacher_id))
        if teacher is None or teacher.agency_id != self.db.agency:
            raise NotFound(f"teacher {teacher_id} not found")
        return teacher

    def _class_or_none(self, class_id):
        klass = self.db.session.get(TrainingClass, as_id(class_id))
        return klass if klass is not None and klass.agency_id == self.db.agency else None

    def _class(self, class_id, write=False, field=None):
        klass = self._class_or_none(class_id)
        if klass is None or (self.caller.role == "regulator" and klass.district != self.caller.district):
            if field:
                raise ValidationFailed("unknown class", {field: [f"no class {class_id}"]})
            raise NotFound(f"class {class_id} not found")
        if write:
            domain.ensure_class_open(klass.status)
        return klass

    def _page(self, stmt, order_column, params, render):
        return paginate(self.db.session, stmt, order_column, params, render)

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
        failures = domain.institution_failures(institution_dict(i))
        return schemas.InstitutionOut().dump(dict(
            institution_dict(i), id=i.id, name=i.name, district=i.district, qualified=not failures,
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


def institution_dict(i) -> dict:
    """The conditions of 附件2 an institution is judged on, as the domain takes them."""
    return {k: getattr(i, k) for k in ("full_time_managers", "management_system", "teacher_min_years",
                                       "evaluation_mechanism", "seats")}
