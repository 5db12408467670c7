"""The lecturer programme (seed 000 §五–七): stages and course plans, trainees, groups and their panels."""
from __future__ import annotations

import json

from sqlalchemy import select

from shared.auth import STAFF
from shared.bulk import ALREADY, APPLIED, apply_each, unique
from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Conflict, NotFound
from shared.schemas import as_code, load, schema_instance
from shared.workdays import utcnow

from . import domain, schemas
from .models import Group, GroupExpert, GroupMember, Stage, Trainee
from .roles import PANEL_READERS, PROGRAMME_READERS


class ProgrammeRpc:

    @rpc(roles=STAFF)
    @transactional
    def create_stages(self, cycle, payload):
        data = load(schemas.StagesIn, payload)
        cycle = as_code(cycle)
        plan = domain.load_plan(data["plan"])  # a malformed request is a 400 before anything is looked up
        self.cycles.require(cycle)  # registration's cycle, else a 404 naming it
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

    @rpc(roles=PROGRAMME_READERS)
    def list_stages(self, cycle):
        return self._stages_out(as_code(cycle))

    @rpc(roles=PANEL_READERS)
    def list_trainees(self, cycle, query=None):
        params = load(schemas.TraineeQuery, query)
        stmt = select(Trainee).where(Trainee.agency_id == self.db.agency, Trainee.cycle == as_code(cycle))
        if self.caller.role == "regulator":
            stmt = stmt.where(Trainee.district == self.caller.district)
        if self.caller.role == "expert":
            stmt = stmt.where(Trainee.id.in_(self._panel_trainees()))
        for key in ("stage", "status", "district"):
            if key in params:
                stmt = stmt.where(getattr(Trainee, key) == params[key])
        return self._page(stmt, Trainee.id, params, self._trainee_out)

    @rpc(roles=PROGRAMME_READERS)
    def get_trainee(self, candidate_id):
        trainee = self._trainee(candidate_id)
        if (self.caller.role == "lecturer" and not self._is_self(trainee)) or (
                self.caller.role == "expert" and trainee.id not in set(
                    self.db.session.scalars(self._panel_trainees()))):
            raise NotFound(f"trainee {candidate_id} not found")
        return self._trainee_out(trainee)


    @rpc(roles=STAFF)
    @transactional
    def assign_groups(self, cycle, stage, payload=None):
        """Create the stage's groups if needed and place every unplaced active trainee."""
        cycle, stage = as_code(cycle), self._stage_name(stage)
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
        return schema_instance(schemas.AssignmentOut).dump({"cycle": cycle, "stage": stage, "assigned": len(placement),
                                             "groups": [self._group_out(g) for g in groups]})

    @rpc(roles=PANEL_READERS)
    def list_groups(self, cycle, stage):
        cycle, stage = as_code(cycle), self._stage_name(stage)
        groups = self.db.session.scalars(select(Group).where(
            Group.agency_id == self.db.agency, Group.cycle == cycle, Group.stage == stage)
            .order_by(Group.batch, Group.number)).all()
        if self.caller.role == "expert":
            mine = set(self.db.session.scalars(select(GroupExpert.group_id).where(
                GroupExpert.expert == self.caller.person)))
            groups = [g for g in groups if g.id in mine]
        return [self._group_out(g) for g in groups]

    @rpc(roles=STAFF)
    @transactional
    def move_trainee(self, group_id, candidate_id, payload=None):
        """An operator's correction: put a trainee into this group (capacity still holds)."""
        group = self._group(group_id)
        trainee = self._trainee(candidate_id)
        domain.ensure_movable(trainee.stage, trainee.status, trainee.cycle, trainee.candidate_id,
                              group.stage, group.cycle)
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

    @rpc(roles=STAFF)
    @transactional
    def add_group_expert(self, group_id, payload):
        data = load(schemas.ExpertIn, payload)
        group = self._group(group_id)
        self._add_expert(group, data)
        return self._group_out(group)

    @rpc(roles=STAFF)
    @transactional
    def bulk_add_group_experts(self, payload):
        """Put many experts on many panels: one result per (group, expert) (shared.bulk), repeat-safe."""
        data = load(schemas.BulkExpertsIn, payload)
        names = {(i["group_id"], i["expert"]): i["name"] for i in data["items"]}

        def apply(key):
            group_id, expert = key
            # the group row is the lock: two calls adding the same expert wait for each other
            group = self.db.session.get(Group, group_id, with_for_update=True, populate_existing=True)
            if group is None or group.agency_id != self.db.agency:
                raise NotFound(f"group {group_id} not found")
            added = self._add_expert(group, {"expert": expert, "name": names[key]})
            return (APPLIED if added else ALREADY), {}

        keys = unique([(i["group_id"], i["expert"]) for i in data["items"]], "items")
        result = apply_each(self.db, keys, apply, lambda key: {"group_id": key[0], "expert": key[1]})
        return schema_instance(schemas.BulkExpertsOut).dump(result)

    def _add_expert(self, group, data) -> bool:
        exists = self.db.session.scalar(select(GroupExpert.id).where(
            GroupExpert.group_id == group.id, GroupExpert.expert == data["expert"]))
        if exists:
            return False
        self.db.session.add(GroupExpert(group_id=group.id, expert=data["expert"], expert_name=data["name"]))
        self.db.session.flush()
        self.db.emit("group_expert_assigned", group.id, {"group_id": group.id, "expert": data["expert"]})
        self.db.audit(self.caller, "groups.expert_add", "group", group.id, data)
        return True


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
