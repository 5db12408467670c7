"""The deployment files agree with the code.

Nothing here can run a container, so the files are parsed and cross-checked
against what the code reads: the catalogue's components, the env vars their
config.yml files read, the dead-letter queue the subscriber declares, the queue
names nameko builds. Every check is driven by ``shared.catalogue.COMPONENTS``:
a service appended to the catalogue makes these tests ask for its compose block,
its manifests and its database.
"""
from __future__ import annotations

import base64
import copy
import functools
import hashlib
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from shared.catalogue import COMPONENTS, SERVICES, Component
from shared.config import REPO_ROOT, load_config

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
RABBITMQ_DIR = REPO_ROOT / "deploy" / "rabbitmq"
POSTGRES_INIT = REPO_ROOT / "deploy" / "compose" / "postgres-init.sql"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# Config keys a container must never leave on their laptop defaults: the broker, the
# database, the agency it serves, the PII keys, and where an HTTP entrypoint listens.
MUST_SET_KEYS = {"AMQP_URI", "AGENCY_ID", "DB_URI", "PII_KEYS", "PII_INDEX_KEY", "WEB_SERVER_ADDRESS"}
MIGRATION_WORDS = {"migrate", "alembic"}

# nameko's own pattern (nameko.cli.main.ENV_VAR_MATCHER): ${NAME} or ${NAME:default}
ENV_REF = re.compile(r"\$\{([^{}:\s]+)(:[^{}]*)?\}")
K8S_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

ids = [c.name for c in COMPONENTS]
service_ids = [c.name for c in SERVICES]


# ---- reading the files ----------------------------------------------------------------------------

# the files do not change during a run: parse each once (with libyaml when present), hand out copies
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _parsed(path: Path) -> tuple:
    return tuple(yaml.load_all(path.read_text(encoding="utf-8"), Loader=SafeLoader))


def compose() -> dict:
    return copy.deepcopy(_parsed(COMPOSE_FILE)[0])


def compose_service(name: str) -> dict:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def compose_env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def words(argv: list[str]) -> set[str]:
    """Every word, also inside ``sh -c "..."`` strings."""
    return {word for part in argv for word in shlex.split(part)}


def as_argv(command) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def k8s_files() -> list[Path]:
    return sorted(K8S_DIR.glob("*.yaml")) + sorted(K8S_DIR.glob("*.yml"))


def k8s_objects() -> list[dict]:
    found = []
    for path in k8s_files():
        if path.name.startswith("kustomization."):
            continue
        found.extend(doc for doc in _parsed(path) if doc)
    return copy.deepcopy(found)


def k8s_object(kind: str, name: str) -> dict:
    matches = [o for o in k8s_objects() if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name!r} in deploy/k8s, found {len(matches)}"
    return matches[0]


def k8s_data(kind: str, name: str) -> dict[str, str]:
    obj = k8s_object(kind, name)
    data = {k: str(v) for k, v in (obj.get("data") or {}).items()}
    if kind == "Secret":
        data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        data.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    return data


def only_container(pod_spec: dict) -> dict:
    containers = pod_spec["containers"]
    assert len(containers) == 1, "one container per pod: the component"
    return containers[0]


def deployment_container(c: Component) -> dict:
    return only_container(k8s_object("Deployment", c.name)["spec"]["template"]["spec"])


def k8s_env(container: dict) -> tuple[dict[str, str | None], list[str]]:
    """Name -> value as the pod sees it (before $(VAR) expansion), and the names in order.

    Every configMap/secret reference must name an object and key that exist in deploy/k8s.
    """
    env: dict[str, str | None] = {}
    order: list[str] = []
    for source in container.get("envFrom") or []:
        kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
        for key, value in k8s_data(kind, ref["name"]).items():
            env[source.get("prefix", "") + key] = value
            order.append(source.get("prefix", "") + key)
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            env[name] = str(item["value"])
        else:
            source = item["valueFrom"]
            if "configMapKeyRef" in source or "secretKeyRef" in source:
                kind, ref = ("ConfigMap", source["configMapKeyRef"]) if "configMapKeyRef" in source \
                    else ("Secret", source["secretKeyRef"])
                data = k8s_data(kind, ref["name"])
                assert ref["key"] in data, f"{name}: {kind} {ref['name']} has no key {ref['key']!r}"
                env[name] = data[ref["key"]]
            else:
                env[name] = None  # fieldRef and the like: set by Kubernetes
        order.append(name)
    return env, order


