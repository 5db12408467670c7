"""The webhook request goes to the address the SSRF guard checked, not to a second DNS answer."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from services.webhooks import dispatcher, domain
from shared.errors import RuleViolation


class Receiver(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        Receiver.seen.append((self.headers["Host"], self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.seen = []
    yield server.server_address[1]
    server.shutdown()


def test_the_request_connects_to_the_checked_address_with_the_host_preserved(receiver, monkeypatch):
    answers = []

    def rebinding_dns(host, port):
        # first answer passes the guard; any later lookup would point elsewhere
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["169.254.169.254"]
    monkeypatch.setattr(dispatcher, "resolve", rebinding_dns)
    allowed = domain.parse_networks("127.0.0.0/8")
    url = f"http://hooks.rebind.invalid:{receiver}/in"
    address = dispatcher.check_target(url, allowed)
    session, response = dispatcher.pinned_post(url, address, {"Content-Type": "application/json"}, data=b"{}",
                                               timeout=5, allow_redirects=False)
    response.close()
    session.close()
    # the name does not resolve at all: only a connection to the pinned address can get through
    assert response.status_code == 204
    assert Receiver.seen == [(f"hooks.rebind.invalid:{receiver}", b"{}")]
    assert answers == ["hooks.rebind.invalid"]  # one lookup: the one the guard checked


def test_a_refused_answer_is_refused_before_any_connection(monkeypatch):
    monkeypatch.setattr(dispatcher, "resolve", lambda host, port: ["203.0.113.9", "169.254.169.254"])
    with pytest.raises(RuleViolation):
        dispatcher.check_target("https://hooks.example/in", [])


def test_https_keeps_the_host_name_for_sni_and_the_certificate():
    adapter = dispatcher._PinnedTls("hooks.example")
    pool = adapter.poolmanager.connection_from_url("https://203.0.113.9/")
    assert pool.conn_kw.get("server_hostname") == "hooks.example" or \
        adapter.poolmanager.connection_pool_kw["server_hostname"] == "hooks.example"
    assert adapter.poolmanager.connection_pool_kw["assert_hostname"] == "hooks.example"
