"""Registration input schemas, loaded the way the service loads them (shared.schemas.load)."""
import pytest
from stdnum.cn import ric, uscc

from services.registration import schemas
from shared.errors import ValidationFailed
from shared.schemas import load


def resident_id(first17: str) -> str:
    # stdnum's calc_check_digit ignores the last character, so a placeholder is appended.
    return first17 + ric.calc_check_digit(first17 + "0")


def credit_code(first17: str) -> str:
    return first17 + uscc.calc_check_digit(first17)


def wrong_check(number: str, alphabet: str) -> str:
    return number[:-1] + next(c for c in alphabet if c != number[-1])


ID_NUMBER = resident_id("11010519850715001")
ID_ENDING_X = resident_id("11010519491231002")  # its GB 11643 check character is X
USCC = credit_code("91110000600037341")


def refused(schema_cls, payload) -> dict:
    with pytest.raises(ValidationFailed) as excinfo:
        load(schema_cls, payload)
    assert excinfo.value.http_status == 400
    return excinfo.value.fields


def candidate(**changes) -> dict:
    payload = {
        "cycle": "2022",
        "name": "李明",
        "email": "liming@example.com",
        "phone": "13812345678",
        "education": "本科",
        "id_number": ID_NUMBER,
        "school_major": "首都经济贸易大学 保险学",
        "employer_position": "朝阳区应急管理局 专职安全员",
        "deeds": "参加安责险宣讲活动12场。",
        "recommendation_reason": "表达能力突出，熟悉安责险制度。",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


# Fields the 附件1 form asks for that a registration cannot do without, plus the cycle it is for.
FORM_REQUIRED = ("name", "email", "phone", "education", "id_number", "school_major", "employer_position",
                 "deeds", "recommendation_reason", "cycle")


# ---- CandidateIn -------------------------------------------------------------------------------

def test_a_complete_form_loads():
    data = load(schemas.CandidateIn, candidate())
    assert data["name"] == "李明"
    assert data["id_number"] == ID_NUMBER
    assert data["unit_id"] is None  # a unit token's own unit is used then


def test_identifiers_are_normalised_on_load():
    data = load(schemas.CandidateIn, candidate(
        phone="+86 138-1234-5678", email="LiMing@Example.COM", id_number=ID_ENDING_X.lower()))
    assert data["phone"] == "13812345678"
    assert data["email"] == "LiMing@example.com"
    assert data["id_number"] == ID_ENDING_X and ID_ENDING_X.endswith("X")


@pytest.mark.parametrize("missing", FORM_REQUIRED)
def test_each_required_form_field_is_named_when_missing(missing):
    fields = refused(schemas.CandidateIn, candidate(**{missing: ...}))
    assert missing in fields


def test_all_missing_form_fields_are_named_at_once():
    assert set(refused(schemas.CandidateIn, {})) == set(FORM_REQUIRED)


def test_optional_form_fields_may_be_left_out():
    data = load(schemas.CandidateIn, candidate())
    assert data["title"] is None and data["remarks"] is None and data["photo"] is None
    for absent in ("birth_month", "gender"):  # derived from the ID number when absent
        assert absent not in data


@pytest.mark.parametrize("field, value", [
    ("name", 123),
    ("unit_id", "5"),
    ("unit_id", 0),
    ("deeds", ["a", "b"]),
    ("cycle", "2022/23"),
    ("gender", "m"),
    ("name", ""),
    ("name", None),
])
def test_wrong_types_and_values_are_named(field, value):
    fields = refused(schemas.CandidateIn, candidate(**{field: value}))
    assert field in fields
    assert fields[field] and all(isinstance(m, str) for m in fields[field])


@pytest.mark.parametrize("body", [["not", "an", "object"], "a string", 42])
def test_a_body_that_is_not_an_object_is_refused(body):
    fields = refused(schemas.CandidateIn, body)
    assert set(fields) == {"_schema"}


@pytest.mark.parametrize("field, limit", [("name", 50), ("deeds", 5000), ("recommendation_reason", 2000)])
def test_text_lengths(field, limit):
    assert load(schemas.CandidateIn, candidate(**{field: "字" * limit}))[field] == "字" * limit
    assert field in refused(schemas.CandidateIn, candidate(**{field: "字" * (limit + 1)}))


BAD_IDS = {
    "wrong check digit": wrong_check(ID_NUMBER, "0123456789X"),
    "15-digit legacy": "110105850715001",
    "impossible birth date": resident_id("11010519850230001"),
    "too short": ID_NUMBER[:-2],
}


@pytest.mark.parametrize("number", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_bad_id_numbers_are_named(number):
    fields = refused(schemas.CandidateIn, candidate(id_number=number))
    assert list(fields) == ["id_number"]


def test_id_number_messages_say_what_is_wrong():
    assert "check digit" in refused(schemas.CandidateIn, candidate(id_number=BAD_IDS["wrong check digit"]))[
        "id_number"][0]
    assert "15-digit" in refused(schemas.CandidateIn, candidate(id_number=BAD_IDS["15-digit legacy"]))[
        "id_number"][0]
    assert "birth date" in refused(schemas.CandidateIn, candidate(id_number=BAD_IDS["impossible birth date"]))[
        "id_number"][0]


@pytest.mark.parametrize("phone", ["12812345678", "1381234567", "138123456789", "010-12345678", "１３８１２３４５６７８"])
def test_bad_mobile_numbers_are_named(phone):
    assert list(refused(schemas.CandidateIn, candidate(phone=phone))) == ["phone"]


@pytest.mark.parametrize("email", ["liming.example.com", "li@ming@example.com", "liming@localhost", "li ming@example.com",
                                   "@example.com", "liming@example..com"])
def test_bad_email_addresses_are_named(email):
    assert list(refused(schemas.CandidateIn, candidate(email=email))) == ["email"]


def test_unknown_fields_are_refused():
    fields = refused(schemas.CandidateIn, candidate(salary=10000))
    assert "salary" in fields


@pytest.mark.parametrize("month", ["1985-07", "1985-12", "1985-01"])
def test_birth_month_in_year_month_form_is_accepted(month):
    assert load(schemas.CandidateIn, candidate(birth_month=month))["birth_month"] == month


@pytest.mark.parametrize("month", ["1985-13", "1985-00", "1985-7", "198507", "1985-07-15", "七月"])
def test_birth_month_in_other_forms_is_refused(month):
    assert list(refused(schemas.CandidateIn, candidate(birth_month=month))) == ["birth_month"]


def test_a_photo_must_have_data():
    assert "photo" in refused(schemas.CandidateIn, candidate(photo={}))
    assert "photo" in refused(schemas.CandidateIn, candidate(photo={"data_base64": "abc"}))


def test_a_patch_requires_nothing_but_still_validates():
    data = load(schemas.CandidatePatch, {})
    assert data["expected_version"] is None
    assert not set(FORM_REQUIRED) & set(data)
    assert "phone" in refused(schemas.CandidatePatch, {"phone": "123"})


# ---- UnitIn ------------------------------------------------------------------------------------

def test_a_district_safety_office_needs_its_district():
    fields = refused(schemas.UnitIn, {"name": "朝阳区专职安全员", "kind": "district_safety_office"})
    assert "district" in fields
    data = load(schemas.UnitIn, {"name": "朝阳区专职安全员", "kind": "district_safety_office", "district": "朝阳"})
    assert data["district"] == "朝阳区"  # any common form in, the official name stored


def test_other_unit_kinds_need_no_district():
    data = load(schemas.UnitIn, {"name": "某财产保险公司北京分公司", "kind": "insurer_branch"})
    assert data["district"] is None


def test_missing_district_is_named_alongside_other_errors():
    fields = refused(schemas.UnitIn, {"name": "朝阳区专职安全员", "kind": "district_safety_office",
                                      "contact_phone": "123"})
    assert {"district", "contact_phone"} <= set(fields)


def test_unit_kind_must_be_one_of_the_five():
    assert "kind" in refused(schemas.UnitIn, {"name": "x", "kind": "ministry"})


def test_a_valid_credit_code_is_accepted_and_normalised():
    data = load(schemas.UnitIn, {"name": "某企业", "kind": "insured_enterprise", "credit_code": f" {USCC.lower()} "})
    assert data["credit_code"] == USCC


@pytest.mark.parametrize("code", [wrong_check(USCC, "0123456789ABCDEFGHJKLMNPQRTUWXY"), USCC[:-1], "not a code"])
def test_a_bad_credit_code_is_named(code):
    fields = refused(schemas.UnitIn, {"name": "某企业", "kind": "insured_enterprise", "credit_code": code})
    assert list(fields) == ["credit_code"]


# ---- EnrolmentIn -------------------------------------------------------------------------------

def enrolment(unit=None, person=None, **changes) -> dict:
    payload = {
        "year": 2018,
        "role": "principal",
        "unit": {"name": "某制造企业", "credit_code": USCC, "staff_count": 25, "operating_district": "朝阳",
                 **(unit or {})},
        "person": {"name": "王强", "id_number": ID_NUMBER, **(person or {})},
    }
    payload.update(changes)
    return payload


def test_a_complete_enrolment_loads():
    data = load(schemas.EnrolmentIn, enrolment())
    assert data["unit"]["credit_code"] == USCC
    assert data["person"]["id_number"] == ID_NUMBER
    assert data["unit"]["registered_district"] is None


def test_nested_errors_are_named_with_their_path():
    fields = refused(schemas.EnrolmentIn, enrolment(
        unit={"credit_code": wrong_check(USCC, "0123456789ABCDEFGHJKLMNPQRTUWXY")},
        person={"id_number": BAD_IDS["wrong check digit"]}))
    assert "credit_code" in fields["unit"]
    assert "id_number" in fields["person"]


def test_nested_missing_fields_are_named_with_their_path():
    payload = enrolment()
    del payload["unit"]["operating_district"]
    fields = refused(schemas.EnrolmentIn, payload)
    assert list(fields) == ["unit"]
    assert "operating_district" in fields["unit"]


@pytest.mark.parametrize("role, ok", [("principal", True), ("safety_manager", True), ("ceo", False)])
def test_enrolment_roles_are_the_two_of_the_plan(role, ok):
    if ok:
        assert load(schemas.EnrolmentIn, enrolment(role=role))["role"] == role
    else:
        assert "role" in refused(schemas.EnrolmentIn, enrolment(role=role))


def test_enrolment_staff_count_must_be_an_integer():
    assert "staff_count" in refused(schemas.EnrolmentIn, enrolment(unit={"staff_count": "25"}))["unit"]


# ---- CandidateQuery ----------------------------------------------------------------------------

def test_query_defaults():
    assert load(schemas.CandidateQuery, {}) == {"page": 1, "per_page": 20}


def test_query_string_numbers_are_accepted():
    assert load(schemas.CandidateQuery, {"page": "3", "per_page": "200"}) == {"page": 3, "per_page": 200}


@pytest.mark.parametrize("params, field", [
    ({"per_page": 201}, "per_page"),
    ({"per_page": 0}, "per_page"),
    ({"page": 0}, "page"),
    ({"page": "x"}, "page"),
    ({"status": "pending"}, "status"),
    ({"kind": "ministry"}, "kind"),
])
def test_bad_query_parameters_are_named(params, field):
    assert list(refused(schemas.CandidateQuery, params)) == [field]


@pytest.mark.parametrize("status", ["submitted", "unit_approved", "approved", "rejected", "withdrawn"])
def test_every_known_status_may_be_queried(status):
    assert load(schemas.CandidateQuery, {"status": status})["status"] == status


# ---- QuotaTableIn ------------------------------------------------------------------------------

@pytest.mark.parametrize("year", [2000, 2018, 2100])
def test_quota_table_years_in_range(year):
    assert load(schemas.QuotaTableIn, {"year": year}) == {"year": year, "districts": None, "replace": False,
                                                          "reason": None}


@pytest.mark.parametrize("year", [1999, 2101, "2018"])
def test_quota_table_years_out_of_range_or_not_integers(year):
    assert list(refused(schemas.QuotaTableIn, {"year": year})) == ["year"]


def test_a_negative_quota_is_refused_and_named_by_row():
    fields = refused(schemas.QuotaTableIn, {"year": 2018, "districts": [
        {"district": "东城", "quota": 6868}, {"district": "西城", "quota": -1}]})
    assert "quota" in fields["districts"][1]
    assert 0 not in fields["districts"]


def test_a_zero_quota_is_accepted():
    data = load(schemas.QuotaTableIn, {"year": 2018, "districts": [{"district": "延庆", "quota": 0}]})
    assert data["districts"] == [{"district": "延庆区", "quota": 0}]


def test_an_empty_district_list_is_refused():
    assert "districts" in refused(schemas.QuotaTableIn, {"year": 2018, "districts": []})


def test_an_invalid_field_is_not_also_reported_missing():
    from services.registration import schemas as s
    from shared.errors import ValidationFailed
    from shared.schemas import load
    from tests.support import candidate_form
    form = candidate_form("2026", id_number="110101199003071234")  # wrong check digit
    try:
        load(s.CandidateIn, dict(form, unit_id=1))
    except ValidationFailed as exc:
        assert exc.fields == {"id_number": ["check digit does not match (GB 11643)"]}
    else:
        raise AssertionError("a bad ID number must be refused")