def k8s_expand(env: dict[str, str | None]) -> dict[str, str | None]:
    return {k: None if v is None else K8S_REF.sub(lambda m: env.get(m.group(1)) or "", v) for k, v in env.items()}


def k8s_helpers(env: dict[str, str | None]) -> set[str]:
    """Variables that only feed $(VAR) references of other variables."""
    return {ref for value in env.values() if value for ref in K8S_REF.findall(value)}


def definitions() -> dict:
    return json.loads((RABBITMQ_DIR / "definitions.json").read_text(encoding="utf-8"))


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    return instructions


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


# ---- what a component's config reads ---------------------------------------------------------------

def config_vars(c: Component) -> dict[str, dict]:
    """Env var -> {"default": bool, "keys": config keys it feeds}, from the file's text."""
    text = c.config_path.read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    found: dict[str, dict] = {}
    for match in ENV_REF.finditer(code):
        entry = found.setdefault(match.group(1), {"default": True, "keys": set()})
        entry["default"] = entry["default"] and match.group(2) is not None

    # BaseLoader: strings only, no env substitution (load_config installs that on SafeLoader)
    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + [str(key)])
        elif isinstance(node, list):
            for value in node:
                walk(value, path)
        elif isinstance(node, str):
            for match in ENV_REF.finditer(node):
                found[match.group(1)]["keys"].add(path[0])

    walk(yaml.load(text, Loader=yaml.BaseLoader), [])
    return found


def required_vars(c: Component) -> set[str]:
    return {name for name, v in config_vars(c).items() if not v["default"] or v["keys"] & MUST_SET_KEYS}


def var_for(c: Component, key: str) -> str | None:
    names = [name for name, v in config_vars(c).items() if key in v["keys"]]
    assert len(names) <= 1, f"{c.config_path}: {key} is fed by several env vars: {names}"
    return names[0] if names else None


def expected_command(c: Component) -> list[str]:
    return ["nameko", "run", "--config", c.config_path.relative_to(REPO_ROOT).as_posix(), c.service_path]


def web_components() -> list[Component]:
    return [c for c in COMPONENTS if var_for(c, "WEB_SERVER_ADDRESS")]


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


# ---- the catalogue itself ---------------------------------------------------------------------------

@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_service_path_imports_the_catalogued_class(c):
    module_name, _, class_name = c.service_path.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    assert cls is c.service()
    # the gateway calls services by this name, and event queues carry it
    assert cls.name == c.name
    assert c.config_path.is_file()


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_every_config_reads_the_settings_a_deployment_must_set(c):
    keys = {key for v in config_vars(c).values() for key in v["keys"]}
    assert {"AMQP_URI", "AGENCY_ID", "DB_URI", "PII_KEYS", "PII_INDEX_KEY"} <= keys
    # the regex and the YAML walk see the same variables
    assert all(v["keys"] for v in config_vars(c).values())


# ---- docker compose ---------------------------------------------------------------------------------

@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_compose_runs_each_component_with_its_config_and_class(c):
    assert as_argv(compose_service(c.name).get("command")) == expected_command(c)


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_compose_sets_every_variable_the_component_needs(c):
    env = compose_env(compose_service(c.name))
    missing = required_vars(c) - set(env)
    assert not missing, f"compose service {c.name} does not set {sorted(missing)}"
    assert all(env[name] for name in required_vars(c)), "a required variable is set to nothing"


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_compose_sets_no_variable_the_component_ignores(c):
    stale = set(compose_env(compose_service(c.name))) - set(config_vars(c))
    assert not stale, f"compose service {c.name} sets {sorted(stale)}, which {c.config_path.name} never reads"


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_compose_keeps_secrets_out_of_the_file(c):
    env = compose_env(compose_service(c.name))
    for key in ("PII_KEYS", "PII_INDEX_KEY"):
        name = var_for(c, key)
        assert re.fullmatch(r"\$\{" + name + r":\?[^}]+\}", env[name]), \
            f"{name} must come from the environment (${{{name}:?...}}), not the file"


