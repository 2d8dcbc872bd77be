"""Fixtures for the bad-input tests: the sync tests' API server double, shared as is."""

from tests.sync.conftest import kube  # noqa: F401 (a fixture, used by name)
