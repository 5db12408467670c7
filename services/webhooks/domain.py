"""Rules of webhook delivery, free of I/O: which endpoint wants which event, when to try
again, what an answer means, which targets may be called, how secrets look.

Standard Webhooks (https://www.standardwebhooks.com) fixes the wire format; the
signing itself is the ``standardwebhooks`` package's (see ``dispatcher``).
"""
from __future__ import annotations

import base64
import fnmatch
import ipaddress
import json
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from shared.errors import RuleViolation, ValidationFailed

# The schedule Standard Webhooks suggests: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
# (~27.5 h of retries). Each entry is the wait before that attempt.
DEFAULT_SCHEDULE_SECONDS = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2             # ± a fifth of each wait, so endpoints that failed together do not retry together
MAX_RETRY_AFTER = 24 * 3600
EXCERPT_CHARS = 500
ENABLED, DISABLED = "enabled", "disabled"
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
SECRET_PREFIX = "whsec_"
MAX_ID = 2**63 - 1

# The answer classes of one attempt.
OK, RETRY, GONE = "ok", "retry", "gone"


def as_id(value, name: str = "id") -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed(f"{name} must be a number", {name: ["Not a valid integer."]}) from None
    if not 1 <= number <= MAX_ID:
        raise ValidationFailed(f"{name} out of range", {name: [f"must be between 1 and {MAX_ID}"]})
    return number


# ---- which events an endpoint wants ------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    """``service`` and ``event`` are shell-style patterns (``*``, ``candidate_*``); ``version`` a major or ``*``."""

    service: str = "*"
    event: str = "*"
    version: str = "1"

    def matches(self, service: str, event: str, version: int) -> bool:
        return (fnmatch.fnmatchcase(service, self.service) and fnmatch.fnmatchcase(event, self.event)
                and (self.version == "*" or int(self.version) == int(version)))


def filters_of(stored: list[dict]) -> list[Filter]:
    return [Filter(str(f.get("service", "*")), str(f.get("event", "*")), str(f.get("version", "1"))) for f in stored]


def wants(stored_filters: list[dict], service: str, event: str, version: int) -> bool:
    return any(f.matches(service, event, version) for f in filters_of(stored_filters))


def check_filters_match_something(stored_filters: list[dict], known: list[tuple[str, str, int]]):
    """A filter that matches no registered event is most likely a typo: say so instead of delivering nothing."""
    for i, f in enumerate(filters_of(stored_filters)):
        if not any(f.matches(*k) for k in known):
            raise RuleViolation(
                f"event type filter {i} ({f.service}.{f.event}.v{f.version}) matches no event",
                {"event_types": {str(i): ["matches no registered event type"]}}, rule="webhook_event_types")


def parse_type(type_: str) -> tuple[str, str, int] | None:
    """``wsli.<service>.<event>.v<major>`` → its parts."""
    m = re.fullmatch(r"wsli\.([a-z0-9_]+)\.([a-z0-9_]+)\.v(\d+)", type_ or "")
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def type_patterns_match(patterns: list[str], type_: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(type_, p) for p in patterns)


# ---- retries -----------------------------------------------------------------------------------

def classify(status: int | None) -> str:
    """Any 2xx succeeds; 410 Gone disables the endpoint; everything else (3xx included,
    redirects are never followed) and no answer at all is retried."""
    if status is not None and 200 <= status < 300:
        return OK
    if status == 410:
        return GONE
    return RETRY


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """``Retry-After`` as delta-seconds or an HTTP date (RFC 9110 §10.2.3); junk is ignored."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER)


def next_attempt_at(schedule: list[float], attempts_made: int, now: datetime, retry_after: float | None = None,
                    rng: random.Random | None = None) -> datetime | None:
    """When to try again after ``attempts_made`` attempts failed; None once the schedule is spent.

    The wait is the schedule's next entry ± ``JITTER``, never shorter than what the
    receiver asked for in ``Retry-After``.
    """
    if attempts_made >= len(schedule):
        return None
    wait = float(schedule[attempts_made])
    wait *= 1 + (rng or random).uniform(-JITTER, JITTER)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return now + timedelta(seconds=max(wait, 0.0))


def excerpt(text: str | bytes | None) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return text[:EXCERPT_CHARS]


# ---- where we may call -------------------------------------------------------------------------

TARGET_RULE = "webhook_target"


def TargetRefused(message: str) -> RuleViolation:  # noqa: N802 (reads as the exception it makes)
    """A URL we will not call (SSRF guard); the message says why. A plain ``RuleViolation``
    so it crosses RPC to the gateway as one (a subclass would arrive as a RemoteError)."""
    return RuleViolation(message, {"url": [message]}, rule=TARGET_RULE)


def parse_networks(value) -> list:
    if not value:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if str(item).strip()]


def check_url_shape(url: str) -> tuple[str, int]:
    """http(s) only, a host, no credentials in the URL; returns (host, port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs are delivered to")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials do not belong in the URL; verify our signature instead")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refused_address(address: str, allowed_networks: list) -> str | None:
    """Why ``address`` may not be called, or None. Anything not globally routable is refused
    (private, loopback, link-local — cloud metadata lives there —, multicast, reserved,
    unspecified) unless the agency's config lists a network containing it."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allowed_networks if net.version == ip.version):
        return None
    for flag in ("is_loopback", "is_link_local", "is_private", "is_multicast", "is_reserved", "is_unspecified"):
        if getattr(ip, flag):
            return f"{ip} is {flag[3:].replace('_', '-')}"
    if not ip.is_global:
        return f"{ip} is not globally routable"
    return None


def check_addresses(host: str, addresses: list[str], allowed_networks: list):
    """Every address the host resolves to must pass: one bad answer is enough to refuse."""
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    for address in addresses:
        reason = refused_address(address, allowed_networks)
        if reason:
            raise TargetRefused(f"{host} resolves to a refused address: {reason}")


# ---- secrets -----------------------------------------------------------------------------------

def new_secret() -> str:
    """24 random bytes, base64, with the ``whsec_`` prefix Standard Webhooks uses."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def signing_secrets(current: str, previous: str | None, previous_until: datetime | None, now: datetime) -> list[str]:
    """During a rotation both secrets sign, so a receiver still holding the old one verifies."""
    found = [current]
    if previous and previous_until is not None and previous_until > now:
        found.append(previous)
    return found


def body_of(envelope: dict) -> str:
    """The exact bytes that are signed and sent: compact JSON, UTF-8, as the producer wrote it."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
