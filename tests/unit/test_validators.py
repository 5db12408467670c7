import datetime

import pytest
from marshmallow import Schema, ValidationError
from stdnum.cn import ric, uscc

from shared import validators
from shared.validators import (
    Email,
    MobilePhone,
    ResidentId,
    SocialCreditCode,
    birth_date_of,
    gender_of,
    normalize_email,
    normalize_mobile,
    normalize_resident_id,
    normalize_uscc,
)


def resident_id(first17: str) -> str:
    """A resident ID with its real GB 11643 check digit (stdnum ignores the last char)."""
    return first17 + ric.calc_check_digit(first17 + "0")


def credit_code(first17: str) -> str:
    """A USCC with its real GB 32100 check digit."""
    return first17 + uscc.calc_check_digit(first17)


def wrong_check_char(number: str, alphabet: str) -> str:
    return number[:-1] + next(c for c in alphabet if c != number[-1])


# Beijing Chaoyang (110105), born 1949-12-31; order 001 is male, 002 is female.
MALE_ID = resident_id("11010519491231001")
FEMALE_ID = resident_id("11010519491231002")
# Shenzhen Futian (440304), born on a leap day.
LEAP_DAY_ID = resident_id("44030420000229003")
USCC = credit_code("91110000600037341")
OTHER_USCC = credit_code("91310115MA1K4ABCD")


def messages(excinfo) -> list:
    return excinfo.value.messages


def test_helpers_make_numbers_stdnum_accepts():
    assert FEMALE_ID == "11010519491231002X"
    for number in (MALE_ID, FEMALE_ID, LEAP_DAY_ID):
        assert ric.is_valid(number)
    assert USCC == "91110000600037341L"
    assert uscc.is_valid(OTHER_USCC)


# Resident ID ------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        (MALE_ID, MALE_ID),
        ("11010519491231002x", "11010519491231002X"),
        ("  11010519491231002X\n", "11010519491231002X"),
        (LEAP_DAY_ID, LEAP_DAY_ID),
    ],
)
def test_normalize_resident_id_accepts_and_compacts(raw, expected):
    assert normalize_resident_id(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("1101051949123100", validators.RESIDENT_ID_LENGTH),
        (MALE_ID + "1", validators.RESIDENT_ID_LENGTH),
        ("", validators.RESIDENT_ID_LENGTH),
        (wrong_check_char(MALE_ID, "0123456789X"), validators.RESIDENT_ID_CHECKSUM),
        (wrong_check_char(FEMALE_ID, "0123456789X"), validators.RESIDENT_ID_CHECKSUM),
        (resident_id("11010519990230001"), validators.RESIDENT_ID_BIRTH_DATE),
        (resident_id("11010520011301001"), validators.RESIDENT_ID_BIRTH_DATE),
        (resident_id("99999920000101001"), validators.RESIDENT_ID_REGION),
        ("11010519491231A02X", validators.RESIDENT_ID_FORMAT),
    ],
)
def test_normalize_resident_id_errors(raw, message):
    with pytest.raises(ValidationError) as excinfo:
        normalize_resident_id(raw)
    assert messages(excinfo) == [message]


def test_error_messages_are_the_documented_wording():
    assert validators.RESIDENT_ID_LENGTH == "must be 18 characters"
    assert validators.RESIDENT_ID_CHECKSUM == "check digit does not match (GB 11643)"
    assert validators.RESIDENT_ID_BIRTH_DATE == "birth date is not a valid date"
    assert validators.RESIDENT_ID_FORMAT == "invalid format"


def test_legacy_15_digit_number_is_refused_with_its_own_message():
    with pytest.raises(ValidationError) as excinfo:
        normalize_resident_id("110105491231002")
    [message] = messages(excinfo)
    assert "only 18-digit numbers are accepted" in message


@pytest.mark.parametrize("value", [None, 11010519491231002, ["11010519491231002X"]])
def test_normalize_resident_id_non_string(value):
    with pytest.raises(ValidationError) as excinfo:
        normalize_resident_id(value)
    assert messages(excinfo) == ["Not a valid string."]


