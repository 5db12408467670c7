"""Lookups with their access checks, and the output of records."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.schemas import agency_row, as_id, paginate, schema_instance, with_values

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

    def _panel_trainees(self):
        """The trainees an expert may see: members of the groups whose panel they sit on (none without one)."""
        return (select(GroupMember.trainee_id).join(GroupExpert, GroupExpert.group_id == GroupMember.group_id)
                .join(Group, Group.id == GroupMember.group_id)
                .where(Group.agency_id == self.db.agency, GroupExpert.expert == self.caller.person))

    def _is_self(self, trainee) -> bool:
        return self.caller.person in (trainee.person_key, str(trainee.candidate_id))

    def _enrolled_or_none(self, enrolment_id):
        return self.db.session.scalar(select(EnrolledPerson).where(
            EnrolledPerson.agency_id == self.db.agency, EnrolledPerson.enrolment_id == enrolment_id))

    def _group(self, group_id):
        return agency_row(self.db.session, Group, self.db.agency, group_id, not_found="group")

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
        return agency_row(self.db.session, Exam, self.db.agency, exam_id, not_found="exam")

    def _attempt(self, attempt_id):
        return agency_row(self.db.session, Attempt, self.db.agency, attempt_id, not_found="attempt")

    def _institution(self, institution_id):
        institution = agency_row(self.db.session, Institution, self.db.agency, institution_id)
        if institution is None:
            raise NotFound(f"institution {institution_id} not found", {"institution_id": [f"no institution {institution_id}"]})
        return institution

    def _teacher(self, teacher_id):
        return agency_row(self.db.session, Teacher, self.db.agency, teacher_id, not_found="teacher")

    def _class_or_none(self, class_id):
        return agency_row(self.db.session, TrainingClass, self.db.agency, class_id)

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
        return schema_instance(schemas.StageOut, many=True).dump([with_values(s, trainees=counts.get(s.stage, 0))
                                                 for s in (stages[n] for n in domain.STAGES if n in stages)])

    def _trainee_out(self, t) -> dict:
        groups = dict(self.db.session.execute(select(GroupMember.stage, GroupMember.group_id).where(
            GroupMember.trainee_id == t.id)).all())
        return schema_instance(schemas.TraineeOut).dump(with_values(t, groups=groups))

    def _group_out(self, g) -> dict:
        members = self.db.session.execute(select(Trainee).join(GroupMember, GroupMember.trainee_id == Trainee.id)
                                          .where(GroupMember.group_id == g.id).order_by(Trainee.candidate_id)).scalars()
        experts = self.db.session.scalars(select(GroupExpert.expert).where(GroupExpert.group_id == g.id)
                                          .order_by(GroupExpert.id)).all()
        return schema_instance(schemas.GroupOut).dump(with_values(
            g, scenario_label=domain.SCENARIOS.get(g.scenario), members=list(members), experts=experts))

    def _exam_out(self, e) -> dict:
        return schema_instance(schemas.ExamOut).dump(with_values(e, stage=domain.EXAM_STAGE.get(e.kind), questions=len(e.paper)))

    def _attempt_out(self, a, exam, with_paper=False) -> dict:
        paper = []
        if with_paper:
            by_id = {q.id: q for q in self.db.session.scalars(select(Question).where(Question.id.in_(exam.paper)))}
            paper = [by_id[i] for i in exam.paper if i in by_id]
        return schema_instance(schemas.AttemptOut).dump(with_values(a, paper=paper))

    def _institution_out(self, i) -> dict:
        failures = domain.institution_failures(institution_dict(i))
        return schema_instance(schemas.InstitutionOut).dump(with_values(
            i, qualified=not failures,
            failed_conditions=[{"rule": r, "field": f, "condition": m} for r, f, m in failures]))

    def _teacher_out(self, t) -> dict:
        # only ratings by trainees who attended count (004 §七(三)): rows made before that rule by
        # people absent from the class stay stored but out of the appraisal
        stars = list(self.db.session.scalars(select(Rating.stars).join(ClassSeat, ClassSeat.id == Rating.seat_id).where(
            Rating.teacher_id == t.id, ClassSeat.status.in_(domain.ATTENDED))))
        return schema_instance(schemas.TeacherOut).dump(with_values(t, ratings=len(stars), average=domain.rating_average(stars)))

    def _seat_out(self, s) -> dict:
        return schema_instance(schemas.SeatOut).dump(s)

    def _class_out(self, c) -> dict:
        seats = self.db.session.scalars(select(ClassSeat).where(ClassSeat.class_id == c.id).order_by(ClassSeat.id))
        teacher_ids = self.db.session.scalars(select(ClassTeacher.teacher_id).where(ClassTeacher.class_id == c.id)
                                              .order_by(ClassTeacher.id)).all()
        return schema_instance(schemas.ClassOut).dump(with_values(c, days=[c.day1, c.day2], teacher_ids=teacher_ids,
                                                   seats=list(seats)))

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
        return schema_instance(schemas.HoursOut).dump({"person_key": person_key, "years": dict(years), "classes": [
            {"class_id": e.class_id, "year": e.year, "hours": e.hours} for e in entries]})

    def _certificate_out(self, c) -> dict:
        return schema_instance(schemas.CertificateOut).dump(with_values(c, verify_url=self._verify_url(c.number)))


def institution_dict(i) -> dict:
    """The conditions of 附件2 an institution is judged on, as the domain takes them."""
    return {k: getattr(i, k) for k in ("full_time_managers", "management_system", "teacher_min_years",
                                       "evaluation_mechanism", "seats")}
