"""What changed between two snapshots is worked out once per pair and kept (issue 17).

The rows stored must never be wrong: they go with either snapshot, the oldest pairs are
dropped past MESHUI_COMPARISONS_KEPT, and a pair is looked up only after the snapshots were
chosen in the cluster's scope, so one cluster's changes never answer another's comparison.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.cluster_scope import CONFIGURED, ClusterScope, cluster_scope_active
from policies.models import ChangedRecord, Cluster, Snapshot, SnapshotDifference
from policies.selectors.compare import snapshot_compare, snapshots_compared
from policies.services.snapshot_differences import (
    snapshot_difference_ensure,
    snapshot_differences_carry_forward,
)
from policies.services.sync import snapshots_prune
from tests.reports.builders import moment, snapshot_build

pytestmark = pytest.mark.django_db


def shop(taken_at, *, mode: str) -> Snapshot:
    return snapshot_build(
        taken_at=taken_at,
        namespaces={"shop": mode},
        workloads=[{"namespace": "shop", "name": "cart", "mode": mode}],
    )


def compared(at_from, at_to):
    before, after = snapshots_compared(at_from=at_from, at_to=at_to)
    difference = snapshot_difference_ensure(before=before, after=after)
    return snapshot_compare(difference=difference, at_from=at_from, at_to=at_to)


def workload_changes(comparison) -> list[tuple[str, str, str, str]]:
    return [(row.namespace, row.name, row.before, row.after) for row in comparison.workloads.rows]


def test_a_pair_is_stored_once_and_read_again():
    shop(moment("2026-11-01 09:00"), mode="STRICT")
    shop(moment("2026-11-05 09:00"), mode="PERMISSIVE")
    first = compared(moment("2026-11-02 00:00"), moment("2026-11-06 00:00"))
    again = compared(moment("2026-11-03 00:00"), moment("2026-11-07 00:00"))  # same snapshots

    assert (
        workload_changes(first)
        == workload_changes(again)
        == [("shop", "cart", "STRICT", "PERMISSIVE")]
    )
    assert again.namespaces.total == 1
    difference = SnapshotDifference.objects.get()
    assert (difference.namespaces_changed, difference.workloads_changed) == (1, 1)
    assert ChangedRecord.objects.count() == 2


def test_a_snapshot_compared_with_itself_stores_no_rows():
    shop(moment("2026-11-01 09:00"), mode="STRICT")
    comparison = compared(moment("2026-11-02 00:00"), moment("2026-11-03 00:00"))
    assert comparison.same_snapshot
    assert comparison.workloads.total == comparison.namespaces.total == 0
    assert not ChangedRecord.objects.exists()


def test_retention_takes_a_snapshots_stored_differences_with_it(settings):
    settings.MESHUI_SNAPSHOT_RETENTION_DAYS = 30
    now = timezone.now()
    old = shop(now - timedelta(days=40), mode="STRICT")
    middle = shop(now - timedelta(days=20), mode="PERMISSIVE")
    newest = shop(now - timedelta(days=1), mode="DISABLE")
    snapshot_difference_ensure(before=old, after=newest)
    kept = snapshot_difference_ensure(before=middle, after=newest)

    assert snapshots_prune(now=now) == 1
    assert list(SnapshotDifference.objects.all()) == [kept]
    assert set(ChangedRecord.objects.values_list("difference_id", flat=True)) == {kept.pk}


def test_only_the_newest_pairs_are_kept(settings):
    settings.MESHUI_COMPARISONS_KEPT = 2
    snapshots = [
        shop(moment("2026-11-01 09:00") + timedelta(days=day), mode=mode)
        for day, mode in enumerate(("STRICT", "PERMISSIVE", "DISABLE", "STRICT"))
    ]
    for before in snapshots[:3]:
        snapshot_difference_ensure(before=before, after=snapshots[3])

    kept = SnapshotDifference.objects.values_list("before_id", flat=True)
    assert sorted(kept) == [snapshots[1].pk, snapshots[2].pk]
    assert (
        ChangedRecord.objects.exclude(difference__in=SnapshotDifference.objects.all()).count() == 0
    )
    # A pair dropped is worked out again when asked for, and the same.
    again = snapshot_difference_ensure(before=snapshots[0], after=snapshots[3])
    assert (again.namespaces_changed, again.workloads_changed) == (0, 0)  # STRICT both times
    moved = snapshot_difference_ensure(before=snapshots[1], after=snapshots[3])
    assert (moved.namespaces_changed, moved.workloads_changed) == (1, 1)


def test_each_cluster_compares_its_own_snapshots():
    west = Cluster.objects.create(
        name="west", source="kubeconfig", kubeconfig="/dev/null", created_at=timezone.now()
    )
    shop(moment("2026-11-01 09:00"), mode="STRICT")
    shop(moment("2026-11-05 09:00"), mode="PERMISSIVE")
    for taken_at, mode in (("2026-11-01 10:00", "STRICT"), ("2026-11-05 10:00", "DISABLE")):
        registered = shop(moment(taken_at), mode=mode)
        Snapshot.objects.filter(pk=registered.pk).update(cluster=west)

    dates = (moment("2026-11-02 00:00"), moment("2026-11-06 00:00"))
    with cluster_scope_active(CONFIGURED):
        configured = compared(*dates)
    with cluster_scope_active(ClusterScope(cluster_id=west.pk, name="west")):
        registered = compared(*dates)
    with cluster_scope_active(CONFIGURED):
        configured_again = compared(*dates)

    assert workload_changes(configured) == [("shop", "cart", "STRICT", "PERMISSIVE")]
    assert workload_changes(registered) == [("shop", "cart", "STRICT", "DISABLE")]
    assert workload_changes(configured_again) == workload_changes(configured)
    assert SnapshotDifference.objects.count() == 2


def test_a_new_snapshot_carries_forward_the_pairs_that_ended_at_its_clusters_previous_one():
    west = Cluster.objects.create(
        name="west", source="kubeconfig", kubeconfig="/dev/null", created_at=timezone.now()
    )
    first = shop(moment("2026-11-01 09:00"), mode="STRICT")
    second = shop(moment("2026-11-02 09:00"), mode="PERMISSIVE")
    snapshot_difference_ensure(before=first, after=second)
    elsewhere = shop(moment("2026-11-03 09:00"), mode="STRICT")
    Snapshot.objects.filter(pk=elsewhere.pk).update(cluster=west)
    third = shop(moment("2026-11-04 09:00"), mode="DISABLE")

    assert snapshot_differences_carry_forward(snapshot_id=elsewhere.pk) == 0
    assert snapshot_differences_carry_forward(snapshot_id=third.pk) == 1
    carried = SnapshotDifference.objects.get(before=first, after=third)
    assert (carried.namespaces_changed, carried.workloads_changed) == (1, 1)
