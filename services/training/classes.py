"""Safety-training classes (seed 004): institutions, teachers, classes, seats, attendance with
identity check, completion (hours, absences, certificates), ratings."""
from __future__ import annotations

from collections import defaultdict
from datetime import time
from decimal import Decimal

from sqlalchemy import func, select

from shared.auth import STAFF
from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from shared.pii import get_vault, mask_id_number
from shared.schemas import as_id, load, schema_instance
from shared.workdays import utcnow

from . import domain, schemas
from .models import (
    AbsenceReport, Attempt, Attendance, ClassManager, ClassSeat, ClassTeacher, Exam, HoursEntry, Institution, Rating,
    Teacher, TrainingClass,
)
from .access import institution_dict
from .roles import CLASS_STAFF, READERS


class ClassRpc:

    @rpc(roles=STAFF)
    @transactional
    def register_institution(self, payload):
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
            "qualified": not domain.institution_failures(institution_dict(institution))})
        self.db.audit(self.caller, "institution.register", "institution", institution.id, data)
        return self._institution_out(institution)

    @rpc(roles=READERS)
    def list_institutions(self):
        rows = self.db.session.scalars(select(Institution).where(
            Institution.agency_id == self.db.agency).order_by(Institution.id))
        return [self._institution_out(i) for i in rows]

    @rpc(roles=STAFF)
    @transactional
    def register_teacher(self, payload):
        data = load(schemas.TeacherIn, payload)
        teacher = Teacher(agency_id=self.db.agency, created_at=utcnow(), **data)
        self.db.session.add(teacher)
        self.db.session.flush()
        self.db.emit("teacher_registered", teacher.id, {"teacher_id": teacher.id, "name": teacher.name})
        self.db.audit(self.caller, "teacher.register", "teacher", teacher.id, data)
        return self._teacher_out(teacher)

    @rpc(roles=READERS)
    def list_teachers(self):
        rows = self.db.session.scalars(select(Teacher).where(Teacher.agency_id == self.db.agency).order_by(Teacher.id))
        return [self._teacher_out(t) for t in rows]

    @rpc(roles=READERS)
    def get_teacher(self, teacher_id):
        return self._teacher_out(self._teacher(teacher_id))


    @rpc(roles=STAFF)
    @transactional
    def register_class_manager(self, payload):
        """A full-time class manager (班主任) of an institution: a person record, one per ID number."""
        data = load(schemas.ClassManagerIn, payload)
        institution = self._institution(data["institution_id"])
        key = get_vault().blind_index(data["id_number"])
        if self.db.session.scalar(select(ClassManager.id).where(
                ClassManager.agency_id == self.db.agency, ClassManager.person_key == key)):
            raise Conflict("this person is already a class manager", {"id_number": ["already registered"]})
        manager = ClassManager(agency_id=self.db.agency, institution_id=institution.id, name=data["name"],
                               id_masked=mask_id_number(data["id_number"]), person_key=key, phone=data["phone"],
                               created_at=utcnow())
        self.db.session.add(manager)
        self.db.session.flush()
        self.db.audit(self.caller, "class_manager.register", "class_manager", manager.id,
                      {"institution_id": institution.id, "name": manager.name})
        return schema_instance(schemas.ClassManagerOut).dump(manager)

    @rpc(roles=CLASS_STAFF)
    @transactional
    def create_class(self, payload):
        data = load(schemas.ClassIn, payload)
        self._own_district(data["district"])
        domain.ensure_class_days(data["days"])
        institution = self._institution(data["institution_id"])
        domain.ensure_institution_qualified(institution_dict(institution))
        domain.ensure_class_capacity(data["capacity"], institution.seats)
        pass_mark = domain.check_score(data["pass_mark"], "pass_mark") if data["pass_mark"] is not None \
            else domain.DEFAULT_PASS_MARK
        hours = domain.class_hours(_hhmm(data["day_start"]), _hhmm(data["day_end"]), len(data["days"]))
        manager = self._manager(data["manager_id"], institution.id, data["days"])
        teachers = []
        for i, tid in enumerate(dict.fromkeys(data["teacher_ids"])):
            teacher = self.db.session.get(Teacher, tid)
            if teacher is None or teacher.agency_id != self.db.agency:
                raise ValidationFailed("unknown teacher", {f"teacher_ids.{i}": [f"no teacher {tid}"]})
            domain.ensure_teacher_experienced(teacher.name, teacher.years_experience, f"teacher_ids.{i}")
            teachers.append(teacher)
        klass = TrainingClass(
            agency_id=self.db.agency, title=data["title"], institution_id=institution.id,
            year=data["days"][0].year, district=data["district"], day1=data["days"][0], day2=data["days"][1],
            day_start=data["day_start"], day_end=data["day_end"], manager_name=manager.name, manager_id=manager.id,
            capacity=data["capacity"], class_hours=hours, pass_mark=pass_mark, status=domain.OPEN,
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
        self.db.audit(self.caller, "class.create", "class", klass.id,
                      {"institution_id": institution.id, "manager_id": manager.id})
        return self._class_out(klass)

    def _manager(self, manager_id, institution_id, days):
        """The class's manager: the institution's, and not running another class on any of these days."""
        manager = self.db.session.get(ClassManager, manager_id)
        if manager is None or manager.agency_id != self.db.agency:
            raise ValidationFailed("unknown class manager", {"manager_id": [f"no class manager {manager_id}"]})
        if manager.institution_id != institution_id:
            raise RuleViolation(f"{manager.name} is a class manager of another institution",
                                {"manager_id": ["not a manager of this institution"]}, rule="class_manager")
        # 004 §七(四): one full-time manager per class, so never two classes at once. The row lock
        # on the manager makes two concurrent openings queue here instead of both passing the check.
        self.db.session.execute(select(ClassManager.id).where(ClassManager.id == manager.id).with_for_update())
        busy = self.db.session.scalar(select(TrainingClass.id).where(
            TrainingClass.manager_id == manager.id, TrainingClass.day1 <= days[-1],
            TrainingClass.day2 >= days[0]).limit(1))
        if busy:
            raise RuleViolation(f"{manager.name} already runs class {busy} on these days",
                                {"manager_id": [f"runs class {busy} on overlapping days"]}, rule="class_manager_busy")
        return manager

    @rpc(roles=READERS)
    def get_class(self, class_id):
        return self._class_out(self._class(class_id))

    @rpc(roles=CLASS_STAFF)
    @transactional
    def add_seat(self, class_id, payload):
        data = load(schemas.SeatIn, payload)
        klass = self._class(class_id, write=True)
        person = self._enrolled_or_none(data["enrolment_id"])
        if person is None:
            raise ValidationFailed("unknown enrolment", {"enrolment_id": [f"no enrolment {data['enrolment_id']}"]})
        if person.status != domain.ENROLLED:
            raise RuleViolation("the enrolment was cancelled", {"enrolment_id": ["cancelled"]}, rule="enrolment_status")
        if person.year != klass.year:
            raise RuleViolation(f"enrolled for {person.year}, the class is in {klass.year}",
                                {"enrolment_id": [f"year {person.year} != {klass.year}"]}, rule="enrolment_year")
        existing = self.db.session.scalar(select(ClassSeat).where(
            ClassSeat.class_id == klass.id, ClassSeat.person_key == person.person_key))
        if existing is not None and existing.status != domain.CANCELLED:
            raise Conflict("this person already has a seat in the class", {"enrolment_id": ["already seated"]})
        taken = self.db.session.scalar(select(func.count()).where(
            ClassSeat.class_id == klass.id, ClassSeat.status != domain.CANCELLED))
        domain.ensure_class_room(taken, klass.capacity)
        if existing is not None:
            existing.status, existing.enrolment_id = domain.ENROLLED, person.enrolment_id
            seat = existing
        else:
            seat = ClassSeat(class_id=klass.id, enrolment_id=person.enrolment_id, person_key=person.person_key,
                             person_name=person.person_name, id_masked=person.id_masked, district=person.district,
                             status=domain.ENROLLED)
            self.db.session.add(seat)
        self.db.session.flush()
        self.db.emit("trainee_seated", seat.id, {"class_id": klass.id, "seat_id": seat.id,
                                                 "person_key": seat.person_key, "district": seat.district})
        self.db.audit(self.caller, "class.seat", "class", klass.id, {"enrolment_id": person.enrolment_id})
        return self._seat_out(seat)

    @rpc(roles=CLASS_STAFF)
    @transactional
    def record_attendance(self, class_id, payload):
        data = load(schemas.AttendanceIn, payload)
        klass = self._class(class_id, write=True)
        seat = self.db.session.get(ClassSeat, data["seat_id"])
        if seat is None or seat.class_id != klass.id or seat.status == domain.CANCELLED:
            raise ValidationFailed("no such seat in this class", {"seat_id": ["not a seat of this class"]})
        if get_vault().blind_index(data["id_number"]) != seat.person_key:
            raise RuleViolation("the ID number presented is not the enrolled person's",
                                {"id_number": ["does not match the enrolled trainee"]}, rule="identity_check")
        now = utcnow()
        at = data["at"] or now
        day = klass.day1 if data["day"] == 1 else klass.day2
        domain.ensure_on_class_day(at, day, now)
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
        return schema_instance(schemas.AttendanceOut).dump(row)

    @rpc(roles=CLASS_STAFF)
    @transactional
    def excuse_absence(self, class_id, seat_id, payload):
        """The class manager excuses a trainee's missed time, with the reason: they may sit the exam."""
        data = load(schemas.ExcusalIn, payload)
        klass = self._class(class_id, write=True)
        seat = self.db.session.get(ClassSeat, as_id(seat_id))
        if seat is None or seat.class_id != klass.id or seat.status == domain.CANCELLED:
            raise NotFound(f"seat {seat_id} not found in class {klass.id}")
        seat.excused_reason, seat.excused_at = data["reason"], utcnow()
        self.db.audit(self.caller, "class.excuse", "class", klass.id, {"seat_id": seat.id, "reason": data["reason"]})
        return self._seat_out(seat)

    @rpc(roles=CLASS_STAFF)
    @transactional
    def complete_class(self, class_id, payload=None):
        """Close a class: hours to the ledger, outcome per seat, absences to districts, certificates."""
        klass = self._class(class_id, write=True)
        now = utcnow()
        domain.ensure_class_over(klass.day2, _hhmm(klass.day_end), now)
        seats = self.db.session.scalars(select(ClassSeat).where(
            ClassSeat.class_id == klass.id, ClassSeat.status == domain.ENROLLED).order_by(ClassSeat.id)).all()
        days = self._attendance_days(klass, seats)
        scores = self._class_scores(klass)
        hours_per_day = klass.class_hours // domain.CLASS_DAYS
        report = defaultdict(list)
        certificates, passed = [], 0
        for seat in seats:
            score = scores.get(seat.person_key)
            outcome = domain.class_outcome(days[seat.id], hours_per_day, score, Decimal(klass.pass_mark),
                                           excused=seat.excused_reason is not None)
            seat.status, seat.hours, seat.passed, seat.score = \
                outcome["status"], outcome["hours"], outcome["passed"], score
            if outcome["hours"]:
                # both days lie in klass.year (ensure_class_days): hours count in the year earned
                self.db.session.add(HoursEntry(agency_id=self.db.agency, person_key=seat.person_key, year=klass.year,
                                               class_id=klass.id, hours=outcome["hours"], credited_at=now))
                self.db.emit("training_completed", seat.person_key, {
                    "person_key": seat.person_key, "person_name": seat.person_name, "class_id": klass.id,
                    "year": klass.year, "class_hours": outcome["hours"], "passed": outcome["passed"],
                    "completed_at": now})
            if outcome["status"] != domain.PRESENT:
                missed = _jsonable(outcome["missed"])
                self.db.session.add(AbsenceReport(
                    agency_id=self.db.agency, class_id=klass.id, year=klass.year, district=seat.district,
                    seat_id=seat.id, person_name=seat.person_name, id_masked=seat.id_masked,
                    status=outcome["status"], full_days=outcome["full_days"], missed=missed,
                    missed_minutes=outcome["missed_minutes"], excused_reason=seat.excused_reason, reported_at=now))
                report[seat.district].append({
                    "person_key": seat.person_key, "person_name": seat.person_name, "enrolment_id": seat.enrolment_id,
                    "status": outcome["status"], "full_days": outcome["full_days"],
                    "missed_minutes": outcome["missed_minutes"], "missed": missed})
            if outcome["passed"]:
                passed += 1
                certificates.append(self._issue_certificate(seat, klass, now))
        for district, people in sorted(report.items()):
            self.db.emit("absence_reported", f"{klass.id}/{district}", {
                "class_id": klass.id, "year": klass.year, "district": district, "people": people})
        klass.status, klass.completed_at = domain.CLASS.next(klass.status, "complete"), now
        self.db.audit(self.caller, "class.complete", "class", klass.id,
                      {"seats": len(seats), "passed": passed, "reported": sum(map(len, report.values()))})
        return {"class_id": klass.id, "completed": len(seats), "passed": passed,
                "reported": sum(map(len, report.values())), "certificates": certificates}

    def _attendance_days(self, klass, seats) -> dict[int, list[dict]]:
        """Each seat's class days as ``domain.day_attendance`` judges them."""
        rows = defaultdict(dict)
        for row in self.db.session.scalars(select(Attendance).where(Attendance.seat_id.in_([s.id for s in seats]))):
            rows[row.seat_id][row.day] = row
        starts, ends = _hhmm(klass.day_start), _hhmm(klass.day_end)
        return {seat.id: [domain.day_attendance(day, starts, ends, row and row.checked_in_at,
                                                row and row.checked_out_at)
                          for n, day in enumerate((klass.day1, klass.day2), start=1)
                          for row in [rows[seat.id].get(n)]]
                for seat in seats}

    @rpc(roles=READERS)
    def list_absences(self, query=None):
        params = load(schemas.AbsenceQuery, query)
        stmt = select(AbsenceReport).where(AbsenceReport.agency_id == self.db.agency)
        if self.caller.role == "regulator":
            stmt = stmt.where(AbsenceReport.district == self.caller.district)
        for key in ("year", "district"):
            if key in params:
                stmt = stmt.where(getattr(AbsenceReport, key) == params[key])
        return self._page(stmt, AbsenceReport.id, params, schemas.AbsenceOut().dump)

    @rpc(roles=READERS)
    def person_hours(self, person_key):
        return self._hours_out(str(person_key))

    @rpc(roles=READERS)
    def lookup_hours(self, payload):
        data = load(schemas.HoursLookupIn, payload)
        return self._hours_out(get_vault().blind_index(data["id_number"]), data["year"])


    @rpc
    @transactional
    def rate_teacher(self, class_id, payload):
        """A trainee who attended rates a teacher of their class once, after it; the ID number says who."""
        data = load(schemas.RatingIn, payload)
        klass = self._class_or_none(class_id)
        if klass is None:
            raise NotFound(f"class {class_id} not found")
        seat = self.db.session.scalar(select(ClassSeat).where(
            ClassSeat.class_id == klass.id, ClassSeat.person_key == get_vault().blind_index(data["id_number"]),
            ClassSeat.status != domain.CANCELLED))
        if seat is None:
            raise RuleViolation("only a trainee of the class rates its teachers",
                                {"id_number": ["not a trainee of this class"]}, rule="rating_trainee")
        domain.ensure_may_rate(seat.status, klass.status, domain.class_end(klass.day2, _hhmm(klass.day_end)),
                               utcnow())
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
        return schema_instance(schemas.RatingOut).dump(rating)

    def _class_scores(self, klass) -> dict[str, Decimal]:
        """Each seated person's score in the class's exam (the latest exam when there are several)."""
        exam_id = self.db.session.scalar(select(func.max(Exam.id)).where(Exam.class_id == klass.id))
        if exam_id is None:
            return {}
        return {key: Decimal(score) for key, score in self.db.session.execute(select(
            Attempt.person_key, Attempt.score).where(Attempt.exam_id == exam_id, Attempt.status == domain.SUBMITTED))}


def _jsonable(days: list[dict]) -> list[dict]:
    return [{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in d.items()} for d in days]


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))
