"""nameko's ``@rpc`` with the platform's expected errors declared.

A refused request (validation, access, rule) is a normal answer, not a fault:
nameko then logs it as one warning line instead of an error with a traceback.
"""
from __future__ import annotations

from nameko.rpc import rpc as _rpc

from shared.errors import WsliError


def rpc(fn=None, **options):
    options.setdefault("expected_exceptions", (WsliError,))
    decorator = _rpc(**options)
    return decorator(fn) if fn is not None else decorator
