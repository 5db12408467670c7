"""Personal data: encryption at rest, blind indexes, masking, and log scrubbing.

Resident ID numbers, phone numbers, bank accounts and names are encrypted
column by column with Fernet (AES-128-CBC + HMAC-SHA256). Fernet ciphertexts
are randomised, so equality lookups and unique constraints go through a blind
index: an HMAC of the normalised value under a separate key.

Key rotation: put the new key first in ``PII_KEYS`` and keep the old ones
after it. New writes use the first key, reads try them all, and
``PiiVault.rotate`` re-encrypts a stored token under the first key; once no
token ``needs_rotation`` the old key can be dropped.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import unicodedata

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import Text, TypeDecorator


class PiiDecryptError(Exception):
    """A token cannot be decrypted with any configured key (wrong key or corrupt data)."""


class PiiVault:
    """Encrypts, decrypts and blind-indexes personal data with configured keys."""

    def __init__(self, keys: list[str], index_key: str):
        if isinstance(keys, (str, bytes)):
            # A bare string would otherwise be iterated character by character.
            raise ValueError("PII keys must be a list of Fernet keys, not a single string")
        keys = list(keys or [])
        if not keys:
            raise ValueError("at least one PII key is required (PII_KEYS is empty)")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # The key itself is secret: name its position, never its value.
                raise ValueError(
                    f"PII key #{position} of {len(keys)} is malformed: a Fernet key is "
                    "32 bytes in url-safe base64 (44 characters); see generate_key()"
                ) from None
        if not isinstance(index_key, str) or not index_key:
            raise ValueError("PII index key is required (PII_INDEX_KEY is empty)")
        self._current = fernets[0]
        self._all = MultiFernet(fernets)
        self._index_key = index_key.encode("utf-8")

    @classmethod
    def from_config(cls, config: dict) -> PiiVault:
        """Build from ``PII_KEYS`` (list or comma-separated string) and ``PII_INDEX_KEY``."""
        keys = config.get("PII_KEYS") or []
        if isinstance(keys, str):
            keys = keys.split(",")
        keys = [key.strip() if isinstance(key, str) else key for key in keys]
        keys = [key for key in keys if key]
        return cls(keys, config.get("PII_INDEX_KEY") or "")

    def encrypt(self, plaintext: str) -> str:
        if not isinstance(plaintext, str):
            raise TypeError(f"PII plaintext must be str, not {type(plaintext).__name__}")
        return self._all.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._all.decrypt(token).decode("utf-8")
        except (InvalidToken, ValueError):
            # ValueError: base64 decoding rejects non-ASCII text before Fernet sees it.
            raise PiiDecryptError(
                "PII token cannot be decrypted with any configured key "
                "(wrong PII_KEYS, or the stored value is corrupt)"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the first key; keeps its original timestamp."""
        try:
            return self._all.rotate(token).decode("ascii")
        except (InvalidToken, ValueError):
            raise PiiDecryptError(
                "PII token cannot be rotated: no configured key decrypts it"
            ) from None

    def needs_rotation(self, token: str) -> bool:
        """True when the first (current) key alone cannot decrypt ``token``."""
        try:
            self._current.decrypt(token)
        except (InvalidToken, ValueError):
            return True
        return False

    def blind_index(self, value: str) -> str:
        """Deterministic hex HMAC-SHA256 of the normalised value, for lookups and uniqueness.

        Normalisation only evens out Unicode width, case and whitespace; pass
        identifiers through ``shared.validators`` first so that equal values
        are spelled the same way.
        """
        if not isinstance(value, str):
            raise TypeError(f"PII value must be str, not {type(value).__name__}")
        normalized = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
        return hmac.new(self._index_key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()


def generate_key() -> str:
    """A fresh Fernet key, as text suitable for ``PII_KEYS``."""
    return Fernet.generate_key().decode("ascii")


_vault: PiiVault | None = None


# The keys the repository's config.yml files ship as laptop defaults: anyone can read them, so
# data encrypted or indexed under them is as good as plain text once it leaves the laptop.
PUBLISHED_PII_KEYS = frozenset({"0wJayvKbPmeU7I3L_LJnXJun5uuFW6e6sb9bIzfYLpg="})
PUBLISHED_INDEX_KEYS = frozenset({"wsli-local-index-key"})


def published_key_settings(config: dict) -> list[str]:
    """The PII settings of ``config`` that still hold a published default: ``PII_KEYS``, ``PII_INDEX_KEY``."""
    keys = config.get("PII_KEYS") or []
    if isinstance(keys, str):
        keys = keys.split(",")
    found = []
    if any(isinstance(k, str) and k.strip() in PUBLISHED_PII_KEYS for k in keys):
        found.append("PII_KEYS")
    if str(config.get("PII_INDEX_KEY") or "").strip() in PUBLISHED_INDEX_KEYS:
        found.append("PII_INDEX_KEY")
    return found


def is_loopback_address(address: str) -> bool:
    """``127.0.0.1:8000``, ``localhost:8000``, ``[::1]:8000``: only this machine can connect."""
    import ipaddress

    host = str(address or "").rsplit(":", 1)[0].strip("[]") if ":" in str(address or "") else str(address or "")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # 0.0.0.0 is an address too; a host name may resolve anywhere


def check_published_keys(config: dict, address_setting: str = "WEB_SERVER_ADDRESS") -> list[str]:
    """Refuse to serve personal data to the network under published keys; on loopback, warnings.

    Raises ``RuntimeError`` naming the settings when the server listens on a non-loopback
    address; otherwise returns the warnings ``/health`` shows.
    """
    settings = published_key_settings(config)
    if not settings:
        return []
    names = " and ".join(settings)
    address = str(config.get(address_setting) or "")
    if not is_loopback_address(address):
        raise RuntimeError(
            f"{names} still {'hold' if len(settings) > 1 else 'holds'} the published default from config.yml, and {address_setting} is {address!r}, "
            "reachable from other machines: set your own (PII_KEYS: python -c 'from shared.pii import "
            "generate_key; print(generate_key())'; PII_INDEX_KEY: any long random string) or listen on 127.0.0.1")
    return [f"{name} holds the published default key from config.yml: fine on this machine only; set your own "
            "before listening beyond 127.0.0.1" for name in settings]


def configure_vault(vault: PiiVault | None) -> None:
    """Set the process-wide vault used by ``EncryptedString`` columns (None clears it)."""
    global _vault
    _vault = vault


def get_vault() -> PiiVault:
    if _vault is None:
        raise RuntimeError(
            "PII vault is not configured: call shared.pii.configure_vault("
            "PiiVault.from_config(config)) at service start-up, before any "
            "EncryptedString column is read or written"
        )
    return _vault


class EncryptedString(TypeDecorator):
    """A text column whose value is Fernet-encrypted with the process-wide vault.

    The stored text is randomised, so ``column == value`` never matches:
    filter on a blind-index column instead.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return get_vault().encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return get_vault().decrypt(value)


# Masking. Each function keeps the length of its input, so a masked value still
# looks like what it is, and turns a value too short to hide anything into stars.

def _as_text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _keep_ends(text: str, head: int, tail: int) -> str:
    hidden = len(text) - head - tail
    if hidden <= 0:
        return "*" * len(text)
    return text[:head] + "*" * hidden + text[len(text) - tail:]


def mask_id_number(value) -> str | None:
    """``11010519491231002X`` -> ``110***********002X`` (first 3 and last 4 kept)."""
    text = _as_text(value)
    return None if text is None else _keep_ends(text, 3, 4)


def mask_phone(value) -> str | None:
    """``13812345678`` -> ``138****5678`` (first 3 and last 4 kept)."""
    text = _as_text(value)
    return None if text is None else _keep_ends(text, 3, 4)


_NUMBER_IN_CONTACT = re.compile(r"[0-9+][0-9 ()+-]{5,}[0-9]")


def mask_contact(value) -> str | None:
    """A free-text contact ``张三 13812345678`` -> ``张三 138****5678``.

    Every run of 7+ digits (mobile or landline, separators included) is masked as a
    phone is: first 3 and last 4 kept; the words around it stay readable.
    """
    text = _as_text(value)
    return None if text is None else _NUMBER_IN_CONTACT.sub(lambda m: _keep_ends(m.group(), 3, 4), text)


def mask_account(value) -> str | None:
    """``6222021234561234`` -> ``************1234``.

    Every character except the last 4 becomes a star, separators included, so
    the output has the input's length but no grouping.
    """
    text = _as_text(value)
    return None if text is None else _keep_ends(text, 0, 4)


def mask_name(value) -> str | None:
    """``张三`` -> ``张*``, ``欧阳娜娜`` -> ``欧***``, ``Li Lei`` -> ``L*****``; one character -> ``*``."""
    text = _as_text(value)
    if text is None:
        return None
    text = text.strip()
    return _keep_ends(text, 1, 0)


def mask_email(value) -> str | None:
    """``zhang.san@example.com`` -> ``z********@example.com`` (local part masked, domain kept)."""
    text = _as_text(value)
    if text is None:
        return None
    local, at, domain = text.rpartition("@")
    if not at:
        return "*" * len(text)
    return _keep_ends(local, 1, 0) + at + domain


MASKERS = {
    "id_number": mask_id_number,
    "phone": mask_phone,
    "contact": mask_contact,
    "account": mask_account,
    "name": mask_name,
    "email": mask_email,
}


def mask(kind: str, value) -> str | None:
    """Mask ``value`` as ``kind`` (one of ``MASKERS``)."""
    try:
        masker = MASKERS[kind]
    except KeyError:
        raise ValueError(f"unknown PII kind {kind!r}; expected one of {sorted(MASKERS)}") from None
    return masker(value)


# Log scrubbing. ASCII letters and digits delimit the numbers rather than \b,
# because \b treats Chinese characters as word characters and would miss
# "身份证110105194912310021号". Alternatives are tried in order at each
# position: an 18-char ID before a bank account, a bank account before a
# mobile number.
_PII_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])(?P<id_number>[0-9]{17}[0-9Xx])(?![0-9A-Za-z])"
    r"|(?<![0-9])(?P<account>[0-9]{16,19})(?![0-9])"
    r"|(?<![0-9])(?P<prefix>\+?86[ -]?)?(?P<phone>1[3-9][0-9]{9})(?![0-9])"
)


def _mask_match(match: re.Match) -> str:
    kind = match.lastgroup
    return (match.group("prefix") or "") + MASKERS[kind](match.group(kind))


# Each number above has 11 digits in a row at least: text without such a run has none of them
# (most log lines; the search is several times cheaper than trying the alternatives everywhere).
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")


def mask_text(text: str) -> str:
    """Replace resident IDs, bank accounts and mobile numbers found in free text."""
    if not _ELEVEN_DIGITS.search(text):
        return text
    return _PII_IN_TEXT.sub(_mask_match, text)


class PiiLogFilter(logging.Filter):
    """Masks personal numbers in the formatted message (and traceback) of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # Arguments that do not fit the format string: leave the record for
            # logging's own error handling rather than lose it here.
            return True
        record.msg = mask_text(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse a pre-rendered exc_text, so masking it here also
            # covers exception messages such as database unique-key errors.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def install_log_filter(logger: logging.Logger | None = None) -> PiiLogFilter:
    """Attach a ``PiiLogFilter`` to the root logger's handlers and to ``logger``.

    Handler filters see records propagated from every logger; the logger filter
    covers records that reach handlers attached directly to it. Idempotent.
    Handlers added later are not covered: call this again after configuring
    logging.
    """
    root = logging.getLogger()
    target = logger if logger is not None else root
    existing = _find_filter(target) or next(
        (found for found in map(_find_filter, root.handlers) if found), None
    )
    pii_filter = existing or PiiLogFilter()
    for filterer in [*root.handlers, *target.handlers, target]:
        if _find_filter(filterer) is None:
            filterer.addFilter(pii_filter)
    return pii_filter


def _find_filter(filterer: logging.Filterer) -> PiiLogFilter | None:
    return next((f for f in filterer.filters if isinstance(f, PiiLogFilter)), None)
