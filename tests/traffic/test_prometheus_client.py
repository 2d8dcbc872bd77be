"""The Prometheus gateway: a real Prometheus, and a fake one for each way an answer goes wrong."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time

import pytest

from policies.prometheus import (
    BadQuery,
    BadResponse,
    PartialData,
    PrometheusClient,
    PrometheusSettings,
    Refused,
    ServerError,
    Timeout,
    Unreachable,
)
from tests.traffic import meshes


class FakePrometheus(http.server.ThreadingHTTPServer):
    """Answers every query with (status, content type, body, delay), recording requests."""

    def __init__(self, status=200, body=b"", content_type="application/json", delay=0.0):
        self.answer = (status, content_type, body, delay)
        self.requests: list[tuple[str, str, str]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append(
            (self.path, self.rfile.read(length).decode(), self.headers.get("Authorization", ""))
        )
        status, content_type, body, delay = self.server.answer
        time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def fake():
    servers = []

    def start(**answer) -> FakePrometheus:
        server = FakePrometheus(**answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def client(url, **options) -> PrometheusClient:
    return PrometheusClient(PrometheusSettings(url=url, **options))


def document(**fields) -> bytes:
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": []}} | fields
    ).encode()


def test_query_is_evaluated_at_the_time_passed(mesh_prometheus):
    with client(mesh_prometheus.url) as prometheus:
        now = prometheus.query("count(istio_requests_total)", at=meshes.END_AT)
        before = prometheus.query(
            "count(istio_requests_total)",
            at=meshes.END_AT.replace(year=meshes.END_AT.year - 1),
        )
    assert now.samples[0].value > 0
    assert before.samples == []


def test_time_timeout_and_bearer_token_are_sent(fake):
    server = fake(body=document())
    with client(server.url, bearer_token="s3cret", timeout_seconds=7) as prometheus:
        prometheus.query("up", at=meshes.END_AT)
    path, form, authorization = server.requests[0]
    assert path == "/api/v1/query"
    assert f"time={meshes.END}.000" in form and "timeout=7s" in form
    assert authorization == "Bearer s3cret"


def test_basic_auth_is_sent(fake):
    server = fake(body=document())
    with client(server.url, username="meshui", password="pw") as prometheus:
        prometheus.query("up", at=meshes.END_AT)
    assert server.requests[0][2].startswith("Basic ")


def test_bad_query_is_a_bad_query_with_prometheus_words(mesh_prometheus):
    with client(mesh_prometheus.url) as prometheus, pytest.raises(BadQuery) as raised:
        prometheus.query("sum by (", at=meshes.END_AT)
    assert raised.value.error_type == "bad_data"
    assert raised.value.summary.startswith("Prometheus rejected the query: ")


def test_unreachable_prometheus_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with client(f"http://127.0.0.1:{port}") as prometheus, pytest.raises(Unreachable):
        prometheus.query("up", at=meshes.END_AT)


def test_slow_prometheus_past_the_timeout_is_a_timeout(fake):
    server = fake(body=document(), delay=2)
    with client(server.url, timeout_seconds=0.3) as prometheus, pytest.raises(Timeout) as raised:
        prometheus.query("up", at=meshes.END_AT)
    assert "0.3 s" in raised.value.summary


def test_prometheus_own_query_timeout_is_a_timeout(fake):
    body = json.dumps({"status": "error", "errorType": "timeout", "error": "query timed out"})
    server = fake(status=503, body=body.encode())
    with client(server.url) as prometheus, pytest.raises(Timeout):
        prometheus.query("up", at=meshes.END_AT)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_say_so(fake, status):
    server = fake(status=status, body=b"Unauthorized", content_type="text/plain")
    with client(server.url) as prometheus, pytest.raises(Refused) as raised:
        prometheus.query("up", at=meshes.END_AT)
    assert f"HTTP {status}" in raised.value.summary


def test_503_html_is_a_server_error(fake):
    server = fake(status=503, body=b"<html>Service Unavailable</html>", content_type="text/html")
    with client(server.url) as prometheus, pytest.raises(ServerError) as raised:
        prometheus.query("up", at=meshes.END_AT)
    assert "HTTP 503" in raised.value.summary


def test_html_instead_of_json_is_not_a_prometheus_answer(fake):
    server = fake(body=b"<html><form>Sign in</form></html>", content_type="text/html")
    with client(server.url) as prometheus, pytest.raises(BadResponse) as raised:
        prometheus.query("up", at=meshes.END_AT)
    assert "text/html" in raised.value.summary


def test_warnings_make_partial_data(fake):
    server = fake(body=document(warnings=["store eu-1 unavailable"]))
    with client(server.url) as prometheus, pytest.raises(PartialData) as raised:
        prometheus.query("up", at=meshes.END_AT)
    assert "store eu-1 unavailable" in raised.value.summary


def test_malformed_samples_are_a_bad_response(fake):
    body = document(data={"resultType": "vector", "result": [{"metric": {}, "value": ["x"]}]})
    server = fake(body=body)
    with client(server.url) as prometheus, pytest.raises(BadResponse):
        prometheus.query("up", at=meshes.END_AT)


def test_a_matrix_instead_of_a_vector_is_a_bad_response(fake):
    server = fake(body=document(data={"resultType": "matrix", "result": []}))
    with client(server.url) as prometheus, pytest.raises(BadResponse):
        prometheus.query("up", at=meshes.END_AT)


def test_huge_answer_is_refused_before_it_fills_memory(fake):
    result = [{"metric": {"n": str(i)}, "value": [0, "1"]} for i in range(50000)]
    server = fake(body=document(data={"resultType": "vector", "result": result}))
    with (
        client(server.url, max_response_bytes=100_000) as prometheus,
        pytest.raises(BadResponse) as raised,
    ):
        prometheus.query("up", at=meshes.END_AT)
    assert "larger than" in raised.value.summary
