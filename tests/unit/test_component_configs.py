"""Every component's config reads the same platform settings and logs through the same filters."""
import pytest

from shared.catalogue import COMPONENTS
from shared.config import load_config

PLATFORM_KEYS = {"AMQP_URI", "AGENCY_ID", "DB_URI", "PII_KEYS", "PII_INDEX_KEY", "serializer", "LOGGING"}


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_config_has_the_platform_settings(component, monkeypatch):
    monkeypatch.delenv("AGENCY_ID", raising=False)
    config = load_config(component.config_path)
    assert PLATFORM_KEYS <= set(config)
    assert config["AGENCY_ID"] == "beijing"
    assert config["DB_URI"].endswith(f"/var/{component.name}.db"), "each component has a database of its own"
    console = config["LOGGING"]["handlers"]["console"]
    filters = config["LOGGING"]["filters"]
    assert {filters[f]["()"] for f in console["filters"]} == {
        "shared.pii.PiiLogFilter", "shared.logs.QuietExpectedErrors"}, "logs are masked and quiet on refusals"


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_the_db_uri_follows_the_env_var(component, monkeypatch):
    monkeypatch.setenv(f"{component.name.upper()}_DB_URI", "postgresql://postgres@db/x")
    assert load_config(component.config_path)["DB_URI"] == "postgresql://postgres@db/x"


def test_loading_a_config_leaves_plain_yaml_alone(monkeypatch):
    """Env substitution is for config.yml only: compose files must read back verbatim."""
    import yaml

    from shared.catalogue import GATEWAY
    monkeypatch.setenv("SOME_SECRET", "leaked")
    load_config(GATEWAY.config_path)
    assert yaml.safe_load("key: ${SOME_SECRET:?set it}") == {"key": "${SOME_SECRET:?set it}"}