def test_compose_components_share_one_image_and_build():
    services = compose()["services"]
    users = [c.name for c in COMPONENTS] + ["migrate"]
    images = {services[name].get("image") for name in users}
    builds = {json.dumps(services[name].get("build"), sort_keys=True) for name in users}
    assert images == {f"wsli:{PYPROJECT['project']['version']}"}
    assert len(builds) == 1 and builds != {"null"}
    build = services["migrate"]["build"]
    context = REPO_ROOT / (build if isinstance(build, str) else build.get("context", "."))
    dockerfile_name = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (context / dockerfile_name).resolve() == DOCKERFILE


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_compose_publishes_only_what_a_component_listens_on(c):
    service = compose_service(c.name)
    published = set()
    for port in service.get("ports") or []:
        published.add(int(port["target"]) if isinstance(port, dict) else int(str(port).rsplit(":", 1)[-1]))
    address_var = var_for(c, "WEB_SERVER_ADDRESS")
    if address_var:
        address = compose_env(service)[address_var]
        assert address.rsplit(":", 1)[0] == "0.0.0.0", "inside a container the listener must take every interface"
        assert published == {port_of(address)}
    else:
        assert not published


@pytest.mark.parametrize("c", SERVICES, ids=service_ids)
def test_compose_services_can_scale(c):
    service = compose_service(c.name)
    assert "container_name" not in service
    assert not service.get("ports"), "host ports clash between replicas"


