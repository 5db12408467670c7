"""The cached argument check accepts and refuses exactly the calls nameko's own check does."""
from __future__ import annotations

import functools
import inspect

import pytest
from nameko.exceptions import IncorrectSignature

from shared.signatures import SignatureOnce


def guard(method):
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        return method(self, *args, **kwargs)
    return guarded


class Service:
    def plain(self, a, b=1):
        pass

    def keywords(self, a, *, flag=False):
        pass

    def variadic(self, *args, **kwargs):
        pass

    @guard
    def guarded(self, a):
        pass


class Container:
    service_cls = Service


class Entrypoint(SignatureOnce):
    def __init__(self, method_name):
        self.container, self.method_name = Container(), method_name


CALLS = [((), {}), ((1,), {}), ((1, 2), {}), ((1, 2, 3), {}), ((1,), {"b": 2}), ((1,), {"flag": True}),
         ((), {"a": 1}), ((1,), {"a": 1}), ((1,), {"nope": 1})]


def nameko_accepts(name, args, kwargs) -> bool:
    try:
        inspect.getcallargs(getattr(Service, name), None, *args, **kwargs)
        return True
    except TypeError:
        return False


@pytest.mark.parametrize("name", ["plain", "keywords", "variadic", "guarded"])
def test_the_same_calls_pass_and_fail_as_with_getcallargs(name):
    entrypoint = Entrypoint(name)
    for args, kwargs in CALLS:
        try:
            entrypoint.check_signature(args, kwargs)
            accepted = True
        except IncorrectSignature:
            accepted = False
        assert accepted == nameko_accepts(name, args, kwargs), (name, args, kwargs)
    assert entrypoint._signature is not None, "built on the first call and kept"


def test_a_guarded_method_is_checked_by_its_wrapper_as_before():
    # a role guard's *args, **kwargs: the method itself refuses a wrong call, after the role check
    Entrypoint("guarded").check_signature((1, 2, 3), {})
    with pytest.raises(IncorrectSignature, match="argument"):
        Entrypoint("plain").check_signature((1, 2, 3), {})
