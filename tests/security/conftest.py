"""The security suite probes the same write path as tests/changes, with the same fixtures."""

from tests.changes.conftest import _changes_double, _fast_passwords, kube, mesh, users

__all__ = ["_changes_double", "_fast_passwords", "kube", "mesh", "users"]
