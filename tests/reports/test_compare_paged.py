"""The comparison computed in SQL, one page per section (issue 17).

The database decides which rows changed; these tests hold it to the straightforward Python
rule (read both snapshots whole, compare key by key) on randomized snapshots, check the
paging in place, and count the queries on a small and a ten-times larger mesh.
"""

import json
import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import policies.selectors.compare as compare
from policies.models import ChangedRecord, SnapshotDifference
from policies.selectors.compare import snapshot_compare, snapshots_compared
from policies.selectors.reports import (
    ModeChange,
    exemptions_at,
    findings_with_exemptions,
    port_moves,
    snapshot_at,
)
from policies.services.snapshot_differences import snapshot_difference_ensure
from tests.reports.builders import audit_build, exemption_build, moment, snapshot_build

pytestmark = pytest.mark.django_db

MODES = ("STRICT", "PERMISSIVE", "DISABLE")
PORTS = ("80", "443", "8080", "9090")
FROM, TO = moment("2026-11-02 00:00"), moment("2026-11-10 00:00")


# --- The straightforward Python version -----------------------------------------------------


def python_changes(before: dict, after: dict, *, kind_of) -> list[tuple]:
    """Every key at either date whose row was added, removed, changed mode or moved a port."""
    changes = []
    for key in sorted(before.keys() | after.keys()):
        mode_before, ports_before = before.get(key, ("", {}))
        mode_after, ports_after = after.get(key, ("", {}))
        if mode_before == mode_after and not port_moves(
            mode_before, ports_before, mode_after, ports_after
        ):
            continue
        changes.append((key[0], key[1], kind_of(key), mode_before, mode_after))
    return changes


def python_comparison(at_from, at_to) -> dict:
    snapshot_from, snapshot_to = snapshot_at(at=at_from), snapshot_at(at=at_to)

    def namespaces(snapshot):
        return {(r.name, r.name): (r.mode, {}) for r in snapshot.namespaces.all()}

    def workloads(snapshot):
        return {(r.namespace, r.name, r.kind): (r.mode, r.ports) for r in snapshot.workloads.all()}

    def findings(snapshot, at):
        rows = findings_with_exemptions(snapshot, exemptions_at(at=at))
        return {row.key: row for row in rows}

    found_from, found_to = findings(snapshot_from, at_from), findings(snapshot_to, at_to)
    return {
        "namespaces": python_changes(
            namespaces(snapshot_from), namespaces(snapshot_to), kind_of=lambda key: "Namespace"
        ),
        "workloads": python_changes(
            workloads(snapshot_from), workloads(snapshot_to), kind_of=lambda key: key[2]
        ),
        "appeared": sorted(key for key in found_to if key not in found_from),
        "cleared": sorted(key for key in found_from if key not in found_to),
    }


def sql_comparison(at_from, at_to, monkeypatch) -> dict:
    for section in compare.COMPARE_SECTIONS:
        monkeypatch.setitem(compare.COMPARE_PAGE_SIZES, section, 100_000)  # one page each
    before, after = snapshots_compared(at_from=at_from, at_to=at_to)
    difference = snapshot_difference_ensure(before=before, after=after)
    comparison = snapshot_compare(difference=difference, at_from=at_from, at_to=at_to)

    def changes(section):
        # In the order Python sorts the keys (code points), as the page lists them.
        return [(row.namespace, row.name, row.kind, row.before, row.after) for row in section.rows]

    def findings(section):
        return sorted(row.key for row in [*section.extra, *section.rows])

    assert comparison.namespaces.total == len(comparison.namespaces.rows)
    assert comparison.workloads.total == len(comparison.workloads.rows)
    return {
        "namespaces": changes(comparison.namespaces),
        "workloads": changes(comparison.workloads),
        "appeared": findings(comparison.findings_appeared),
        "cleared": findings(comparison.findings_cleared),
    }


# --- Randomized snapshots -------------------------------------------------------------------


def random_ports(rng: random.Random, mode: str) -> dict:
    """Ports a policy names: often none, often the workload's own mode (no move at all)."""
    ports = {}
    for port in rng.sample(PORTS, rng.randint(0, 3)):
        ports[port] = mode if rng.random() < 0.5 else rng.choice(MODES)
    return ports


