"""The components of a deployment: one place that says what runs and where its files are.

``wsli up``/``migrate``, the gateway's health check, the AsyncAPI generator and
the deployment cross-check tests all read this list.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from shared.config import REPO_ROOT


@dataclass(frozen=True)
class Component:
    name: str
    package: str           # python package: service.py, models.py, schemas.py, config.yml, migrations/
    service_class: str

    @property
    def directory(self):
        return REPO_ROOT.joinpath(*self.package.split("."))

    @property
    def config_path(self):
        return self.directory / "config.yml"

    @property
    def migrations(self):
        return self.directory / "migrations"

    @property
    def service_path(self) -> str:
        """What ``nameko run`` takes."""
        return f"{self.package}.service:{self.service_class}"

    def models(self):
        return import_module(f"{self.package}.models")

    def schemas(self):
        return import_module(f"{self.package}.schemas")

    def service(self):
        return getattr(import_module(f"{self.package}.service"), self.service_class)


SERVICES = [
    Component("registration", "services.registration", "RegistrationService"),
    Component("scoring", "services.scoring", "ScoringService"),
    Component("subsidies", "services.subsidies", "SubsidiesService"),
    Component("training", "services.training", "TrainingService"),
    Component("cases", "services.cases", "CasesService"),
    Component("risk", "services.risk", "RiskService"),
    Component("webhooks", "services.webhooks", "WebhooksService"),
]
GATEWAY = Component("gateway", "gateway", "GatewayService")
WEB = Component("web", "gateway.web", "WebService")  # the console for people: pages, login, sessions
COMPONENTS = SERVICES + [GATEWAY, WEB]
SERVICE_NAMES = [c.name for c in SERVICES]


def component(name: str) -> Component:
    for c in COMPONENTS:
        if c.name == name:
            return c
    raise KeyError(f"no component {name!r}; known: {', '.join(c.name for c in COMPONENTS)}")


def load_all_event_schemas():
    """Import every service's schemas so the event registry is complete."""
    for c in SERVICES:
        c.schemas()
