"""Webhook rules without I/O: filters, the retry schedule, answers, the SSRF guard, secrets, signatures."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.webhooks import domain
from services.webhooks.dispatcher import sign_headers
from shared.errors import RuleViolation, ValidationFailed

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("flt, service, event, version, expected", [
    ({"service": "registration", "event": "candidate_*", "version": "1"}, "registration", "candidate_approved", 1, True),
    ({"service": "registration", "event": "candidate_*", "version": "1"}, "registration", "cycle_created", 1, False),
    ({"service": "*", "event": "*", "version": "*"}, "training", "exam_scored", 3, True),
    ({"service": "registration", "event": "cycle_created", "version": "2"}, "registration", "cycle_created", 1, False),
    ({"service": "registration", "event": "cycle_created", "version": "2"}, "registration", "cycle_created", 2, True),
    ({"service": "registration", "event": "cycle_created"}, "registration", "cycle_created", 2, False),  # default v1
    ({"service": "train*"}, "training", "exam_scored", 1, True),
])
def test_filters(flt, service, event, version, expected):
    assert domain.wants([flt], service, event, version) is expected


def test_a_filter_matching_no_event_is_refused_as_a_typo():
    known = [("registration", "cycle_created", 1)]
    domain.check_filters_match_something([{"service": "registration", "event": "cycle_*", "version": "1"}], known)
    with pytest.raises(RuleViolation) as refused:
        domain.check_filters_match_something([{"event": "cycle_created"}, {"event": "cycle_creatd"}], known)
    assert refused.value.rule == "webhook_event_types" and "1" in refused.value.fields["event_types"]


def test_the_default_schedule_is_the_standard_one_and_ends():
    assert domain.DEFAULT_SCHEDULE_SECONDS == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    schedule = list(domain.DEFAULT_SCHEDULE_SECONDS)
    rng = random.Random(1)
    for made, wait in enumerate(schedule):
        when = domain.next_attempt_at(schedule, made, NOW, rng=rng)
        delta = (when - NOW).total_seconds()
        assert wait * (1 - domain.JITTER) <= delta <= wait * (1 + domain.JITTER)
    assert domain.next_attempt_at(schedule, len(schedule), NOW) is None


def test_jitter_spreads_endpoints_that_failed_together():
    rng = random.Random(7)
    waits = {domain.next_attempt_at([0, 300], 1, NOW, rng=rng) for _ in range(20)}
    assert len(waits) > 10


def test_retry_after_is_never_undercut_and_is_bounded():
    when = domain.next_attempt_at([0, 5], 1, NOW, retry_after=120, rng=random.Random(0))
    assert (when - NOW).total_seconds() == 120
    assert domain.retry_after_seconds("120", NOW) == 120
    assert domain.retry_after_seconds("Wed, 02 Dec 2026 08:10:00 GMT", NOW) == 600
    assert domain.retry_after_seconds("Wed, 02 Dec 2026 07:00:00 GMT", NOW) == 0
    assert domain.retry_after_seconds("99999999", NOW) == domain.MAX_RETRY_AFTER
    assert domain.retry_after_seconds("soon", NOW) is None
    assert domain.retry_after_seconds(None, NOW) is None


@pytest.mark.parametrize("status, outcome", [
    (200, "ok"), (201, "ok"), (204, "ok"), (299, "ok"), (301, "retry"), (302, "retry"), (307, "retry"),
    (400, "retry"), (404, "retry"), (410, "gone"), (429, "retry"), (500, "retry"), (503, "retry"), (None, "retry"),
])
def test_answers(status, outcome):
    assert domain.classify(status) == outcome


@pytest.mark.parametrize("address, word", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.0.0.8", "private"), ("172.16.5.4", "private"),
    ("192.168.1.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "0.0.0.0 is"), ("224.0.0.1", "multicast"), ("::ffff:10.0.0.1", "private"),
    ("100.64.0.1", "not globally routable"), ("fc00::1", "private"),
])
def test_non_public_addresses_are_refused(address, word):
    reason = domain.refused_address(address, [])
    assert reason and word in reason


def test_public_addresses_pass_and_allowed_networks_open_exactly_themselves():
    assert domain.refused_address("93.184.216.34", []) is None
    assert domain.refused_address("2606:2800:220:1:248:1893:25c8:1946", []) is None
    allowed = domain.parse_networks("127.0.0.0/8, 10.20.0.0/16")
    assert domain.refused_address("127.0.0.1", allowed) is None
    assert domain.refused_address("10.20.3.4", allowed) is None
    assert domain.refused_address("10.21.3.4", allowed)
    assert domain.refused_address("169.254.169.254", allowed)


def test_one_bad_address_among_several_refuses_the_host():
    with pytest.raises(RuleViolation) as refused:
        domain.check_addresses("mixed.example", ["93.184.216.34", "10.0.0.1"], [])
    assert refused.value.rule == "webhook_target" and "url" in refused.value.fields
    with pytest.raises(RuleViolation):
        domain.check_addresses("nothing.example", [], [])


@pytest.mark.parametrize("url, word", [
    ("ftp://example.org/", "http and https"), ("file:///etc/passwd", "http and https"),
    ("gopher://example.org", "http and https"), ("http:///nohost", "no host"),
    ("https://u:p@example.org/", "credentials"), ("http://example.org:99999/", "valid URL"),
])
def test_url_shapes(url, word):
    with pytest.raises(RuleViolation) as refused:
        domain.check_url_shape(url)
    assert word in refused.value.message


def test_url_shape_gives_host_and_port():
    assert domain.check_url_shape("https://hooks.example.org/x") == ("hooks.example.org", 443)
    assert domain.check_url_shape("http://127.0.0.1:8080/x") == ("127.0.0.1", 8080)


def test_secrets_are_standard_webhooks_secrets_and_differ():
    a, b = domain.new_secret(), domain.new_secret()
    assert a.startswith("whsec_") and a != b
    Webhook(a)  # the library accepts it


def test_signatures_verify_with_the_library_and_rotation_signs_twice():
    old, new = domain.new_secret(), domain.new_secret()
    body = '{"id":"e1","data":{"名":"值"}}'
    moment = datetime.now(timezone.utc)
    both = domain.signing_secrets(new, old, moment + timedelta(hours=1), moment)
    headers = sign_headers("e1", body, both, moment)
    assert headers["webhook-id"] == "e1" and headers["content-type"] == "application/cloudevents+json"
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body.encode("utf-8"), headers)["id"] == "e1"
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace("值", "改"), headers)
    # after the grace period the old secret no longer signs
    assert domain.signing_secrets(new, old, moment - timedelta(seconds=1), moment) == [new]


def test_ids_are_bounded():
    assert domain.as_id("12") == 12
    for junk in ("abc", "0", "-5", "9" * 30, None):
        with pytest.raises(ValidationFailed):
            domain.as_id(junk)


def test_type_names_parse():
    assert domain.parse_type("wsli.registration.cycle_created.v2") == ("registration", "cycle_created", 2)
    assert domain.parse_type("com.example.other") is None


def test_no_event_carries_an_id_number_a_phone_or_a_bank_account():
    """Whatever integrators receive is an event's data: none may hold personal numbers."""
    from shared.catalogue import load_all_event_schemas
    from shared.events import REGISTRY

    load_all_event_schemas()
    forbidden = ("id_number", "phone", "mobile", "account_number", "bank_account", "account")
    for type_, spec in REGISTRY.items():
        names = _field_names(spec.schema())
        assert not [n for n in names if any(word == n or n.endswith("_" + word) for word in forbidden)], type_


def _field_names(schema) -> set[str]:
    from marshmallow import fields

    names = set()
    for name, field in schema.fields.items():
        names.add(field.data_key or name)
        inner = getattr(field, "inner", None)
        nested = field if isinstance(field, fields.Nested) else inner if isinstance(inner, fields.Nested) else None
        if nested is not None:
            names |= _field_names(nested.schema)
    return names