def random_mesh(rng: random.Random) -> tuple[dict, list[dict], list[dict]]:
    namespaces = {f"ns-{index}": rng.choice(MODES) for index in range(12)}
    workloads = []
    for namespace in namespaces:
        for index in range(rng.randint(0, 5)):
            mode = rng.choice(MODES)
            workloads.append(
                {
                    "namespace": namespace,
                    "name": f"app-{index}",
                    "kind": rng.choice(("Deployment", "StatefulSet")),
                    "mode": mode,
                    "ports": random_ports(rng, mode),
                }
            )
    findings = [
        {
            "code": rng.choice(("DUPLICATE_NAMESPACE_POLICY", "EXEMPTION_EXPIRED", "NO_SIDECAR")),
            "namespace": rng.choice(list(namespaces)),
            "name": rng.choice(("", "app-0", "app-1")),
            "kind": rng.choice(("PeerAuthentication", "Workload", "Namespace")),
            "severity": rng.choice(("error", "warning", "info")),
        }
        for _ in range(rng.randint(0, 25))
    ]
    return namespaces, workloads, findings


def mutated(rng: random.Random, mesh) -> tuple[dict, list[dict], list[dict]]:
    """The same mesh a week later: some namespaces gone or new, some modes and ports moved."""
    namespaces, workloads, findings = mesh
    namespaces = {name: mode for name, mode in namespaces.items() if rng.random() > 0.1}
    namespaces.update({f"new-{index}": rng.choice(MODES) for index in range(rng.randint(0, 3))})
    for name in namespaces:
        if rng.random() < 0.3:
            namespaces[name] = rng.choice(MODES)
    moved = []
    for workload in workloads:
        if rng.random() < 0.1:
            continue  # removed
        workload = dict(workload)
        roll = rng.random()
        if roll < 0.2:
            workload["mode"] = rng.choice(MODES)
        elif roll < 0.5:
            # Only the named ports: often the mode it had anyway, which is no change.
            workload["ports"] = random_ports(rng, workload["mode"])
        moved.append(workload)
    moved.append({"namespace": "ns-0", "name": "late", "mode": "PERMISSIVE", "ports": {}})
    kept = [finding for finding in findings if rng.random() > 0.3]
    return namespaces, moved, kept + random_mesh(rng)[2][:5]


