"""Identifiers and contact details: normalisation and marshmallow fields.

Each ``normalize_*`` function returns the canonical form that is stored and
compared, or raises ``marshmallow.ValidationError`` with a message precise
enough for the person filling in the form to fix the value. The field classes
apply the same functions on load, so a schema and a service agree on what is
valid.
"""
from __future__ import annotations

import datetime
import re

from marshmallow import ValidationError, fields
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc

NOT_A_STRING = "Not a valid string."

RESIDENT_ID_LENGTH = "must be 18 characters"
RESIDENT_ID_LEGACY = (
    "15-digit legacy resident ID numbers are not accepted; only 18-digit numbers are accepted"
)
RESIDENT_ID_CHECKSUM = "check digit does not match (GB 11643)"
RESIDENT_ID_BIRTH_DATE = "birth date is not a valid date"
RESIDENT_ID_REGION = "region code is not a known administrative division"
RESIDENT_ID_FORMAT = "invalid format"

USCC_LENGTH = "must be 18 characters"
USCC_CHECKSUM = "check digit does not match (GB 32100)"
USCC_FORMAT = "invalid format"

MOBILE_INVALID = "must be an 11-digit mainland China mobile number starting with 13-19"

EMAIL_MAX_LENGTH = 254  # RFC 5321 limit on a forward path
EMAIL_TOO_LONG = f"must be at most {EMAIL_MAX_LENGTH} characters"
EMAIL_SPACES = "must not contain spaces"
EMAIL_ONE_AT = "must contain exactly one @"
EMAIL_INVALID = "invalid email address"
EMAIL_DOMAIN_DOT = "domain must contain a dot"

# [0-9] rather than \d: \d also matches full-width and other Unicode digits.
_MOBILE_RE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})")
_MOBILE_SEPARATORS_RE = re.compile(r"[\s-]+")
_LEGACY_RESIDENT_ID_RE = re.compile(r"[0-9]{15}")


def _require_string(value) -> str:
    if not isinstance(value, str):
        raise ValidationError(NOT_A_STRING)
    return value


def normalize_resident_id(value: str) -> str:
    """Validate a resident ID number (GB 11643) and return its 18-char form, upper-case X."""
    number = ric.compact(_require_string(value))
    if _LEGACY_RESIDENT_ID_RE.fullmatch(number):
        raise ValidationError(RESIDENT_ID_LEGACY)
    try:
        return ric.validate(number)
    except stdnum_errors.InvalidLength:
        raise ValidationError(RESIDENT_ID_LENGTH) from None
    except stdnum_errors.InvalidChecksum:
        raise ValidationError(RESIDENT_ID_CHECKSUM) from None
    except stdnum_errors.InvalidComponent:
        # stdnum raises the same error for an impossible birth date and for an
        # unknown region code; tell them apart so the message says which.
        try:
            ric.get_birth_date(number)
        except stdnum_errors.InvalidComponent:
            raise ValidationError(RESIDENT_ID_BIRTH_DATE) from None
        raise ValidationError(RESIDENT_ID_REGION) from None
    except stdnum_errors.ValidationError:
        raise ValidationError(RESIDENT_ID_FORMAT) from None


def birth_date_of(id_number: str) -> datetime.date:
    """Birth date encoded in a resident ID number (validated first)."""
    return ric.get_birth_date(normalize_resident_id(id_number))


