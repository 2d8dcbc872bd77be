"""Fixtures for the security tests: the change tests' API server double and users in each
role, imported rather than copied."""

from tests.changes.conftest import (  # noqa: F401 - fixtures, used by name
    _changes_double,
    _fast_passwords,
    kube,
    users,
)