def test_birth_date_and_gender():
    assert birth_date_of(MALE_ID) == datetime.date(1949, 12, 31)
    assert birth_date_of(LEAP_DAY_ID) == datetime.date(2000, 2, 29)
    assert gender_of(MALE_ID) == "male"
    assert gender_of("11010519491231002x") == "female"
    assert gender_of(LEAP_DAY_ID) == "male"


def test_birth_date_and_gender_validate_first():
    with pytest.raises(ValidationError):
        birth_date_of(wrong_check_char(MALE_ID, "0123456789X"))
    with pytest.raises(ValidationError):
        gender_of("110105491231002")


# USCC -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        (USCC, USCC),
        (USCC.lower(), USCC),
        (" 9 1 110000 600037341L ", USCC),
        ("9111-0000-6000-37341L", USCC),
        (OTHER_USCC, OTHER_USCC),
    ],
)
def test_normalize_uscc_accepts_and_compacts(raw, expected):
    assert normalize_uscc(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("12345", "must be 18 characters"),
        (USCC + "0", "must be 18 characters"),
        (
            wrong_check_char(USCC, "0123456789ABCDEFGHJKLMNPQRTUWXY"),
            "check digit does not match (GB 32100)",
        ),
        ("A1110000600037341L", "invalid format"),
        # I, O, Z, S and V are not in the GB 32100 alphabet.
        ("9111000060003734IL", "invalid format"),
    ],
)
def test_normalize_uscc_errors(raw, message):
    with pytest.raises(ValidationError) as excinfo:
        normalize_uscc(raw)
    assert messages(excinfo) == [message]


def test_normalize_uscc_non_string():
    with pytest.raises(ValidationError) as excinfo:
        normalize_uscc(91110000600037341)
    assert messages(excinfo) == ["Not a valid string."]


# Mobile -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "+8613812345678",
        "8613812345678",
        "  13812345678 ",
    ],
)
def test_normalize_mobile_accepts_common_spellings(raw):
    assert normalize_mobile(raw) == "13812345678"


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_normalize_mobile_accepts_every_allowed_prefix(prefix):
    assert normalize_mobile(prefix + "012345678") == prefix + "012345678"


@pytest.mark.parametrize(
    "raw",
    [
        "12812345678",  # 12 is not a mobile prefix
        "10812345678",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "+8713812345678",
        "008613812345678",
        "1381234567a",
        "１３８１２３４５６７８",  # full-width digits
        "",
        "+86",
    ],
)
def test_normalize_mobile_rejects(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalize_mobile(raw)
    assert messages(excinfo) == [validators.MOBILE_INVALID]


# Email ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        ("zhang.san@example.com", "zhang.san@example.com"),
        ("Zhang.San@Example.COM", "Zhang.San@example.com"),
        ("  li+claims@mail.example.cn ", "li+claims@mail.example.cn"),
    ],
)
def test_normalize_email_lowercases_domain_only(raw, expected):
    assert normalize_email(raw) == expected


def test_normalize_email_length_limit():
    domain = "@example.com"
    longest = "a" * (254 - len(domain)) + domain
    assert normalize_email(longest) == longest
    with pytest.raises(ValidationError) as excinfo:
        normalize_email("a" + longest)
    assert messages(excinfo) == ["must be at most 254 characters"]


@pytest.mark.parametrize(
    "raw, message",
    [
        ("zhang san@example.com", validators.EMAIL_SPACES),
        ("zhang@exa\tmple.com", validators.EMAIL_SPACES),
        ("zhang.example.com", validators.EMAIL_ONE_AT),
        ("zhang@@example.com", validators.EMAIL_ONE_AT),
        ("a@b@example.com", validators.EMAIL_ONE_AT),
        ("@example.com", validators.EMAIL_INVALID),
        ("zhang@", validators.EMAIL_INVALID),
        ("zhang@localhost", validators.EMAIL_DOMAIN_DOT),
        ("zhang@example..com", validators.EMAIL_INVALID),
        ("zhang@.example.com", validators.EMAIL_INVALID),
        ("zhang@example.com.", validators.EMAIL_INVALID),
    ],
)
def test_normalize_email_rejects(raw, message):
    with pytest.raises(ValidationError) as excinfo:
        normalize_email(raw)
    assert messages(excinfo) == [message]


