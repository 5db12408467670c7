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
