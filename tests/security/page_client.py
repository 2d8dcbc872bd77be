"""A logged-in test client over a small snapshot, for tests that throw odd requests at pages."""

from __future__ import annotations

from tests.factories import snapshot_with


def logged_in_on_a_small_snapshot(client, user):
    """`client` logged in as `user`, over a snapshot with a workload, a policy and a finding in
    shop so that every page runs its queries; a server error comes back as a 500 response."""
    snapshot_with(
        namespaces=["shop"],
        workloads=[{"namespace": "shop", "name": "cart"}],
        policies=[{"namespace": "shop", "name": "default"}],
        findings=[{"namespace": "shop", "name": "cart"}],
    )
    client.force_login(user)
    client.raise_request_exception = False
    return client