def test_compose_migrate_runs_wsli_migrate_against_every_components_database():
    migrate = compose_service("migrate")
    assert as_argv(migrate.get("command")) == ["wsli", "migrate"]
    assert str(migrate.get("restart", "no")) == "no"
    env = compose_env(migrate)
    for c in COMPONENTS:
        db_var = var_for(c, "DB_URI")
        assert env.get(db_var) == compose_env(compose_service(c.name))[db_var], \
            f"migrate must migrate the database {c.name} uses ({db_var})"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_compose_components_start_after_migrate_and_never_migrate_themselves(c):
    service = compose_service(c.name)
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert not MIGRATION_WORDS & words(as_argv(service.get("command"))), "replicas must not migrate at start"
    assert "entrypoint" not in service


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_postgres_init_creates_each_components_database(c):
    created = set(re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", POSTGRES_INIT.read_text(encoding="utf-8"), re.I))
    url = make_url(compose_env(compose_service(c.name))[var_for(c, "DB_URI")])
    assert url.get_backend_name() == "postgresql"
    assert url.host in compose()["services"], f"{c.name}'s database host is not a compose service"
    assert url.database in created, f"postgres-init.sql does not create {url.database}"
    postgres = compose_service(url.host)
    mounts = [str(v) for v in postgres.get("volumes", [])]
    assert any(m.split(":")[0] == "./" + POSTGRES_INIT.relative_to(REPO_ROOT).as_posix()
               and m.split(":")[1].startswith("/docker-entrypoint-initdb.d/") for m in mounts)


def test_compose_brokers_healthchecks():
    services = compose()["services"]
    assert "rabbitmq-diagnostics" in " ".join(as_argv(services["rabbitmq"]["healthcheck"]["test"]))
    assert "pg_isready" in " ".join(as_argv(services["postgres"]["healthcheck"]["test"]))


def test_compose_amqp_reaches_the_agencys_vhost_with_a_user_that_exists():
    """The definitions are imported at boot, so RabbitMQ creates no guest: the stack's own user must work."""
    spec = compose()
    rabbit = spec["services"]["rabbitmq"]
    targets = {}
    for config in rabbit.get("configs", []):
        targets[config["target"]] = spec["configs"][config["source"]]["content"]
    conf = "\n".join(text for target, text in targets.items() if target.endswith(".conf"))
    load_dir = re.search(r"^load_definitions\s*=\s*(\S+)", conf, re.M).group(1)
    mounted = {v.split(":")[1]: v.split(":")[0] for v in map(str, rabbit["volumes"]) if ":" in v}
    assert mounted.get(f"{load_dir}/10-topology.json") == "./deploy/rabbitmq/definitions.json" or any(
        target.startswith(load_dir + "/") and source == "./deploy/rabbitmq/definitions.json"
        for target, source in mounted.items()), "definitions.json is not loaded at boot"
    local = [json.loads(text) for target, text in targets.items() if target.startswith(load_dir + "/")]
    users = {u["name"]: u for d in local for u in d.get("users", [])}
    permissions = {(p["user"], p["vhost"]) for d in local for p in d.get("permissions", [])}
    vhosts = {v["name"] for v in definitions()["vhosts"]}
    for c in COMPONENTS:
        env = compose_env(compose_service(c.name))
        url = make_url(env[var_for(c, "AMQP_URI")].replace("amqp://", "postgresql://", 1))
        assert url.database == env[var_for(c, "AGENCY_ID")], "one vhost per agency, named after it"
        assert url.database in vhosts
        assert url.host == "rabbitmq"
        user = users[url.username]
        raw = base64.b64decode(user["password_hash"])
        salt, digest = raw[:4], raw[4:]
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert hashlib.sha256(salt + url.password.encode()).digest() == digest, \
            f"the password in {c.name}'s AMQP_URI is not {url.username}'s"
        assert (url.username, url.database) in permissions


# ---- kubernetes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_k8s_runs_each_component_with_its_config_and_class(c):
    container = deployment_container(c)
    argv = as_argv(container.get("command")) + as_argv(container.get("args"))
    assert argv == expected_command(c)
    assert not MIGRATION_WORDS & words(argv)
    assert container["image"] == f"wsli:{PYPROJECT['project']['version']}"


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_k8s_sets_every_variable_the_component_needs(c):
    env, _ = k8s_env(deployment_container(c))
    missing = required_vars(c) - set(env)
    assert not missing, f"Deployment {c.name} does not set {sorted(missing)}"
    expanded = k8s_expand(env)
    assert all(expanded[name] for name in required_vars(c))


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_k8s_sets_no_variable_the_component_ignores(c):
    env, order = k8s_env(deployment_container(c))
    helpers = k8s_helpers(env)
    stale = set(env) - set(config_vars(c)) - helpers
    assert not stale, f"Deployment {c.name} sets {sorted(stale)}, which {c.config_path.name} never reads"
    # Kubernetes expands $(VAR) only from variables listed earlier
    for name in order:
        for ref in K8S_REF.findall(env[name] or ""):
            assert ref in order[: order.index(name)], f"{name} uses $({ref}) before it is defined"


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_k8s_amqp_vhost_is_the_agencys(c):
    env = k8s_expand(k8s_env(deployment_container(c))[0])
    url = make_url(env[var_for(c, "AMQP_URI")].replace("amqp://", "postgresql://", 1))
    assert url.database == env[var_for(c, "AGENCY_ID")]
    assert url.database in {v["name"] for v in definitions()["vhosts"]}


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_k8s_deployment_has_probes_resources_and_runs_as_non_root(c):
    deployment = k8s_object("Deployment", c.name)
    pod = deployment["spec"]["template"]["spec"]
    container = only_container(pod)
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{c.name}: {kind} incomplete"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"].get("runAsUser") == dockerfile_uid()
    env = k8s_expand(k8s_env(container)[0])
    address_var = var_for(c, "WEB_SERVER_ADDRESS")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for probe_name in ("readinessProbe", "livenessProbe"):
        probe = container[probe_name]
        if address_var:
            port = probe["httpGet"]["port"]
            assert ports.get(port, port) == port_of(env[address_var])
            assert probe["httpGet"]["path"] == "/health"
            health_timeout = float(load_config(c.config_path).get("HEALTH_TIMEOUT_SECONDS") or 0)
            assert probe.get("timeoutSeconds", 1) > health_timeout, "the probe gives up before /health answers"
        else:
            assert probe["exec"]["command"] == ["python", "-m", "shared.probe", c.name]
    assert not ports or set(ports.values()) == {port_of(env[address_var])}


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_k8s_service_selects_the_components_pods(c):
    deployment = k8s_object("Deployment", c.name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert labels["app.kubernetes.io/component"] == c.name
    service = k8s_object("Service", c.name)
    assert service["spec"]["selector"].items() <= labels.items()
    container = only_container(deployment["spec"]["template"]["spec"])
    container_ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for port in service["spec"].get("ports", []):
        target = port.get("targetPort", port["port"])
        assert target in container_ports or target in container_ports.values()


def test_k8s_migrate_job_runs_wsli_migrate_against_every_database():
    jobs = [o for o in k8s_objects() if o["kind"] == "Job"]
    assert len(jobs) == 1
    job = jobs[0]
    assert job["spec"]["backoffLimit"] == 3
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = only_container(pod)
    assert as_argv(container.get("command")) + as_argv(container.get("args")) == ["wsli", "migrate"]
    assert container["image"] == f"wsli:{PYPROJECT['project']['version']}"
    env, _ = k8s_env(container)
    for c in COMPONENTS:
        db_var = var_for(c, "DB_URI")
        assert db_var in env, f"the migrate Job cannot reach {c.name}'s database ({db_var})"
        assert env[db_var] == k8s_env(deployment_container(c))[0][db_var]


def test_k8s_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    manifests = {p.name for p in k8s_files() if not p.name.startswith("kustomization.")}
    assert set(kustomization["resources"]) == manifests
    assert len(kustomization["resources"]) == len(manifests)


def test_k8s_objects_live_in_the_agencys_namespace():
    namespaces = [o for o in k8s_objects() if o["kind"] == "Namespace"]
    assert len(namespaces) == 1
    namespace = namespaces[0]["metadata"]
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization.get("namespace", namespace["name"]) == namespace["name"]
    for obj in k8s_objects():
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == namespace["name"], obj["metadata"]["name"]
    agency = k8s_data("ConfigMap", "wsli-config")["AGENCY_ID"]
    assert namespace["labels"]["agency"] == agency


def test_k8s_every_pod_is_the_one_image():
    images = set()
    for obj in k8s_objects():
        template = (obj.get("spec") or {}).get("template")
        if template:
            images |= {c["image"] for c in template["spec"]["containers"]}
    assert images == {compose_service("migrate")["image"]}


def test_k8s_ingress_reaches_the_web_component_and_admits_its_largest_body():
    ingresses = [o for o in k8s_objects() if o["kind"] == "Ingress"]
    web = {c.name: c for c in web_components()}
    assert ingresses and web
    for ingress in ingresses:
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in web
                service_ports = k8s_object("Service", backend["name"])["spec"]["ports"]
                assert any(backend["port"].get("name") == p.get("name") or backend["port"].get("number") == p["port"]
                           for p in service_ports)
                limit = ingress["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/proxy-body-size")
                max_body = getattr(importlib.import_module(web[backend["name"]].package + ".service"),
                                   "MAX_BODY_BYTES", None)
                if max_body and ingress["spec"].get("ingressClassName") == "nginx":
                    assert limit, "nginx refuses bodies over 1m unless told otherwise"
                    number, unit = re.fullmatch(r"(\d+)([kmg]?)", limit.lower()).groups()
                    assert int(number) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit] >= max_body


