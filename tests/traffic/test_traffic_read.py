"""The traffic read against a real Prometheus serving Istio's metrics (issue 14)."""

from __future__ import annotations

import pytest

from policies.engine.readiness import UNKNOWN_CALLER, Caller
from policies.models import TrafficCaller, TrafficNamespace, TrafficRead, TrafficWorkload
from policies.services.traffic import traffic_read
from policies.traffic_queries import refresh_queries
from tests.traffic import meshes

pytestmark = pytest.mark.django_db


@pytest.fixture
def mesh_read(traffic_settings, mesh_prometheus):
    traffic_settings.MESHUI_PROMETHEUS_URL = mesh_prometheus.url
    read = traffic_read(now=meshes.END_AT)
    assert read.status == TrafficRead.Status.SUCCEEDED, read.error
    return read


def namespace_row(read, name):
    return TrafficNamespace.objects.get(read=read, namespace=name)


def callers_of(read, namespace):
    return {
        (c.source_namespace, c.source_workload, c.source_principal)
        for c in TrafficCaller.objects.filter(read=read, destination_namespace=namespace)
    }


def test_sidecar_mesh_all_mutual_tls_is_ready(mesh_read):
    shop = namespace_row(mesh_read, "shop")
    assert shop.readiness == "ready"
    assert shop.plaintext_share == 0
    assert shop.plaintext_callers == 0


def test_client_reported_series_are_never_counted(mesh_read):
    # cart's requests are reported by frontend's sidecar too (reporter="source",
    # connection_security_policy="unknown"): counting them would double the volume and
    # call half of it plaintext.
    cart = TrafficWorkload.objects.get(read=mesh_read, namespace="shop", workload="cart")
    assert cart.plaintext_requests == 0
    assert cart.mtls_requests == pytest.approx(7 * 24 * 12, rel=0.01)


def test_caller_without_sidecar_is_named_unknown_with_what_is_known(mesh_read):
    legacy = namespace_row(mesh_read, "legacy")
    assert legacy.readiness == "not_ready"
    assert legacy.plaintext_callers == 2
    assert callers_of(mesh_read, "legacy") == {
        ("unknown", "unknown", "unknown"),
        ("batch", "nightly", "spiffe://cluster.local/ns/batch/sa/nightly"),
    }
    unknown = TrafficCaller.objects.get(
        read=mesh_read, destination_namespace="legacy", source_workload="unknown"
    )
    assert unknown.requests == pytest.approx(2 * 7 * 24 * 12, rel=0.01)
    caller = Caller("legacy", "ledger", "unknown", "unknown", "unknown", 1, 0, None)
    assert caller.label == UNKNOWN_CALLER


def test_plaintext_tcp_connections_count_like_requests(mesh_read):
    reports = TrafficWorkload.objects.get(read=mesh_read, namespace="legacy", workload="reports")
    assert reports.readiness == "not_ready"
    assert reports.plaintext_connections > 0


def test_ambient_ztunnel_unknown_security_policy_is_plaintext(mesh_read):
    orders = namespace_row(mesh_read, "ambient-shop")
    assert orders.readiness == "not_ready"
    assert callers_of(mesh_read, "ambient-shop") == {("unknown", "unknown", "unknown")}
    assert orders.mtls_requests > 0  # the waypoint's requests count (reporter="waypoint")
    assert orders.mtls_connections > 0


def test_ambient_tcp_only_namespace_all_mutual_tls_is_ready(mesh_read):
    assert namespace_row(mesh_read, "ambient-ready").readiness == "ready"


def test_new_plaintext_series_inside_the_window_with_one_request_is_found(mesh_read):
    # increase() alone reads nothing for a counter whose only sample is inside the window.
    newbie = namespace_row(mesh_read, "newbie")
    assert newbie.readiness == "not_ready"
    (cron,) = TrafficCaller.objects.filter(read=mesh_read, destination_namespace="newbie")
    assert (cron.source_namespace, cron.source_workload, cron.requests) == ("ops", "cron", 1)
    assert cron.last_seen.timestamp() == meshes.END - 2 * meshes.DAY
    assert newbie.plaintext_requests == 1  # the totals agree with the callers


def test_traffic_that_stopped_before_the_window_is_no_traffic(mesh_read):
    assert not TrafficNamespace.objects.filter(read=mesh_read, namespace="gone-quiet").exists()
    assert not TrafficCaller.objects.filter(read=mesh_read, destination_namespace="gone-quiet")


