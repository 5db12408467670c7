"""Registration rules: seed 000 §四 and 附件1 (lecturer programme), seed 004 (2018 enrolment quotas)."""
import datetime
from collections import namedtuple

import pytest
from stdnum.cn import ric

from services.registration import domain
from shared.errors import RuleViolation, ValidationFailed

UTC = datetime.timezone.utc

# 000 §四(三): forms "于2022年8月10日前"; DOMAIN.md §1 reads it as "in by 2022-08-10" (Asia/Shanghai).
DEADLINE = datetime.date(2022, 8, 10)
LAST_OPEN_INSTANT = datetime.datetime(2022, 8, 10, 15, 59, 59, tzinfo=UTC)   # 23:59:59 in Beijing
FIRST_CLOSED_INSTANT = datetime.datetime(2022, 8, 10, 16, 0, 0, tzinfo=UTC)  # 00:00 on the 11th in Beijing

# 000 §四(四): "各区专职安全员推荐人数不少于6名；各保险公司北京分公司工作人员推荐人数不少于6人".
SEED_MINIMUM = 6

Unit = namedtuple("Unit", "id name kind district")


def resident_id(first17: str) -> str:
    # stdnum's calc_check_digit ignores the last character, so a placeholder is appended.
    return first17 + ric.calc_check_digit(first17 + "0")


# Born 1985-07-15 in Chaoyang (110105); order code 001 is odd (male), 002 even (female), GB 11643.
MALE_1985_07 = resident_id("11010519850715001")
FEMALE_1985_07 = resident_id("11010519850715002")


# ---- status transitions ------------------------------------------------------------------------

# The approval chain of DOMAIN.md §1: submitted → (unit seal) unit_approved → (center) approved;
# rejection is possible until the center has approved; withdrawal until it is final; edits only
# before the unit's seal.
EXPECTED_TRANSITIONS = {
    ("unit_approve", "submitted"): "unit_approved",
    ("center_approve", "unit_approved"): "approved",
    ("reject", "submitted"): "rejected",
    ("reject", "unit_approved"): "rejected",
    ("withdraw", "submitted"): "withdrawn",
    ("withdraw", "unit_approved"): "withdrawn",
    ("withdraw", "approved"): "withdrawn",
    ("edit", "submitted"): "submitted",
}
ACTIONS = ("unit_approve", "center_approve", "reject", "withdraw", "edit")
ALL_STATUSES = ("submitted", "unit_approved", "approved", "rejected", "withdrawn")
ALL_PAIRS = [(a, s) for a in ACTIONS for s in ALL_STATUSES]
REFUSED_PAIRS = [p for p in ALL_PAIRS if p not in EXPECTED_TRANSITIONS]


def test_the_table_covers_exactly_the_known_actions_and_statuses():
    assert set(domain.TRANSITIONS) == set(ACTIONS)
    assert set(domain.STATUSES) == set(ALL_STATUSES)
    allowed = {(a, s) for a, (froms, _) in domain.TRANSITIONS.items() for s in froms}
    assert allowed == set(EXPECTED_TRANSITIONS)


@pytest.mark.parametrize("action, current", list(EXPECTED_TRANSITIONS), ids="-".join)
def test_allowed_transition_leads_to_the_expected_state(action, current):
    assert domain.next_status(current, action) == EXPECTED_TRANSITIONS[(action, current)]


@pytest.mark.parametrize("action, current", REFUSED_PAIRS, ids="-".join)
def test_refused_transition_is_a_rule_violation(action, current):
    with pytest.raises(RuleViolation) as excinfo:
        domain.next_status(current, action)
    assert excinfo.value.rule == "status_transition"
    assert "status" in excinfo.value.fields
    assert excinfo.value.http_status == 422


def test_final_states_admit_no_action():
    for final in ("rejected", "withdrawn"):
        for action in ACTIONS:
            with pytest.raises(RuleViolation):
                domain.next_status(final, action)


@pytest.mark.parametrize("current, stage", [("submitted", "unit"), ("unit_approved", "center")])
def test_rejection_stage_follows_where_the_form_is(current, stage):
    assert domain.rejection_stage(current) == stage


# ---- deadline ----------------------------------------------------------------------------------

def test_registration_is_open_until_the_end_of_the_deadline_day_in_beijing():
    domain.ensure_registration_open("2022", DEADLINE, LAST_OPEN_INSTANT)


def test_registration_closes_at_midnight_beijing_time():
    with pytest.raises(RuleViolation) as excinfo:
        domain.ensure_registration_open("2022", DEADLINE, FIRST_CLOSED_INSTANT)
    assert excinfo.value.rule == "registration_deadline"
    assert "cycle" in excinfo.value.fields
    assert "2022-08-10" in excinfo.value.message


def test_deadline_is_judged_on_the_beijing_date_not_the_utc_date():
    # 2022-08-11 01:00 in Beijing is still 2022-08-10 in UTC: already too late.
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    with pytest.raises(RuleViolation):
        domain.ensure_registration_open("2022", DEADLINE, datetime.datetime(2022, 8, 11, 1, 0, tzinfo=beijing))