@pytest.mark.parametrize("seed", range(8))
def test_compare_in_sql_matches_the_python_rule_on_random_snapshots(seed, monkeypatch):
    rng = random.Random(seed)
    first = random_mesh(rng)
    second = mutated(rng, first)
    for taken_at, (namespaces, workloads, findings) in (
        (moment("2026-11-01 09:00"), first),
        (moment("2026-11-05 10:00"), second),
    ):
        snapshot_build(
            taken_at=taken_at, namespaces=namespaces, workloads=workloads, findings=findings
        )
    # Exemptions: expired by the first date, expired between the dates (after the second
    # snapshot was taken: judged at the date), in force, revoked, and renewed.
    for index, (created, expires) in enumerate(
        [
            ("2026-10-01", "2026-11-01 12:00"),
            ("2026-10-01", "2026-11-08 00:00"),
            ("2026-10-01", "2026-12-31 00:00"),
            ("2026-10-20", "2026-10-25 00:00"),
        ]
    ):
        namespace = f"ns-{rng.randint(0, 11)}"
        exemption_build(
            namespace=namespace,
            workload=rng.choice(("", "app-0", "app-1")),
            created_at=moment(f"{created} 00:00"),
            expires_at=moment(expires),
            revoked_at=moment("2026-11-03 00:00") if index == 3 and seed % 2 else None,
        )

    expected = python_comparison(FROM, TO)
    assert sql_comparison(FROM, TO, monkeypatch) == expected  # worked out and stored
    assert sql_comparison(FROM, TO, monkeypatch) == expected  # read from the stored rows
    assert SnapshotDifference.objects.count() == 1
    # Page by page, the stored positions list the same rows in the same order.
    monkeypatch.setitem(compare.COMPARE_PAGE_SIZES, "workloads", 3)
    monkeypatch.setitem(compare.COMPARE_PAGE_SIZES, "namespaces", 2)
    difference = SnapshotDifference.objects.get()
    difference.before, difference.after = snapshots_compared(at_from=FROM, at_to=TO)
    for section in ChangedRecord.Section:
        size = compare.COMPARE_PAGE_SIZES[section.value]
        rows = []
        for number in range(1, -(-len(expected[section.value]) // size) + 1):
            page = compare.changes_page(difference=difference, section=section, page=number)
            rows += [(r.namespace, r.name, r.kind, r.before, r.after) for r in page.rows]
        assert rows == expected[section.value]


def test_a_policy_naming_a_port_with_the_mode_it_had_is_no_change(monkeypatch):
    snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        workloads=[{"namespace": "shop", "name": "cart", "mode": "STRICT", "ports": {}}],
    )
    snapshot_build(
        taken_at=moment("2026-11-05 10:00"),
        workloads=[
            {"namespace": "shop", "name": "cart", "mode": "STRICT", "ports": {"8080": "STRICT"}}
        ],
    )
    assert sql_comparison(FROM, TO, monkeypatch)["workloads"] == []


# --- Paging ---------------------------------------------------------------------------------


def mesh_of(size: int, *, modes: tuple[str, ...], taken_at) -> None:
    names = [f"ns-{index:04d}" for index in range(size)]
    snapshot_build(
        taken_at=taken_at,
        namespaces={name: modes[index % len(modes)] for index, name in enumerate(names)},
        workloads=[
            {
                "namespace": name,
                "name": f"app-{workload}",
                "mode": modes[(index + workload) % len(modes)],
                "ports": {"8443": "DISABLE"} if workload == 0 else {},
            }
            for index, name in enumerate(names)
            for workload in range(3)
        ],
        findings=[
            {"code": "DUPLICATE_NAMESPACE_POLICY", "namespace": name}
            for index, name in enumerate(names)
            if index % len(modes)
        ],
    )


def two_meshes(size: int) -> None:
    mesh_of(size, modes=("STRICT",), taken_at=moment("2026-11-01 09:00"))
    for index in range(size):
        audit_build(created_at=moment("2026-11-03 10:00") + timedelta(seconds=index))
    mesh_of(size, modes=("STRICT", "PERMISSIVE", "DISABLE"), taken_at=moment("2026-11-05 10:00"))


def test_compare_pages_each_section_in_place(client_as, auditor_user):
    two_meshes(120)
    client = client_as(auditor_user)
    query = {"from": "2026-11-02", "to": "2026-11-10"}
    page = client.get("/reports/compare/", query).content.decode()

    assert "Namespaces that changed (80)" in page
    assert "Showing 1–50 of 80" in page
    assert "Findings that appeared (80)" in page
    assert 'hx-target="#compare-workloads"' in page
    # The next page's link keeps both moments, written out exactly.
    link = page.split('id="compare-workloads"')[1].split('rel="next"')[0]
    link = link.rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "workloads_page=2" in link and "to=2026-11-10T23%3A59%3A59.999999Z" in link

    swapped = client.get(
        "/reports/compare/" + link,
        headers={"HX-Request": "true", "HX-Target": "compare-workloads"},
    ).content.decode()
    assert swapped.lstrip().startswith('<div id="compare-workloads"')
    assert "Showing 51–100 of" in swapped

    # Without JavaScript the same link is the whole page; past the end is the last page.
    whole = client.get("/reports/compare/", {**query, "namespaces_page": 99}).content.decode()
    assert "<html" in whole and "Showing 51–80 of 80" in whole
    findings = client.get("/reports/compare/", {**query, "appeared_page": 7}).content.decode()
    assert "Showing 51–80 of 80" in findings.split('id="compare-appeared"')[1]


def test_a_page_that_is_not_a_number_is_refused_in_words(client_as, auditor_user):
    two_meshes(3)
    response = client_as(auditor_user).get(
        "/reports/compare/", {"from": "2026-11-02", "workloads_page": "two"}
    )
    assert response.status_code == 400
    assert "Enter a whole number." in response.content.decode()


def compare_queries(client, size: int) -> int:
    two_meshes(size)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/reports/compare/", {"from": "2026-11-02", "to": "2026-11-10"})
    assert response.status_code == 200
    return len(queries)


def test_compare_costs_the_same_queries_on_a_ten_times_larger_mesh(client_as, auditor_user):
    client = client_as(auditor_user)
    exemption_build(
        namespace="ns-0001",
        created_at=moment("2026-10-01 00:00"),
        expires_at=moment("2026-11-08 00:00"),
    )
    small = compare_queries(client, 10)
    from policies.models import Snapshot

    Snapshot.objects.all().delete()
    large = compare_queries(client, 100)
    assert small == large


def test_a_pair_seen_before_is_read_from_its_stored_changes_in_fewer_queries(
    client_as, auditor_user
):
    client = client_as(auditor_user)
    counts = {}
    for size in (10, 100):
        from policies.models import Snapshot

        Snapshot.objects.all().delete()
        first = compare_queries(client, size)
        with CaptureQueriesContext(connection) as again:
            page = client.get("/reports/compare/", {"from": "2026-11-02", "to": "2026-11-10"})
        assert f"Workloads that changed ({size * 3 * 2 // 3})" in page.content.decode()
        assert not [query for query in again if "INSERT" in query["sql"]]
        counts[size] = (first, len(again))
    assert counts[10] == counts[100]
    assert counts[10][1] < counts[10][0]


def test_mode_change_decodes_ports_only_for_the_rows_shown():
    change = ModeChange("shop", "cart", "Deployment", "STRICT", "STRICT", "{}", '{"8443": "X"}')
    assert change.port_moves == [("8443", "STRICT", "X")]
    assert json.loads(change.ports_after_json) == {"8443": "X"}