# ---- rabbitmq ---------------------------------------------------------------------------------------

def event_subscribers() -> list[tuple]:
    """(container, subscriber): wsli's own subscribers, set up the way nameko sets them up,
    for every registered event. Extensions hold their container weakly: keep both."""
    from nameko.containers import ServiceContainer

    from shared.catalogue import load_all_event_schemas
    from shared.events import REGISTRY
    from shared.subscriber import subscribe

    load_all_event_schemas()
    subscribers = []
    for consumer in dict.fromkeys([c.name for c in SERVICES] + ["training"]):
        attrs = {"name": consumer}
        for spec in REGISTRY.values():
            attrs[f"on_{spec.routing_key}"] = subscribe(spec.service, spec.routing_key)(lambda self, event: None)
        container = ServiceContainer(type(f"Consumer_{consumer}", (), attrs), {"AMQP_URI": "memory://"})
        for entrypoint in container.entrypoints:
            entrypoint.setup()
            subscribers.append((container, entrypoint))
    return subscribers


def event_queue_names() -> list[str]:
    names = [subscriber.queue.name for _, subscriber in event_subscribers()]
    assert "evt-registration-candidate_approved--training.on_candidate_approved" in names
    return names


def policies_matching(vhost: str, queue: str) -> list[dict]:
    return [p for p in definitions()["policies"]
            if p["vhost"] == vhost and p.get("apply-to", "all") in ("queues", "all") and re.search(p["pattern"], queue)]


