"""Console accounts: argon2 hashes, lockout with back-off, sessions, CSRF comparison, labels."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from gateway.web import accounts, labels
from gateway.web.models import Base, WebUser
from shared.db import create_all
from shared.errors import ValidationFailed

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
POLICY = accounts.LoginPolicy(max_failures=3, lock_seconds=60, max_lock_seconds=600, session_hours=8)


@pytest.fixture
def session(tmp_path):
    engine = create_all(f"sqlite:///{tmp_path}/web.db", Base.metadata)
    with Session(engine, expire_on_commit=False) as s:
        yield s
    engine.dispose()


def make_user(session, **kw):
    args = dict(agency="beijing", username="op1", password="correct horse battery", role="operator", now=NOW)
    args.update(kw)
    return accounts.create_user(session, **args)


def test_the_password_is_stored_as_an_argon2id_hash_only(session):
    user = make_user(session)
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert accounts.check_login(session, "beijing", "op1", "correct horse battery", POLICY, NOW) is user


@pytest.mark.parametrize("kw, field", [
    ({"password": "short"}, "password"),
    ({"role": "public"}, "role"),
    ({"role": "unit"}, "unit_id"),          # a unit account must say which unit
    ({"role": "regulator"}, "district"),
    ({"username": "has space"}, "username"),
])
def test_bad_account_data_is_refused_naming_the_field_in_chinese(session, kw, field):
    with pytest.raises(ValidationFailed) as refused:
        make_user(session, **kw)
    assert field in refused.value.fields
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.fields[field][0])


def test_a_username_is_unique_within_the_agency(session):
    make_user(session)
    with pytest.raises(ValidationFailed) as refused:
        make_user(session)
    assert "username" in refused.value.fields
    assert make_user(session, agency="tianjin").id  # another agency may reuse it


def test_wrong_password_and_unknown_user_get_the_same_answer(session):
    make_user(session)
    with pytest.raises(accounts.LoginRefused) as wrong:
        accounts.check_login(session, "beijing", "op1", "nope", POLICY, NOW)
    with pytest.raises(accounts.LoginRefused) as unknown:
        accounts.check_login(session, "beijing", "nobody", "nope", POLICY, NOW)
    assert wrong.value.message == unknown.value.message == accounts.WRONG


def test_lockout_after_repeated_failures_then_back_off_doubles(session):
    user = make_user(session)
    for _ in range(POLICY.max_failures - 1):
        with pytest.raises(accounts.LoginRefused) as refused:
            accounts.check_login(session, "beijing", "op1", "wrong", POLICY, NOW)
        assert refused.value.locked_until is None
    with pytest.raises(accounts.LoginRefused) as locked:
        accounts.check_login(session, "beijing", "op1", "wrong", POLICY, NOW)
    assert locked.value.locked_until == NOW + timedelta(seconds=60)
    assert "锁定" in locked.value.message
    # even the right password is refused while locked
    with pytest.raises(accounts.LoginRefused):
        accounts.check_login(session, "beijing", "op1", "correct horse battery", POLICY, NOW + timedelta(seconds=30))
    # after the lock, one more failure locks for twice as long
    later = NOW + timedelta(seconds=61)
    with pytest.raises(accounts.LoginRefused) as again:
        accounts.check_login(session, "beijing", "op1", "wrong", POLICY, later)
    assert again.value.locked_until == later + timedelta(seconds=120)
    # and a success after it resets the count
    free = later + timedelta(seconds=121)
    assert accounts.check_login(session, "beijing", "op1", "correct horse battery", POLICY, free) is user
    assert user.failed_logins == 0 and user.locked_until is None


def test_back_off_is_capped():
    assert POLICY.lock_for(2) is None
    assert POLICY.lock_for(3) == timedelta(seconds=60)
    assert POLICY.lock_for(30) == timedelta(seconds=600)


def test_a_disabled_account_cannot_log_in(session):
    user = make_user(session)
    user.disabled_at = NOW
    with pytest.raises(accounts.LoginRefused):
        accounts.check_login(session, "beijing", "op1", "correct horse battery", POLICY, NOW)


def test_sessions_store_only_a_hash_and_expire_and_end(session):
    user = make_user(session)
    token, row = accounts.start_session(session, user, POLICY, NOW)
    assert row.token_hash != token and len(row.token_hash) == 64
    assert accounts.find_session(session, token, NOW + timedelta(hours=1)) == (row, user)
    assert accounts.find_session(session, token, NOW + timedelta(hours=8)) is None  # expired
    assert accounts.find_session(session, "forged", NOW) is None
    assert accounts.find_session(session, None, NOW) is None
    accounts.end_session(row, NOW)
    assert accounts.find_session(session, token, NOW) is None
    second, other = accounts.start_session(session, user, POLICY, NOW)
    assert second != token and other.csrf_token != row.csrf_token


def test_csrf_tokens_compare_exactly():
    assert accounts.same_token("abc", "abc")
    assert not accounts.same_token("abc", "abd")
    assert not accounts.same_token("abc", "")
    assert not accounts.same_token(None, None)


def test_the_principal_carries_role_and_binding_like_a_token():
    user = WebUser(id=7, agency_id="beijing", username="u1", role="unit", unit_id=3, display_name="x",
                   password_hash="-", failed_logins=0, created_at=NOW)
    p = accounts.principal_of(user)
    assert (p.role, p.agency, p.unit_id, p.name, p.token_id) == ("unit", "beijing", 3, "u1", "web:7")


def test_labels_cover_every_status_the_services_define():
    from services.registration import domain as reg
    from services.subsidies import domain as sub
    from services.training import domain as tr

    assert set(labels.LABELS["registration"]["candidate_status"]) == set(reg.STATUSES)
    assert set(labels.LABELS["subsidies"]["lecture_status"]) == set(sub.REPORT_STATUSES)
    assert set(labels.LABELS["subsidies"]["check_rule"]) == set(sub.RULES)
    assert set(labels.LABELS["training"]["stage"]) == set(tr.STAGES)
    assert set(labels.LABELS["training"]["trainee_status"]) == set(tr.TRAINEE_STATUSES)
    assert set(labels.LABELS["gateway"]["role"]) >= set(__import__("shared.auth").auth.ROLES)
    assert labels.label("registration.candidate_status", "unit_approved") == "单位已盖章，待中心审核"
    assert labels.label("candidate_status", "approved") == "中心已审核通过"
    assert labels.label("registration.candidate_status", "new_code") == "new_code"  # unknown: the code


def test_field_errors_are_described_in_chinese():
    described = labels.describe_fields({"id_number": ["Missing data for required field."],
                                        "photo": {"data_base64": ["Not a valid string."]}})
    assert ("id_number", "身份证号", "必填") in described
    assert ("photo.data_base64", "照片", "须为文字") in described
    from shared.validators import RESIDENT_ID_CHECKSUM
    assert labels.describe_fields({"id_number": [RESIDENT_ID_CHECKSUM]})[0][2].startswith("校验码不正确")
