"""The whole stack with the web console, and a real browser (Debian's chromium) driving it.

Every service, the gateway and the web component run in this process on a real
broker and real databases, as in tests/e2e; the browser is headless chromium via
Debian's chromedriver (never a downloaded browser). Screenshots of each page at
desktop and phone size land in ``var/screenshots/`` (not committed) for a person
to look at.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from gateway.service import GatewayService
from gateway.web import accounts
from gateway.web.service import WebService
from shared.catalogue import SERVICES
from shared.config import REPO_ROOT
from shared.db import make_engine
from shared.workdays import utcnow
from tests.conftest import AGENCY, DATABASES, INDEX_KEY, PII_KEY, Databases, free_port, wait_for
from tests.e2e.conftest import Api

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = REPO_ROOT / "var" / "screenshots"
DESKTOP = (1280, 900)
PHONE = (390, 844)
PASSWORD = "correct-horse-battery"
WAIT_SECONDS = 15


class WebStack:
    """Services + gateway + web, each with a fresh database; certificates' QR codes point at the web."""

    def __init__(self, amqp_uri, kind, tmp_path_factory):
        from nameko.runners import ServiceRunner
        self.kind = kind
        self.dbs = Databases(kind, tmp_path_factory.mktemp(f"web-{kind}"))
        self.bootstrap = "boot-" + uuid.uuid4().hex
        self.port, self.web_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web = f"http://127.0.0.1:{self.web_port}"
        common = {"AMQP_URI": amqp_uri, "AGENCY_ID": AGENCY, "PII_KEYS": PII_KEY, "PII_INDEX_KEY": INDEX_KEY,
                  "serializer": "json", "max_workers": 10, "OUTBOX_POLL_SECONDS": 0.2,
                  # stacks of the e2e and browser suites run side by side on one PostgreSQL
                  "DB_POOL_SIZE": 4,
                  "EVENT_RETRY_DELAYS_MS": "100,200", "FILE_STORE": str(self.dbs.tmp_path / "files"),
                  "RPC_TIMEOUT_SECONDS": 5, "HEALTH_TIMEOUT_SECONDS": 1, "PUBLIC_BASE_URL": self.web}
        self.configs = {c.name: dict(common, DB_URI=self.dbs.migrated(c.name)) for c in SERVICES}
        self.configs["gateway"] = dict(common, DB_URI=self.dbs.migrated("gateway"), BOOTSTRAP_TOKEN=self.bootstrap,
                                       WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}", CONSOLE_URL=self.web)
        self.configs["web"] = dict(common, DB_URI=self.dbs.migrated("web"), OUTBOX_RELAY=False,
                                   WEB_SERVER_ADDRESS=f"127.0.0.1:{self.web_port}", WEB_COOKIE_SECURE="auto",
                                   LOGIN_MAX_FAILURES=3, LOGIN_LOCK_SECONDS=120,
                                   # every test browses from 127.0.0.1: the limits have their own test
                                   PUBLIC_RATE_PER_MINUTE=10_000, LOGIN_RATE_PER_MINUTE=10_000)
        classes = {c.name: c.service() for c in SERVICES}
        classes.update(gateway=GatewayService, web=WebService)
        self.runners = {}
        for name, cls in classes.items():
            self.runners[name] = ServiceRunner(self.configs[name])
            self.runners[name].add_service(cls)
            self.runners[name].start()
        self.admin = Api(self.base, self.bootstrap)
        self.anonymous = Api(self.base)
        # eight processes' worth of services start here: on a busy machine that takes a while
        wait_for(lambda: self.anonymous.get("/health")[1].get("status") == "ok", timeout=60,
                 message="a healthy stack")
        wait_for(lambda: Api(self.web).get("/health")[1].get("status") == "ok", timeout=60,
                 message="the web component")

    def user(self, role: str, **binding) -> dict:
        """A console account of ``role``; returns its username and password."""
        username = f"{role}-{uuid.uuid4().hex[:6]}"
        engine = make_engine(self.configs["web"]["DB_URI"])
        try:
            with Session(engine, expire_on_commit=False) as session:
                accounts.create_user(session, agency=AGENCY, username=username, password=PASSWORD, role=role,
                                     display_name=binding.pop("display_name", None) or f"{role}用户", now=utcnow(),
                                     **binding)
                session.commit()
        finally:
            engine.dispose()
        return {"username": username, "password": PASSWORD}

    def stop(self):
        for runner in reversed(list(self.runners.values())):
            try:
                runner.kill()
            except Exception:  # already stopped
                pass
        self.dbs.drop_all()


@pytest.fixture(scope="module", params=DATABASES)
def web_stack(request, module_amqp_uri, tmp_path_factory):
    s = WebStack(module_amqp_uri, request.param, tmp_path_factory)
    yield s
    s.stop()


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} is missing: apt-get install chromium chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--lang=zh-CN", f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


class Browser:
    """A thin layer over the WebDriver: log in, fill, wait for conditions, take screenshots."""

    def __init__(self, driver, base: str, label: str):
        self.driver = driver
        self.base = base
        self.label = label

    def open(self, path: str):
        self.driver.get(self.base + path)

    def find(self, css: str):
        return self.driver.find_element("css selector", css)

    def wait_for(self, condition, message: str):
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait
        # While a page replaces the last one, chromium may answer a lookup with "node does not
        # belong to the document" (a plain WebDriverException): that is "not yet", so keep polling.
        return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.1,
                             ignored_exceptions=(WebDriverException,)).until(condition, message)

    def wait_text(self, css: str, text: str):
        from selenium.webdriver.support import expected_conditions as EC
        return self.wait_for(EC.text_to_be_present_in_element(("css selector", css), text),
                             f"{text!r} in {css} (page: {self.driver.current_url})")

    def wait_url(self, fragment: str):
        return self.wait_for(lambda d: fragment in d.current_url, f"URL containing {fragment!r}")

    def login(self, account: dict, expect_ok: bool = True):
        self.open("/login")
        self.find("#username").clear()
        self.find("#username").send_keys(account["username"])
        self.find("#password").send_keys(account["password"])
        self.find("button[type=submit].primary").click()
        if expect_ok:
            self.wait_text("h1", "总览")

    def logout(self):
        self.find("form.logout button").click()
        self.wait_text("h1", "登录")

    @property
    def text(self) -> str:
        return self.find("body").text

    @property
    def html(self) -> str:
        return self.driver.page_source

    def phone(self):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True})

    def desktop(self):
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def shoot(self, name: str):
        """The page at desktop and at phone size, full height."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        for size, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"})
            full = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": max(height, min(int(full), 6000)), "deviceScaleFactor": 1,
                "mobile": size == "phone"})
            path = SHOTS / f"{self.label}-{name}-{size}.png"
            assert self.driver.save_screenshot(str(path)), f"no screenshot {path}"
        self.desktop()

    def reset(self):
        self.desktop()
        self.driver.delete_all_cookies()


@pytest.fixture(scope="module")
def chromium():
    driver = _driver()
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, web_stack):
    b = Browser(chromium, web_stack.web, web_stack.kind)
    b.reset()
    yield b
    b.reset()