def test_definitions_declare_the_dlq_the_code_declares():
    from shared.subscriber import DLQ, dlq_queue

    defs = definitions()
    declared = dlq_queue()
    assert defs["vhosts"]
    for vhost in (v["name"] for v in defs["vhosts"]):
        queues = [q for q in defs["queues"] if q["vhost"] == vhost and q["name"] == DLQ]
        assert len(queues) == 1, f"vhost {vhost} lacks {DLQ}"
        # a different durability or argument makes the code's own declare fail (PRECONDITION_FAILED)
        assert queues[0]["durable"] is bool(declared.durable)
        assert queues[0].get("auto_delete", False) is bool(declared.auto_delete)
        assert (queues[0].get("arguments") or {}) == (declared.queue_arguments or {})


def test_definitions_dead_letter_event_queues_into_the_dlq():
    from shared.subscriber import DLQ

    names = event_queue_names()
    defs = definitions()
    for vhost in (v["name"] for v in defs["vhosts"]):
        for queue in names:
            matching = policies_matching(vhost, queue)
            # one policy applies per queue: a second match would silently shadow this one
            assert len(matching) == 1, f"{queue} in {vhost}: {[p['name'] for p in matching]}"
            assert matching[0]["name"] == "wsli-dlx"
        dlx = matching[0]["definition"]["dead-letter-exchange"]
        exchanges = [e for e in defs["exchanges"] if e["vhost"] == vhost and e["name"] == dlx]
        assert len(exchanges) == 1 and exchanges[0]["type"] == "fanout" and exchanges[0]["durable"] is True
        assert any(b["vhost"] == vhost and b["source"] == dlx and b["destination"] == DLQ
                   and b["destination_type"] == "queue" for b in defs["bindings"])


def test_retry_queues_route_back_despite_the_policy():
    """Retry queues are named after the event queue, so ``^evt-`` matches them too; their
    own dead-letter argument (which outranks a policy) must send expired retries back."""

    class Message:
        headers, body, content_type, content_encoding = {}, b"{}", "application/json", "utf-8"
        properties, delivery_info = {}, {}

    container, subscriber = event_subscribers()[0]
    published = []
    subscriber.republisher.publish = lambda body, queue, message, headers: published.append(queue)
    subscriber._retry(Message(), 0, RuntimeError("boom"))
    (queue,) = published
    assert any(re.search(p["pattern"], queue.name) for p in definitions()["policies"] if p["name"] == "wsli-dlx")
    assert "x-dead-letter-exchange" in queue.queue_arguments
    assert queue.queue_arguments["x-dead-letter-routing-key"] == subscriber.queue.name


def test_dead_letter_policy_leaves_rpc_queues_and_the_dlq_alone():
    from nameko.rpc import RPC_QUEUE_TEMPLATE

    from shared.subscriber import DLQ

    for vhost in (v["name"] for v in definitions()["vhosts"]):
        for c in COMPONENTS:
            assert not policies_matching(vhost, RPC_QUEUE_TEMPLATE.format(c.name))
        names = [p["name"] for p in policies_matching(vhost, DLQ)]
        assert "wsli-dlx" not in names, "the DLQ dead-lettering into itself would loop"


def test_the_dlq_is_bounded_without_dropping_anything():
    from shared.subscriber import DLQ

    for vhost in (v["name"] for v in definitions()["vhosts"]):
        matching = policies_matching(vhost, DLQ)
        assert len(matching) == 1
        definition = matching[0]["definition"]
        assert int(definition["max-length"]) > 0
        # the default overflow (drop-head) would discard the oldest parked failures
        assert definition["overflow"] == "reject-publish"


