import logging

from shared.logs import QuietExpectedErrors


def _record(name, msg, exc_info):
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, (), exc_info)


def test_expected_errors_lose_their_traceback_only():
    try:
        raise ValueError("refused")
    except ValueError:
        import sys
        info = sys.exc_info()
    expected = _record("nameko.containers", "(expected) error handling worker %s: %s", info)
    fault = _record("nameko.containers", "error handling worker %s: %s", info)
    other = _record("shared.relay", "(expected) something", info)
    f = QuietExpectedErrors()
    assert f.filter(expected) and expected.exc_info is None
    assert f.filter(fault) and fault.exc_info is info
    assert f.filter(other) and other.exc_info is info


def test_an_access_line_names_each_callers_principal_and_its_own_request():
    from types import SimpleNamespace

    from shared.auth import CONTEXT_KEY, Principal
    from shared.telemetry import _who
    from shared.web import REQUEST_ID_KEY

    unit = Principal(role="unit", agency="beijing", token_id="7", unit_id=3).to_context()
    named = Principal(role="operator", agency="beijing", token_id="8", name="王敏").to_context()

    def worker(context, request_id):
        return SimpleNamespace(data={CONTEXT_KEY: context, REQUEST_ID_KEY: request_id})

    first = _who(worker(unit, "r1"))
    assert first == {"principal": "token:7", "role": "unit", "agency": "beijing", "request_id": "r1"}
    first["role"] = "admin"                      # a caller's copy: the next line is not changed by it
    assert _who(worker(unit, "r2")) == {"principal": "token:7", "role": "unit", "agency": "beijing",
                                         "request_id": "r2"}
    assert _who(worker(named, None)) == {"principal": "王敏", "role": "operator", "agency": "beijing"}
    assert _who(worker(None, "r3")) == {"request_id": "r3"}
    assert _who(worker({"role": "public", "agency": "beijing"}, "r4"))["role"] == "public"  # a dict, not JSON


def test_records_carry_no_thread_or_process_name():
    # one OS thread of green threads: the names would be noise, and asking eventlet for them costs a walk
    # over every thread the first time each worker logs
    import shared.logs  # noqa: F401 - its import sets the flags

    record = logging.LogRecord("wsli.access", logging.INFO, __file__, 1, "x", (), None)
    assert (record.threadName, record.processName) == (None, None)