# Fields -----------------------------------------------------------------------

class InsuredSchema(Schema):
    id_number = ResidentId()
    credit_code = SocialCreditCode()
    mobile = MobilePhone()
    email = Email(required=False)


def test_fields_are_string_fields():
    for field_class in (ResidentId, SocialCreditCode, MobilePhone, Email):
        assert issubclass(field_class, validators.fields.String)


def test_schema_load_normalizes_every_field():
    loaded = InsuredSchema().load(
        {
            "id_number": " 11010519491231002x ",
            "credit_code": " 91110000600037341l",
            "mobile": "+86 138-1234-5678",
            "email": " Zhang.San@Example.COM ",
        }
    )
    assert loaded == {
        "id_number": "11010519491231002X",
        "credit_code": USCC,
        "mobile": "13812345678",
        "email": "Zhang.San@example.com",
    }


def test_schema_load_reports_precise_messages_per_field():
    with pytest.raises(ValidationError) as excinfo:
        InsuredSchema().load(
            {
                "id_number": wrong_check_char(MALE_ID, "0123456789X"),
                "credit_code": "12345",
                "mobile": "12812345678",
                "email": "zhang@localhost",
            }
        )
    assert messages(excinfo) == {
        "id_number": ["check digit does not match (GB 11643)"],
        "credit_code": ["must be 18 characters"],
        "mobile": [validators.MOBILE_INVALID],
        "email": ["domain must contain a dot"],
    }


@pytest.mark.parametrize("value", [12345, 1.5, True, ["13812345678"], {"a": 1}])
def test_fields_reject_non_strings_with_marshmallow_message(value):
    data = {name: value for name in ("id_number", "credit_code", "mobile", "email")}
    with pytest.raises(ValidationError) as excinfo:
        InsuredSchema().load(data)
    assert messages(excinfo) == {
        name: ["Not a valid string."] for name in ("id_number", "credit_code", "mobile", "email")
    }


def test_field_accepts_utf8_bytes_like_string_field():
    assert InsuredSchema().load({"mobile": b"13812345678"}) == {"mobile": "13812345678"}


def test_field_null_uses_marshmallow_message():
    with pytest.raises(ValidationError) as excinfo:
        InsuredSchema().load({"id_number": None})
    assert messages(excinfo) == {"id_number": ["Field may not be null."]}


def test_field_dump_passes_value_through():
    assert InsuredSchema().dump({"id_number": FEMALE_ID}) == {"id_number": FEMALE_ID}


# Plausible ages ---------------------------------------------------------------

def _id_born(birth: str) -> str:
    """A resident ID number with a valid check digit for a birth date (region 110105, 朝阳)."""
    from stdnum.cn import ric
    body = f"110105{birth.replace('-', '')}123"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check digit


def test_age_on_counts_whole_years():
    D = datetime.date
    assert validators.age_on(D(1990, 6, 15), D(2026, 6, 14)) == 35
    assert validators.age_on(D(1990, 6, 15), D(2026, 6, 15)) == 36
    assert validators.age_on(D(2000, 2, 29), D(2026, 2, 28)) == 25


def test_a_birth_date_in_the_future_is_refused_though_the_check_digit_is_valid():
    number = _id_born("2100-01-01")
    assert validators.normalize_resident_id(number) == number  # GB 11643 alone accepts it
    with pytest.raises(ValidationError, match="birth date 2100-01-01 is in the future"):
        validators.ensure_plausible_age(number, datetime.date(2026, 12, 2), 18, 70)


@pytest.mark.parametrize("birth, ok", [("2008-12-02", True), ("2008-12-03", False),
                                       ("1956-12-03", True), ("1955-12-02", False)])
def test_age_bounds_are_inclusive(birth, ok):
    number = _id_born(birth)
    if ok:
        assert 18 <= validators.ensure_plausible_age(number, datetime.date(2026, 12, 2), 18, 70) <= 70
    else:
        with pytest.raises(ValidationError, match="is outside 18–70"):
            validators.ensure_plausible_age(number, datetime.date(2026, 12, 2), 18, 70)