def test_agency_links_are_what_wsli_agency_add_sets_up():
    """deploy/rabbitmq/agency-links.json: shovels and federation upstreams as shared.links makes them."""
    from shared import agency, links

    doc = json.loads((RABBITMQ_DIR / "agency-links.json").read_text(encoding="utf-8"))
    assert not (RABBITMQ_DIR / "shovel-example.json").exists()
    shovels = [p for p in doc["parameters"] if p["component"] == "shovel"]
    upstreams = [p for p in doc["parameters"] if p["component"] == "federation-upstream"]
    assert {(p["vhost"], p["name"]) for p in shovels} == {("beijing", "wsli-agency-to-national"),
                                                            ("national", "wsli-agency-to-beijing")}
    assert {(p["vhost"], p["name"]) for p in upstreams} == {("beijing", "dongcheng"), ("dongcheng", "beijing")}
    for p in shovels:
        partner = p["name"][len("wsli-agency-to-"):]
        value = p["value"]
        assert value == links.shovel_definition(p["vhost"], partner, value["dest-uri"])
        # from a durable queue of our own, into the partner's dedicated exchange, acked after its confirm
        assert value["ack-mode"] == "on-confirm" and value["dest-exchange"] == agency.IN
        assert value["dest-exchange"] not in ("cases.events", "training.events", "nameko-rpc")
        queue = [q for q in doc["queues"] if q["vhost"] == p["vhost"] and q["name"] == value["src-queue"]]
        assert queue and queue[0]["durable"] is True
        assert any(b["vhost"] == p["vhost"] and b["source"] == agency.OUT and b["destination"] == value["src-queue"]
                   and b["routing_key"] == f"{partner}.#" for b in doc["bindings"])
    for p in upstreams:
        assert p["value"] == links.upstream_definition(p["value"]["uri"])
        assert p["value"]["max-hops"] == 1 and p["value"]["exchange"] == agency.FACTS
        policy = [x for x in doc["policies"] if x["vhost"] == p["vhost"] and x["name"] == links.FACTS_POLICY]
        assert policy and policy[0]["definition"] == {"federation-upstream-set": "all"}
        assert policy[0]["apply-to"] == "exchanges" and re.match(policy[0]["pattern"], agency.FACTS)
    for e in doc["exchanges"]:
        # must equal what the services and the relay declare, or one of the declarations fails
        declared = agency.exchange(e["name"])
        assert e["name"] in agency.EXCHANGES and e["type"] == declared.type and e["durable"] is True
    assert "CHANGE-ME" in json.dumps(doc) and "guest" not in json.dumps(doc)


def _beijing_partners_in_links() -> set[str]:
    doc = json.loads((RABBITMQ_DIR / "agency-links.json").read_text(encoding="utf-8"))
    return {p["name"].removeprefix("wsli-agency-to-") for p in doc["parameters"] if p["vhost"] == "beijing"}


@pytest.mark.parametrize("c", [c for c in COMPONENTS if var_for(c, "AGENCY_PARTNERS")], ids=lambda c: c.name)
def test_deployments_trust_the_partners_the_broker_links_to(c):
    """A link without the partner in AGENCY_PARTNERS parks every message it carries; a partner
    without a link never hears from us. Compose and k8s name the partners agency-links.json links."""
    name = var_for(c, "AGENCY_PARTNERS")
    linked = _beijing_partners_in_links()
    assert linked == {"national", "dongcheng"}
    compose_value = compose_env(compose_service(c.name)).get(name)
    assert compose_value, f"compose service {c.name} leaves {name} unset: every partner's message would be parked"
    default = re.fullmatch(r"\$\{" + name + r":-([^}]*)\}", compose_value)
    assert default and set(default.group(1).split(",")) == linked
    k8s_value = k8s_expand(k8s_env(deployment_container(c))[0]).get(name)
    assert k8s_value and set(k8s_value.split(",")) == linked


# ---- the image --------------------------------------------------------------------------------------

def dockerfile_uid() -> int:
    users = [args for word, args in dockerfile() if word == "USER"]
    assert users, "the image must not run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"
    return int(uid)


def test_dockerfile_builds_one_non_root_image_from_the_lock():
    from packaging.specifiers import SpecifierSet

    steps = dockerfile()
    base = [args for word, args in steps if word == "FROM"]
    assert base == ["python:3.11-slim"]
    python = re.match(r"python:(\d+\.\d+)", base[0]).group(1)
    assert python + ".0" in SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert ("WORKDIR", "/app") in steps
    runs = [args for word, args in steps if word == "RUN"]
    lock = next(i for i, r in enumerate(runs) if "pip install -r requirements.lock" in r)
    project = next(i for i, r in enumerate(runs) if re.search(r"pip install --no-deps \.(\s|$)", r))
    assert lock < project
    assert dockerfile_uid() != 0
    user_at = max(i for i, (word, _) in enumerate(steps) if word == "USER")
    assert all(word not in ("RUN", "COPY", "ADD") or "--chown" in args for word, args in steps[user_at + 1:])


