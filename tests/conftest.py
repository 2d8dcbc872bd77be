"""Shared fixtures. Layer-specific fixtures live in conftest.py files beside the tests."""

pytest_plugins = ["devcluster.pytest_plugin"]
