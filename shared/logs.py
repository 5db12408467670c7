"""Logging filters for the services' log configuration."""
from __future__ import annotations

import logging

# Every component is one OS thread running green threads. A record's thread name would be
# "GreenThread-N" and cost eventlet a walk over all threads the first time each worker logs
# (one access line per request); the process name is always "MainProcess". Neither is written.
logging.logThreads = False
logging.logMultiprocessing = False
# Nor is the caller's file, line and function: not looking for them spares a walk up the stack
# per record (the logging HOWTO's own advice when they are not used).
logging._srcfile = None


class QuietExpectedErrors(logging.Filter):
    """Keep nameko's '(expected) error handling worker' line, drop its traceback.

    A refused request (validation, access, a domain rule) is a normal answer;
    its traceback would bury the real faults in the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "nameko.containers" and str(record.msg).startswith("(expected)"):
            record.exc_info = None
            record.exc_text = None
        return True


# ---- structured logs ------------------------------------------------------------------------------

import contextvars  # noqa: E402
import json  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

# What the current worker is doing; each greenthread has its own copy (greenlet
# keeps contextvars per greenlet), set by shared.telemetry.Telemetry.
WORKER = contextvars.ContextVar("wsli_worker", default=None)
_FIELDS = ("request_id", "principal", "role", "agency", "service", "entrypoint", "duration_ms", "outcome",
           "status", "error", "method", "path", "client")
# The shortest personal number the masking looks for is a mobile number: 11 digits.
_SHORTEST_MASKED = 11


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the worker's context.

    Fields: ``request_id``, ``principal``, ``role``, ``agency``, ``service``,
    ``entrypoint`` (from the worker this line was logged in), plus ``duration_ms``,
    ``outcome``, ``status`` and ``error`` when the line is an entrypoint's summary.
    Put the PII filter on the handler: it masks the message before this runs,
    and string fields are masked here again.
    """

    def format(self, record: logging.LogRecord) -> str:
        from shared.pii import mask_text

        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        context = WORKER.get()
        if context:
            line.update(context)
        given = record.__dict__  # an access line's fields, passed as ``extra``
        for key in _FIELDS:
            value = given.get(key)
            if value is not None:
                line[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        for key, value in line.items():
            if isinstance(value, str) and len(value) >= _SHORTEST_MASKED and key not in ("time", "level", "logger"):
                line[key] = mask_text(value)
        return json.dumps(line, ensure_ascii=False, default=str)
