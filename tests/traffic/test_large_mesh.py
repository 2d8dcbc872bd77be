"""A mesh of 1,000 namespaces: the read's query count does not grow with the mesh."""

from __future__ import annotations

import pytest

from policies.models import TrafficCaller, TrafficNamespace
from policies.services.traffic import traffic_read
from tests.traffic import meshes

pytestmark = pytest.mark.django_db


def test_a_thousand_namespaces_take_the_same_seven_queries(traffic_settings, large_prometheus):
    traffic_settings.MESHUI_PROMETHEUS_URL = large_prometheus.url
    read = traffic_read(now=meshes.END_AT)
    assert read.status == "succeeded", read.error
    assert read.query_count == 7
    rows = TrafficNamespace.objects.filter(read=read)
    assert rows.count() == 1000
    assert rows.filter(readiness="not_ready").count() == 100  # every tenth namespace
    assert rows.filter(readiness="ready").count() == 900
    assert TrafficCaller.objects.filter(read=read).count() == 100
