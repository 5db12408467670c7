"""Logging filters for the services' log configuration."""
from __future__ import annotations

import logging


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
