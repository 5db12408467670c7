"""The published default PII keys: the gateway and the console refuse to start with them on a
non-loopback address (naming the setting), and on loopback /health warns about them."""
from __future__ import annotations

import pytest
import requests

from gateway.service import GatewayService
from gateway.web.service import WebService
from shared.config import load_config
from shared.catalogue import GATEWAY
from tests.conftest import free_port, wait_for


SHIPPED = load_config(GATEWAY.config_path)  # what config.yml gives when nothing is set
PUBLISHED = {"PII_KEYS": "0wJayvKbPmeU7I3L_LJnXJun5uuFW6e6sb9bIzfYLpg=", "PII_INDEX_KEY": "wsli-local-index-key"}


def test_the_published_keys_are_the_shipped_defaults():
    assert {k: SHIPPED[k] for k in PUBLISHED} == PUBLISHED


@pytest.mark.parametrize("component", [GatewayService, WebService])
def test_published_keys_on_a_public_address_refuse_to_start(component, tmp_path, runners):
    # refused while setting up, before any connection: no broker or database is reached
    config = {"AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{free_port()}/", "AGENCY_ID": "beijing",
              "DB_URI": f"sqlite:///{tmp_path}/gateway.db", "WEB_SERVER_ADDRESS": f"0.0.0.0:{free_port()}",
              "PII_KEYS": PUBLISHED["PII_KEYS"], "PII_INDEX_KEY": "a-private-index-key"}
    with pytest.raises(RuntimeError) as refused:
        runners(config, component)
    assert str(refused.value).startswith("PII_KEYS still holds the published default")
    assert "WEB_SERVER_ADDRESS" in str(refused.value) and "0.0.0.0" in str(refused.value)


def test_published_keys_on_loopback_start_with_a_warning_in_health(databases, base_config, runners):
    port = free_port()
    config = base_config(databases.migrated("gateway"), WEB_SERVER_ADDRESS=f"127.0.0.1:{port}",
                         HEALTH_TIMEOUT_SECONDS=0.3, **PUBLISHED)
    runners(config, GatewayService)
    health = wait_for(lambda: _health(port), message="the gateway's /health")
    assert len(health["warnings"]) == 2
    assert health["warnings"][0].startswith("PII_KEYS") and health["warnings"][1].startswith("PII_INDEX_KEY")


def test_own_keys_give_no_warning(databases, base_config, runners):
    port = free_port()
    runners(base_config(databases.migrated("gateway"), WEB_SERVER_ADDRESS=f"0.0.0.0:{port}",
                        HEALTH_TIMEOUT_SECONDS=0.3), GatewayService)
    health = wait_for(lambda: _health(port), message="the gateway's /health")
    assert "warnings" not in health and "services" in health


def _health(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
    except requests.ConnectionError:
        return None
