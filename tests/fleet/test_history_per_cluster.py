"""Trends and the oldest snapshot are a cluster's own history: a registered cluster's fresh
snapshot is never a point on the configured cluster's trend (and the other way round)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.cluster_scope import CONFIGURED, ClusterScope, cluster_scope_active
from policies.models import Cluster, Snapshot
from policies.selectors.reports import coverage_trend, snapshot_oldest
from tests.factories import snapshot_with


@pytest.mark.django_db
def test_trends_and_the_oldest_snapshot_read_the_cluster_in_scope():
    now = timezone.now()
    configured = snapshot_with(
        namespaces=[{"name": "shop", "mode": "STRICT"}], taken_at=now - timedelta(days=3)
    )
    west = Cluster.objects.create(
        name="west", source="kubeconfig", kubeconfig="/dev/null", created_at=now
    )
    registered = snapshot_with(namespaces=[{"name": "shop", "mode": "PERMISSIVE"}], taken_at=now)
    Snapshot.objects.filter(pk=registered.pk).update(cluster=west)

    start = now - timedelta(days=30)
    with cluster_scope_active(CONFIGURED):
        assert [p.taken_at for p in coverage_trend(start=start, end=now)] == [configured.taken_at]
        assert snapshot_oldest().pk == configured.pk
    with cluster_scope_active(ClusterScope(cluster_id=west.pk, name="west")):
        assert [p.taken_at for p in coverage_trend(start=start, end=now)] == [registered.taken_at]
        assert snapshot_oldest().pk == registered.pk