def test_strict_namespace_refused_callers_leave_no_destination_series(mesh_read):
    vault = namespace_row(mesh_read, "vault")
    assert vault.plaintext_callers == 0
    assert vault.plaintext_share == 0


def test_last_seen_of_a_steady_caller_is_the_last_hour(mesh_read):
    nightly = TrafficCaller.objects.get(read=mesh_read, source_workload="nightly")
    assert meshes.END - nightly.last_seen.timestamp() <= 3600


def test_a_read_runs_a_fixed_number_of_queries_and_keeps_them(mesh_read):
    assert mesh_read.history_seconds == mesh_read.window_seconds
    assert mesh_read.query_count == len(refresh_queries(7 * meshes.DAY)) == 7
    assert all('reporter=~"destination|waypoint"' in q for q in mesh_read.queries)


def test_short_history_says_how_much_is_held(traffic_settings, short_history_prometheus):
    traffic_settings.MESHUI_PROMETHEUS_URL = short_history_prometheus.url
    read = traffic_read(now=meshes.END_AT)
    assert read.status == "succeeded"
    assert read.history_seconds == pytest.approx(6 * 3600, abs=600)
    assert read.query_count == 8
    assert namespace_row(read, "shop").readiness == "not_enough_history"


def test_no_istio_traffic_at_all_stores_no_rows(traffic_settings, empty_prometheus):
    traffic_settings.MESHUI_PROMETHEUS_URL = empty_prometheus.url
    read = traffic_read(now=meshes.END_AT)
    assert read.status == "succeeded"
    assert not read.namespaces.exists()


def test_traffic_data_off_reads_nothing(settings):
    settings.MESHUI_PROMETHEUS_URL = ""
    assert traffic_read() is None
    assert not TrafficRead.objects.exists()


def test_the_task_reads_traffic_and_says_when_it_is_off(
    settings, traffic_settings, mesh_prometheus
):
    from policies.tasks import traffic_read as task

    traffic_settings.MESHUI_PROMETHEUS_URL = ""
    assert task.apply().get() == {"status": "off"}
    traffic_settings.MESHUI_PROMETHEUS_URL = mesh_prometheus.url
    assert task.apply().get()["status"] == "succeeded"


def test_a_partial_answer_fails_the_whole_read_and_stores_nothing(traffic_settings):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Warns(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(
                {
                    "status": "success",
                    "warnings": ["store eu-1 unavailable"],
                    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "5"]}]},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Warns)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        traffic_settings.MESHUI_PROMETHEUS_URL = f"http://127.0.0.1:{server.server_address[1]}"
        read = traffic_read(now=meshes.END_AT)
    finally:
        server.shutdown()
        server.server_close()
    assert read.status == "failed"
    assert read.error == "Partial data from Prometheus: store eu-1 unavailable"
    assert not TrafficNamespace.objects.exists()


@pytest.mark.parametrize("text", ["7x", "d", "0d", "30m", "-1h"])
def test_a_bad_traffic_window_is_refused_in_words(text):
    from policies.traffic_queries import window_seconds_parse

    with pytest.raises(ValueError, match="MESHUI_TRAFFIC_WINDOW"):
        window_seconds_parse(text)


def test_traffic_windows_read_as_durations():
    from policies.traffic_queries import promql_duration, window_seconds_parse

    assert window_seconds_parse("7d") == 7 * meshes.DAY
    assert window_seconds_parse("36h") == 36 * meshes.HOUR
    assert window_seconds_parse("2w") == 14 * meshes.DAY
    assert promql_duration(36 * meshes.HOUR) == "36h"


def test_series_with_unexpected_labels_are_never_attributed_to_a_workload():
    from policies.engine.readiness import TrafficTotals
    from policies.prometheus import Sample
    from policies.services.traffic import traffic_figures
    from policies.traffic_queries import REQUESTS

    figures = traffic_figures(
        {
            # No destination labels (a relabelling dropped them): nobody to judge.
            ("totals", REQUESTS): [Sample({"connection_security_policy": "none"}, 5)],
            # No source labels: an unknown caller, still counted against its destination.
            ("callers", REQUESTS): [
                Sample(
                    {"destination_workload_namespace": "shop", "destination_workload": "cart"}, 3
                )
            ],
        }
    )
    # Only the caller's plaintext reaches the totals; the unlabelled 5 requests do not.
    assert figures.totals == {("shop", "cart"): TrafficTotals(plaintext_requests=3)}
    (key,) = figures.callers
    assert key == ("shop", "cart", "unknown", "unknown", "unknown")