def age_on(birth: datetime.date, day: datetime.date) -> int:
    """Whole years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def ensure_plausible_age(id_number: str, today: datetime.date, minimum: int, maximum: int) -> int:
    """The holder's age on ``today``, refused when the number says they are not born or out of range.

    A check digit proves the number was typed as issued, not that it exists: an
    invented number with a birth date in 2100 passes GB 11643. The bounds are the
    role's (see each caller); the message says which age was read.
    """
    birth = birth_date_of(id_number)
    if birth > today:
        raise ValidationError(f"birth date {birth.isoformat()} is in the future")
    age = age_on(birth, today)
    if not minimum <= age <= maximum:
        raise ValidationError(f"age {age} (born {birth.isoformat()}) is outside {minimum}–{maximum} for this role")
    return age


def gender_of(id_number: str) -> str:
    """``"male"`` or ``"female"`` from the order code (odd is male, GB 11643).

    stdnum offers no accessor for this, so it is read from the 17th digit.
    """
    number = normalize_resident_id(id_number)
    return "male" if int(number[16]) % 2 else "female"


def normalize_uscc(value: str) -> str:
    """Validate a unified social credit code (GB 32100) and return its compact form."""
    try:
        return uscc.validate(_require_string(value))
    except stdnum_errors.InvalidLength:
        raise ValidationError(USCC_LENGTH) from None
    except stdnum_errors.InvalidChecksum:
        raise ValidationError(USCC_CHECKSUM) from None
    except stdnum_errors.ValidationError:
        raise ValidationError(USCC_FORMAT) from None


def normalize_mobile(value: str) -> str:
    """Return the 11 digits of a mainland mobile number.

    Tolerates a ``+86``/``86`` prefix and spaces or dashes between groups, as
    people type them.
    """
    compact = _MOBILE_SEPARATORS_RE.sub("", _require_string(value))
    match = _MOBILE_RE.fullmatch(compact)
    if not match:
        raise ValidationError(MOBILE_INVALID)
    return match.group(1)


def normalize_email(value: str) -> str:
    """Pragmatic email check; returns the address with its domain lower-cased.

    Deliberately not RFC 5322: confirmation mail is the real test, this only
    catches typing mistakes. The local part keeps its case because, strictly,
    it belongs to the receiving server.
    """
    address = _require_string(value).strip()
    if len(address) > EMAIL_MAX_LENGTH:
        raise ValidationError(EMAIL_TOO_LONG)
    if any(char.isspace() for char in address):
        raise ValidationError(EMAIL_SPACES)
    if address.count("@") != 1:
        raise ValidationError(EMAIL_ONE_AT)
    local, domain = address.split("@")
    if not local or not domain:
        raise ValidationError(EMAIL_INVALID)
    if "." not in domain:
        raise ValidationError(EMAIL_DOMAIN_DOT)
    if "" in domain.split("."):
        raise ValidationError(EMAIL_INVALID)
    return f"{local}@{domain.lower()}"


class _NormalizedString(fields.String):
    """A string field that strips whitespace, then applies ``normalizer``.

    ``openapi`` is what the normalizer accepts in its canonical form, as JSON Schema: the gateway's
    OpenAPI document states it for every field of the class (``gateway.openapi``), so a client
    generated from the document sends what the service takes. A ``format`` names a rule a pattern
    cannot hold (a check digit); the pattern still holds its shape.
    """

    openapi: dict = {}

    @staticmethod
    def normalizer(value: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        return self.normalizer(text.strip())


class ResidentId(_NormalizedString):
    """Resident ID number (GB 11643), loaded as 18 chars with upper-case X."""

    normalizer = staticmethod(normalize_resident_id)
    openapi = {"format": "cn-resident-id", "pattern": "^[1-9][0-9]{16}[0-9X]$", "minLength": 18, "maxLength": 18,
               "description": "居民身份证号码（GB 11643，18 位）：地区码、出生日期、顺序码、校验码"}


class SocialCreditCode(_NormalizedString):
    """Unified social credit code (GB 32100), loaded in compact upper-case form."""

    normalizer = staticmethod(normalize_uscc)
    openapi = {"format": "cn-uscc", "pattern": "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$",
               "minLength": 18, "maxLength": 18, "description": "统一社会信用代码（GB 32100，18 位，含校验码）"}


class MobilePhone(_NormalizedString):
    """Mainland mobile number, loaded as 11 digits."""

    normalizer = staticmethod(normalize_mobile)
    openapi = {"pattern": "^1[3-9][0-9]{9}$", "description": "中国大陆手机号（11 位，13–19 开头）"}


class Email(_NormalizedString):
    """Email address, loaded with a lower-case domain."""

    normalizer = staticmethod(normalize_email)
    openapi = {"format": "email", "maxLength": EMAIL_MAX_LENGTH}