def test_deadline_refuses_a_naive_now():
    with pytest.raises(ValueError):
        domain.ensure_registration_open("2022", DEADLINE, datetime.datetime(2022, 8, 10, 12, 0))


# ---- minimum nominations -----------------------------------------------------------------------

def test_default_minimums_are_six_for_district_offices_and_insurer_branches():
    minimums = domain.merge_minimums(None)
    assert minimums["district_safety_office"] == SEED_MINIMUM
    assert minimums["insurer_branch"] == SEED_MINIMUM
    # "其他单位推荐人数无特殊限制": no minimum for the other kinds.
    for kind in ("insured_enterprise", "safety_service_org", "social_org"):
        assert minimums.get(kind, 0) == 0


def test_default_minimums_are_not_mutated_by_a_merge():
    domain.merge_minimums({"district_safety_office": 9})
    assert domain.merge_minimums({})["district_safety_office"] == SEED_MINIMUM


def test_a_cycle_may_override_and_add_minimums():
    minimums = domain.merge_minimums({"district_safety_office": 8, "social_org": 2})
    assert minimums["district_safety_office"] == 8
    assert minimums["social_org"] == 2
    assert minimums["insurer_branch"] == SEED_MINIMUM


def test_override_with_an_unknown_unit_kind_is_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        domain.merge_minimums({"ministry": 3})
    assert "kind" in excinfo.value.fields


def test_the_five_nominating_kinds_of_the_seed():
    # 000 §四(一) lists five kinds of nominee.
    assert len(domain.UNIT_KINDS) == 5


# ---- identity on the form ----------------------------------------------------------------------

def test_birth_month_and_gender_are_derived_from_the_id_number():
    assert domain.reconcile_identity(MALE_1985_07, None, None) == ("1985-07", "male")
    assert domain.reconcile_identity(FEMALE_1985_07, None, None) == ("1985-07", "female")


def test_matching_birth_month_and_gender_are_accepted():
    assert domain.reconcile_identity(FEMALE_1985_07, "1985-07", "female") == ("1985-07", "female")


def test_mismatched_birth_month_is_named():
    with pytest.raises(ValidationFailed) as excinfo:
        domain.reconcile_identity(MALE_1985_07, "1985-08", "male")
    assert set(excinfo.value.fields) == {"birth_month"}
    assert "1985-07" in excinfo.value.fields["birth_month"][0]


def test_mismatched_gender_is_named():
    with pytest.raises(ValidationFailed) as excinfo:
        domain.reconcile_identity(MALE_1985_07, "1985-07", "female")
    assert set(excinfo.value.fields) == {"gender"}


def test_both_mismatches_are_reported_together():
    with pytest.raises(ValidationFailed) as excinfo:
        domain.reconcile_identity(FEMALE_1985_07, "1990-01", "male")
    assert set(excinfo.value.fields) == {"birth_month", "gender"}


# ---- quota report ------------------------------------------------------------------------------

OFFICE = Unit(1, "朝阳区专职安全员", "district_safety_office", "朝阳")
INSURER = Unit(2, "某财产保险公司北京分公司", "insurer_branch", None)
ENTERPRISE = Unit(3, "某已投保企业", "insured_enterprise", "海淀")
COUNTS = {OFFICE.id: 5, INSURER.id: 6, ENTERPRISE.id: 0}


def report_rows(report):
    return {row.unit_id: row for row in report["rows"]}


def test_short_units_are_not_flagged_while_the_window_is_open():
    report = domain.quota_report([OFFICE, INSURER, ENTERPRISE], COUNTS, domain.merge_minimums(None),
                                 DEADLINE, LAST_OPEN_INSTANT)
    rows = report_rows(report)
    assert report["closed"] is False
    assert rows[OFFICE.id].shortfall == SEED_MINIMUM - 5
    assert rows[OFFICE.id].flagged is False
    assert report["units_short"] == 1
    assert report["units_flagged"] == 0


def test_short_units_are_flagged_once_the_window_has_closed():
    report = domain.quota_report([OFFICE, INSURER, ENTERPRISE], COUNTS, domain.merge_minimums(None),
                                 DEADLINE, FIRST_CLOSED_INSTANT)
    rows = report_rows(report)
    assert report["closed"] is True

    office = rows[OFFICE.id]
    assert (office.nominated, office.minimum, office.shortfall, office.flagged) == (5, SEED_MINIMUM, 1, True)
    assert (office.unit_name, office.kind, office.district) == (OFFICE.name, OFFICE.kind, "朝阳")

    insurer = rows[INSURER.id]
    assert (insurer.nominated, insurer.minimum, insurer.shortfall, insurer.flagged) == (6, SEED_MINIMUM, 0, False)

    enterprise = rows[ENTERPRISE.id]
    assert (enterprise.nominated, enterprise.minimum, enterprise.shortfall, enterprise.flagged) == (0, 0, 0, False)

    assert report["units_short"] == 1
    assert report["units_flagged"] == 1
    assert report["nominated"] == 5 + 6 + 0