def test_dockerfile_copies_every_components_code_and_config():
    copied = set()
    for word, args in dockerfile():
        if word == "COPY":
            parts = exec_form(args)
            copied |= {p.rstrip("/") for p in parts[:-1] if not p.startswith("--")}
    for c in COMPONENTS:
        config = c.config_path.relative_to(REPO_ROOT).as_posix()
        assert any(config == src or config.startswith(src + "/") for src in copied), f"{config} not in the image"
    for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert pattern.rstrip("*") in copied


def test_dockerfile_default_command_neither_migrates_nor_picks_a_component():
    for word, args in dockerfile():
        if word in ("CMD", "ENTRYPOINT"):
            argv = exec_form(args)
            assert not MIGRATION_WORDS & words(argv)
            assert not any(c.service_path in argv for c in COMPONENTS)


def test_dockerignore_keeps_local_state_out_and_lets_the_code_in():
    patterns = [line.strip().rstrip("/") for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    for needed in (".venv", "var", ".git", ".env", "tests"):
        assert needed in patterns
    for word, args in dockerfile():
        if word == "COPY":
            for src in exec_form(args)[:-1]:
                assert src.rstrip("/") not in patterns, f"{src} is copied but ignored"


# ---- the probe --------------------------------------------------------------------------------------

def run_probe(c: Component, amqp_uri: str, db_uri: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in config_vars(c)}
    env[var_for(c, "AMQP_URI")] = amqp_uri
    env[var_for(c, "DB_URI")] = db_uri
    return subprocess.run([sys.executable, "-m", "shared.probe", c.name], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_probe_fails_clearly_when_the_broker_is_unreachable(c, tmp_path):
    result = run_probe(c, "pyamqp://guest:guest@127.0.0.1:1/", f"sqlite:///{tmp_path}/probe.db", timeout=15)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "AMQP" in output and "127.0.0.1:1" in output and "refused" in output.lower()
    assert "guest:guest" not in output, "the probe must not print the password"
    assert "ok" not in result.stdout.split()


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_probe_fails_clearly_when_the_database_is_unreachable(c):
    amqp = os.environ.get("WSLI_TEST_AMQP", "pyamqp://guest:guest@127.0.0.1:5672") + "//"
    result = run_probe(c, amqp, "postgresql://wsli:secret@127.0.0.1:1/wsli", timeout=15)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "database" in output and "127.0.0.1" in output and "AMQP" not in output
    assert "secret" not in output


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_probe_passes_against_the_local_broker(c, tmp_path):
    amqp = os.environ.get("WSLI_TEST_AMQP", "pyamqp://guest:guest@127.0.0.1:5672") + "//"
    result = run_probe(c, amqp, f"sqlite:///{tmp_path}/probe.db")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("c", COMPONENTS, ids=ids)
def test_k8s_pods_are_scraped_where_the_component_serves_metrics(c):
    pod = k8s_object("Deployment", c.name)["spec"]["template"]
    annotations = pod["metadata"].get("annotations") or {}
    assert annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/path") == "/metrics"
    env = k8s_expand(k8s_env(only_container(pod["spec"]))[0])
    address_var = var_for(c, "WEB_SERVER_ADDRESS") or var_for(c, "METRICS_ADDRESS")
    assert address_var, f"{c.name} serves /metrics nowhere"
    address = env[address_var]
    assert address.startswith("0.0.0.0:"), "metrics must be reachable from outside the pod"
    assert int(annotations["prometheus.io/port"]) == port_of(address)


def test_each_gateway_replica_enforces_its_share_of_the_rate_limit_budget():
    """RATE_LIMIT_REPLICAS is what divides the budget: it must say how many replicas there are."""
    deployment = k8s_object("Deployment", "gateway")
    env, _ = k8s_env(only_container(deployment["spec"]["template"]["spec"]))
    assert env.get("RATE_LIMIT_REPLICAS") == str(deployment["spec"]["replicas"])
    assert compose_env(compose_service("gateway")).get("RATE_LIMIT_REPLICAS") == str(
        (compose_service("gateway").get("deploy") or {}).get("replicas", 1))
