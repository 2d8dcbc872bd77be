"""A real Prometheus per test module, serving TSDB blocks built once per session.

Blocks are cached by the OpenMetrics text's hash under the pytest cache directory, so a
second run builds nothing; each Prometheus serves its own copy (it rewrites its directory).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devprometheus import (
    blocks_build,
    openmetrics_text,
    prometheus_available,
    prometheus_start,
)
from tests.traffic import meshes


@pytest.fixture(scope="session")
def prometheus_blocks(request, tmp_path_factory):
    if not prometheus_available():
        pytest.fail("Debian's prometheus package is missing: run `make prometheus`")
    cache_plugin = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    cache = (
        Path(cache_plugin.mkdir("prometheus-blocks"))
        if cache_plugin
        else tmp_path_factory.mktemp("prometheus-blocks")
    )

    def build(series, step: int = meshes.STEP, dense=()) -> Path:
        return blocks_build(openmetrics_text(series, step=step, dense=dense), cache_dir=cache)

    return build


def _serve(prometheus_blocks, tmp_path_factory, series, step=meshes.STEP, dense=()):
    return prometheus_start(
        prometheus_blocks(series, step, dense), workdir=tmp_path_factory.mktemp("prometheus")
    )


@pytest.fixture(scope="module")
def large_prometheus(prometheus_blocks, tmp_path_factory):
    """1,000 namespaces of traffic (built once, then cached)."""
    running = _serve(
        prometheus_blocks,
        tmp_path_factory,
        meshes.large_mesh_series(1000),
        step=meshes.LARGE_STEP,
        dense=meshes.LARGE_DENSE,
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def mesh_prometheus(prometheus_blocks, tmp_path_factory):
    running = _serve(prometheus_blocks, tmp_path_factory, meshes.mesh_series())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def short_history_prometheus(prometheus_blocks, tmp_path_factory):
    running = _serve(prometheus_blocks, tmp_path_factory, meshes.short_history_series())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def empty_prometheus(prometheus_blocks, tmp_path_factory):
    # A Prometheus with Istio's series for another cluster's namespace only.
    running = _serve(
        prometheus_blocks,
        tmp_path_factory,
        [s for s in meshes.mesh_series() if s.destination_namespace == "gone-quiet"],
    )
    yield running
    running.stop()


@pytest.fixture
def traffic_settings(settings):
    """meshui pointed at a Prometheus (set `.MESHUI_PROMETHEUS_URL` in the test)."""
    settings.MESHUI_PROMETHEUS_TIMEOUT_SECONDS = 30
    settings.MESHUI_PROMETHEUS_BEARER_TOKEN = ""
    settings.MESHUI_PROMETHEUS_USERNAME = ""
    settings.MESHUI_PROMETHEUS_PASSWORD = ""
    settings.MESHUI_PROMETHEUS_CA_FILE = ""
    settings.MESHUI_PROMETHEUS_MAX_MB = 256
    settings.MESHUI_TRAFFIC_WINDOW_SECONDS = 7 * meshes.DAY
    return settings


@pytest.fixture(scope="module")
def live_mesh_prometheus(prometheus_blocks, tmp_path_factory):
    """The mesh's traffic ending at the current hour: for what asks Prometheus "now" (the
    preview's fresh query). Its blocks are rebuilt once an hour."""
    import time

    end = int(time.time()) // meshes.STEP * meshes.STEP
    running = _serve(prometheus_blocks, tmp_path_factory, meshes.mesh_series(end=end))
    yield running
    running.stop()
