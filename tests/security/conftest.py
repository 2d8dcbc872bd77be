"""The security suite probes the same write path as tests/changes, with the same fixtures:
the API server double, a mesh synced from it and users in each role."""

from tests.changes.conftest import _fast_passwords, kube, mesh, users

__all__ = ["_fast_passwords", "kube", "mesh", "users"]