def test_a_unit_without_nominations_counts_as_zero():
    report = domain.quota_report([INSURER], {}, domain.merge_minimums(None), DEADLINE, FIRST_CLOSED_INSTANT)
    (row,) = report["rows"]
    assert (row.nominated, row.shortfall, row.flagged) == (0, SEED_MINIMUM, True)


def test_an_overridden_minimum_is_applied():
    minimums = domain.merge_minimums({"district_safety_office": 8})
    report = domain.quota_report([OFFICE], COUNTS, minimums, DEADLINE, FIRST_CLOSED_INSTANT)
    assert report["rows"][0].shortfall == 8 - 5


def test_report_rows_follow_the_units_given():
    report = domain.quota_report([ENTERPRISE, OFFICE], COUNTS, domain.merge_minimums(None), DEADLINE,
                                 LAST_OPEN_INSTANT)
    assert [r.unit_id for r in report["rows"]] == [ENTERPRISE.id, OFFICE.id]


# ---- enrolment (seed 004) ----------------------------------------------------------------------

KNOWN = {"东城", "朝阳", "经开区"}


def test_units_with_fewer_than_ten_staff_are_not_enrolled():
    # 004 说明: quotas count units "规模在10人以上".
    with pytest.raises(RuleViolation) as excinfo:
        domain.ensure_enrolable(9, "朝阳", KNOWN, 2018)
    assert excinfo.value.rule == "enrolment_staff_minimum"
    assert "unit.staff_count" in excinfo.value.fields


def test_a_unit_of_ten_staff_in_a_known_district_is_enrolable():
    domain.ensure_enrolable(10, "朝阳", KNOWN, 2018)


def test_a_district_without_a_quota_is_refused():
    with pytest.raises(RuleViolation) as excinfo:
        domain.ensure_enrolable(50, "雄安", KNOWN, 2018)
    assert excinfo.value.rule == "enrolment_district_unknown"
    assert "unit.operating_district" in excinfo.value.fields


def test_enrolment_progress_per_district_and_in_total():
    quotas = {"东城": 6868, "朝阳": 26942, "平谷": 930, "经开区": 666, "西城": 10376}
    enrolled = {"东城": 1717, "朝阳": 26942, "平谷": 1023, "经开区": 333}
    progress = domain.enrolment_progress(quotas, enrolled)
    rows = {r.district: r for r in progress["rows"]}

    assert (rows["东城"].enrolled, rows["东城"].remaining, rows["东城"].percent) == (1717, 6868 - 1717, 25.0)
    assert (rows["朝阳"].remaining, rows["朝阳"].percent) == (0, 100.0)
    assert (rows["经开区"].remaining, rows["经开区"].percent) == (333, 50.0)
    # More enrolled than the quota: nothing remains, and the excess shows as >100 %.
    assert (rows["平谷"].remaining, rows["平谷"].percent) == (0, 110.0)
    assert (rows["西城"].enrolled, rows["西城"].remaining, rows["西城"].percent) == (0, 10376, 0.0)
    assert rows["西城"].quota == 10376

    total_quota = 6868 + 26942 + 930 + 666 + 10376
    total_enrolled = 1717 + 26942 + 1023 + 333
    assert progress["quota"] == total_quota
    assert progress["enrolled"] == total_enrolled
    assert progress["percent"] == round(100 * total_enrolled / total_quota, 2)


def test_enrolment_progress_with_zero_quotas_does_not_divide_by_zero():
    progress = domain.enrolment_progress({"门头沟": 0}, {"门头沟": 3})
    assert progress["rows"][0].percent == 0.0
    assert progress["percent"] == 0.0
    empty = domain.enrolment_progress({}, {})
    assert (empty["quota"], empty["enrolled"], empty["percent"], empty["rows"]) == (0, 0, 0.0, [])


# ---- the 2018 quota table ----------------------------------------------------------------------

# The seed names districts in full ("东城区"); the shipped table uses the short forms people use.
# The 2018 training plan's quota table (附件1 of the plan), transcribed by hand from the document.
# the plan's own wording (任务分配表): official names, 北京经济技术开发区 in full
PUBLISHED_2018 = {"东城区": 6868, "西城区": 10376, "朝阳区": 26942, "海淀区": 22204, "丰台区": 8628,
                  "石景山区": 2022, "门头沟区": 840, "房山区": 2798, "通州区": 7516, "顺义区": 4672, "大兴区": 6974,
                  "昌平区": 5288, "平谷区": 930, "怀柔区": 1322, "密云区": 1456, "延庆区": 708,
                  "北京经济技术开发区": 666}
PUBLISHED_2018_TOTAL = 110210   # the table's 总计 line


def test_seed_quotas_2018_equal_the_published_table():
    assert len(PUBLISHED_2018) == 17 and sum(PUBLISHED_2018.values()) == PUBLISHED_2018_TOTAL
    shipped = domain.seed_quotas(2018)
    assert shipped == PUBLISHED_2018
    assert sum(shipped.values()) == PUBLISHED_2018_TOTAL


def test_seed_quotas_of_an_unpublished_year_are_refused():
    with pytest.raises(RuleViolation) as excinfo:
        domain.seed_quotas(2019)
    assert excinfo.value.rule == "quota_table_unknown"
    assert "year" in excinfo.value.fields
