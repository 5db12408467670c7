"""For every route, a role outside the route's list is refused, by the gateway and by the service.

The roles are declared once per service (``services/<name>/roles.py``): the route
table names the tuple and the RPC's ``@rpc(roles=...)`` checks it. This holds the
two to each other, then asks both sides to refuse every other role.
"""
from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.routes import ALL_ROUTES, LOCAL
from gateway.service import GatewayService
from shared.auth import ROLES, Principal
from shared.catalogue import component
from shared.entrypoints import roles_of
from shared.errors import Forbidden
from tests.conftest import AGENCY

GUARDED = [r for r in ALL_ROUTES if not r.public]
SERVICE_ROUTES = [r for r in GUARDED if r.service != LOCAL]


def _id(route) -> str:
    return f"{route.method} {route.path}"


def _outsiders(route) -> list[str]:
    return [r for r in ROLES if r not in route.roles and r != "public"]


def test_every_route_is_public_or_names_its_roles():
    assert all(r.roles for r in GUARDED), [_id(r) for r in GUARDED if not r.roles]
    assert all(set(r.roles) <= set(ROLES) for r in ALL_ROUTES)


@pytest.mark.parametrize("route", SERVICE_ROUTES, ids=_id)
def test_the_route_and_the_service_name_the_same_roles(route):
    declared = roles_of(component(route.service).service(), route.rpc)
    assert declared is not None, f"{route.service}.{route.rpc} checks no role itself"
    # the service may also admit callers without a token (``system``: operator commands)
    assert [r for r in declared if r in ROLES] == list(route.roles)


@pytest.mark.parametrize("route", SERVICE_ROUTES, ids=_id)
def test_the_service_refuses_every_other_role(route):
    service_cls = component(route.service).service()
    args = ["1"] * len(route.path_args) + ([{}] if route.body or route.query or route.upload else [])
    for role in _outsiders(route):
        # the role is checked before anything is read: no database needed, a mock would fail loudly
        service = worker_factory(service_cls, caller=Principal(role=role, agency=AGENCY, name=role))
        with pytest.raises(Forbidden):
            getattr(service, route.rpc)(*args)
        service.db.session.execute.assert_not_called()


@pytest.mark.parametrize("route", GUARDED, ids=_id)
def test_the_gateway_refuses_every_other_role_without_calling_a_service(route):
    path = route.path
    for arg in route.path_args:
        path = path.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "1")
    for role in _outsiders(route):
        gateway = worker_factory(GatewayService, authenticate=lambda request, session, role=role: Principal(
            role=role, agency=AGENCY, name=role))
        request = Request(EnvironBuilder(method=route.method, path=path, json={} if route.body else None).get_environ())
        response = gateway.api(request, path[len("/api/v1/"):])
        assert response.status_code == 403, (role, response.get_data(as_text=True))
        assert not gateway.services.mock_calls, "refused before any service was called"


def test_the_gateway_lets_the_listed_roles_through():
    route = next(r for r in ALL_ROUTES if r.rpc == "list_cycles")
    gateway = worker_factory(GatewayService, authenticate=lambda request, session: Principal(
        role="unit", agency=AGENCY, name="unit"))
    gateway.services = MagicMock()
    gateway.services.breaker.is_open = False  # the broker is up
    gateway.services.registration.list_cycles.call_async.return_value.result.return_value = []
    request = Request(EnvironBuilder(method="GET", path=route.path).get_environ())
    response = gateway.api(request, "cycles")
    assert response.status_code == 200
    gateway.services.registration.list_cycles.call_async.assert_called_once_with()


def test_every_route_with_an_id_has_an_entry_in_the_access_table():
    """gateway/routes/access.py: the object-level policy of every route that takes an id."""
    from gateway.routes.access import ACCESS, key

    keys = {key(r) for r in ALL_ROUTES if r.path_args}
    assert sorted(keys - set(ACCESS)) == [], "routes with an id and no access policy"
    assert sorted(set(ACCESS) - keys) == [], "access entries for routes that do not exist"
    for route in ALL_ROUTES:
        if route.path_args:
            fence = ACCESS[key(route)]
            assert set(fence.scoped) <= set(route.roles), (key(route), "fences a role the route does not admit")
            assert fence.missing in (200, 201, 400, 404), key(route)
            assert fence.missing != 201 or route.method != "GET", (key(route), "a read creates nothing")
