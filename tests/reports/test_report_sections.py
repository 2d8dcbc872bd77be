"""The report at scale: summary first, exceptions paged and filtered in place, printed whole
with the checksums of the exports, and the same number of queries whatever the mesh's size."""

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.forms.reports import moment_param
from policies.models import ExportChecksum
from tests.factories import audit_entry, large_snapshot, sync_run
from tests.reports.builders import audit_build, exemption_build, moment, snapshot_build

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def mesh():
    """30 PERMISSIVE namespaces of 2 workloads, 5 STRICT ones, one STRICT workload with a
    DISABLE port, an exemption in force, an expired one and a change in the period."""
    namespaces = {f"team-{index:02d}": "PERMISSIVE" for index in range(30)}
    namespaces.update({f"core-{index}": "STRICT" for index in range(5)})
    workloads = [
        {"namespace": f"team-{index:02d}", "name": f"svc-{number}", "mode": "PERMISSIVE"}
        for index in range(30)
        for number in range(2)
    ]
    workloads += [
        {"namespace": f"core-{index}", "name": "api", "mode": "STRICT"} for index in range(5)
    ]
    workloads.append(
        {"namespace": "core-0", "name": "metrics", "mode": "STRICT", "ports": {"9090": "DISABLE"}}
    )
    snapshot = snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces=namespaces,
        workloads=workloads,
        findings=[{"code": "DUPLICATE_NAMESPACE_POLICY", "namespace": "team-07"}],
    )
    exemption_build(
        namespace="team-03",
        created_at=moment("2026-10-01 00:00"),
        expires_at=moment("2026-12-31 00:00"),
    )
    exemption_build(
        namespace="team-04",
        owner="team-four",
        created_at=moment("2026-09-01 00:00"),
        expires_at=moment("2026-10-15 00:00"),
    )
    audit_build(created_at=moment("2026-11-01 10:00"), reason="core to STRICT, CHG-7")
    return snapshot


AT = {"at": "2026-11-02T00:00Z"}


def test_report_leads_with_the_summary_and_counts_compliant_rows_without_listing_them(
    client_as, auditor_user, mesh
):
    page = client_as(auditor_user).get("/reports/", AT).content.decode()

    summary, exceptions = page.split('id="exceptions-title"')
    assert "<strong>30</strong> of 35 namespaces below STRICT" in summary
    assert "<strong>61</strong> of 66 workloads below STRICT or with a port below STRICT" in summary
    assert "5 namespaces and 5 workloads STRICT: counted here, listed in the exports" in summary
    assert "audit entry: applied 1." in summary
    assert "in force (1 namespace, 0 workloads); <strong>1</strong> expired" in summary
    assert "core-3/api" not in exceptions  # compliant: counted, not listed
    assert "core-0/metrics" in exceptions  # STRICT, but a port below STRICT


def test_each_exceptions_section_is_paged_on_its_own_with_the_moment_pinned(
    client_as, auditor_user, mesh
):
    client = client_as(auditor_user)
    first = client.get("/reports/", AT).content.decode()
    assert "Showing 1–20 of 61" in first and "Showing 1–25 of 30" in first
    next_link = re.search(r'href="(\?[^"]*workloads_page=2[^"]*)"', first).group(1)
    assert "at=2026-11-02T00%3A00%3A00Z" in next_link and "since=" in next_link

    second = client.get("/reports/" + next_link.replace("&amp;", "&")).content.decode()
    assert "Showing 21–40 of 61" in second
    assert "Showing 1–25 of 30" in second  # the namespaces stay on their first page


def test_an_htmx_request_swaps_only_the_section_it_targets(client_as, auditor_user, mesh):
    response = client_as(auditor_user).get(
        "/reports/",
        {**AT, "workloads_page": 3},
        headers={"HX-Request": "true", "HX-Target": "report-workloads"},
    )
    fragment = response.content.decode()

    assert fragment.lstrip().startswith('<div id="report-workloads"')
    assert "Showing 41–60 of 61" in fragment
    assert "<html" not in fragment and "report-summary" not in fragment
    assert response["Vary"].count("HX-Target") == 1


def test_a_page_past_the_end_shows_the_last_one(client_as, auditor_user, mesh):
    page = client_as(auditor_user).get("/reports/", {**AT, "workloads_page": 99}).content
    assert "Showing 61–61 of 61" in page.decode()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"workloads_page": "two"}, "Page of workloads: Enter a whole number."),
        ({"findings_page": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"mode": "STRICT"}, "Select a valid choice."),
        ({"namespace": "x" * 64}, "Ensure this value has at most 63 characters"),
    ],
)
def test_a_bad_section_parameter_is_refused_in_words(
    client_as, auditor_user, mesh, params, message
):
    response = client_as(auditor_user).get("/reports/", {**AT, **params})

    assert response.status_code == 400
    assert message in response.content.decode()


def test_filters_narrow_the_exceptions_but_not_the_summary(client_as, auditor_user, mesh):
    page = client_as(auditor_user).get("/reports/", {**AT, "namespace": "team-0"}).content
    page = page.decode()
    exceptions = page.split('id="exceptions-title"')[1]

    assert "<strong>30</strong> of 35 namespaces" in page
    assert 'Namespaces below STRICT <span class="count">10</span>' in exceptions
    assert 'Workloads and ports below STRICT <span class="count">20</span>' in exceptions
    assert "team-07" in exceptions and "team-12" not in exceptions


def test_compliant_rows_are_listed_on_request(client_as, auditor_user, mesh):
    page = client_as(auditor_user).get("/reports/", {**AT, "compliant": "on"}).content.decode()
    compliant = page.split('id="compliant-title"')[1]

    assert 'Namespaces STRICT <span class="count">5</span>' in compliant
    assert "core-3/api" in compliant and "core-0/metrics" not in compliant


def test_an_exemption_expired_at_the_reports_moment_is_listed_with_its_owner(
    client_as, auditor_user, mesh
):
    page = client_as(auditor_user).get("/reports/", AT).content.decode()
    expired = page.split('id="expired-title"')[1].split('id="exemptions-title"')[0]

    assert "team-04" in expired and "team-four" in expired
    assert "EXEMPTION_<wbr>EXPIRED" in page  # a finding judged at the report's moment


def test_printable_report_lists_every_exception_unpaged(client_as, auditor_user, mesh):
    page = client_as(auditor_user).get("/reports/print/", AT).content.decode()

    assert "Workloads and ports below STRICT (61)" in page
    assert all(f"team-{index:02d}/svc-1" in page for index in range(30))
    assert "port 9090 DISABLE" in page
    assert "pagination" not in page
    assert "core-3/api" not in page


def test_printed_checksums_are_the_sha256_of_the_files_the_links_download(
    client_as, auditor_user, mesh
):
    client = client_as(auditor_user)
    printed = client.get("/reports/print/").content.decode()
    listed = re.findall(
        r'<a href="(/reports/(\w+)\.csv\?[^"]+)"[^>]*>([^<]+)</a></th>\s*<td>[^<]*</td>\s*'
        r'<td><code class="checksum"[^>]*>([0-9a-f]{64})</code>',
        printed,
    )
    assert [table for _url, table, _name, _sum in listed] == [
        "namespaces",
        "workloads",
        "findings",
        "audit",
    ]
    for url, _table, filename, checksum in listed:
        response = client.get(url.replace("&amp;", "&"))
        assert hashlib.sha256(body(response)).hexdigest() == checksum
        assert f'filename="{filename}"' in response["Content-Disposition"]
    # The report page then names the same checksums, read from what was kept.
    page_link = re.search(r'href="/reports/\?([^"]+)">Back to the report', printed).group(1)
    page = client.get("/reports/?" + page_link.replace("&amp;", "&")).content.decode()
    assert all(checksum in page for *_rest, checksum in listed)


def test_checksums_are_computed_once_per_report_and_kept(client_as, auditor_user, mesh):
    client = client_as(auditor_user)
    client.get("/reports/print/", AT)
    kept = list(ExportChecksum.objects.values_list("table", "sha256"))
    # Later history (a change after the report's moment) leaves the earlier report's files alone.
    audit_build(created_at=timezone.now(), reason="later")
    with CaptureQueriesContext(connection) as queries:
        client.get("/reports/print/", AT)

    assert len(kept) == 4
    assert list(ExportChecksum.objects.values_list("table", "sha256")) == kept
    assert not any("INSERT" in query["sql"] for query in queries.captured_queries)


def test_report_json_command_is_the_complete_record_as_before(mesh, tmp_path):
    output = tmp_path / "evidence.json"
    call_command("report", "--at", "2026-11-02", "--format", "json", "--output", str(output))
    document = json.loads(output.read_text())

    assert list(document) == [
        "report",
        "snapshot",
        "root_namespace",
        "mesh",
        "coverage",
        "namespaces",
        "workloads",
        "findings",
        "exemptions",
        "audit",
    ]
    # Every row, compliant ones too: the page lists exceptions, the record keeps everything.
    assert len(document["namespaces"]) == 35 and len(document["workloads"]) == 66
    assert list(document["workloads"][0]) == [
        "namespace",
        "name",
        "kind",
        "mode",
        "policy",
        "source",
        "ports",
        "reason",
        "container_ports",
        "has_sidecar",
        "ambient",
        "findings_count",
        "port_reasons",
        "exempt",
        "exemption_owner",
        "exemption_expires_at",
        # Added in 0.2, at the end: the contract is append-only.
        "readiness",
        "plaintext_share",
        "strict_declared",
        "strict_enforced",
        "coverage_rule",
        "host_network",
    ]
    assert document["coverage"]["namespaces_total"] == 35
    assert {row["code"] for row in document["findings"]} == {
        "EXEMPTION_EXPIRED",
        "DUPLICATE_NAMESPACE_POLICY",
    }


# --- Query counts: the same on a small and a ten-times larger mesh ---------------------------


def mesh_of(namespaces: int):
    snapshot = large_snapshot(namespaces=namespaces, workloads_per_namespace=4)
    sync_run(snapshot=snapshot)
    now = timezone.now()
    for index in range(0, namespaces, 7):
        exemption_build(
            namespace=f"ns-{index:05d}",
            created_at=now - timedelta(days=1),
            expires_at=now + timedelta(days=10),
        )
        exemption_build(
            namespace=f"ns-{index:05d}",
            workload="app-02",
            created_at=now - timedelta(days=20),
            expires_at=now - timedelta(days=1),
        )
    for index in range(namespaces // 5):
        audit_entry(None, target_namespace=f"ns-{index:05d}")
    return snapshot


PAGES = [
    "/",
    "/namespaces/",
    "/namespaces/?mode=PERMISSIVE&sort=-findings&page=2",
    "/namespaces/ns-00001/",
    "/namespaces/ns-00001/workloads/Deployment/app-01/",
    "/policies/",
    "/findings/",
    "/audit/",
    "/reports/",
    "/reports/?workloads_page=3&namespaces_page=2&findings_page=2&changes_page=2",
    "/reports/?namespace=ns-0&mode=DISABLE&severity=warning",
    "/reports/?compliant=on&compliant_workloads_page=2",
    "/reports/print/",
    "/reports/trends/",
    "/exemptions/",
]


def queries_per_page(client, snapshot) -> dict[str, int]:
    counts = {}
    compare = f"/reports/compare/?from={moment_param(snapshot.taken_at)}"
    for url in [*PAGES, compare]:
        client.get(url)  # checksums and caches settle on the first visit
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, url
        counts[url.split("?from=")[0]] = len(queries)
    return counts


def test_every_page_costs_the_same_queries_on_a_ten_times_larger_mesh(client_as, auditor_user):
    client = client_as(auditor_user)
    small_snapshot = mesh_of(40)
    small = queries_per_page(client, small_snapshot)
    small_snapshot.delete()
    from policies.models import Exemption

    Exemption.objects.all().delete()
    large = queries_per_page(client, mesh_of(400))

    assert large == small


def test_a_bad_filter_swapped_in_place_shows_its_error_where_the_rows_were(
    client_as, auditor_user, mesh
):
    response = client_as(auditor_user).get(
        "/reports/",
        {**AT, "mode": "STRICT"},
        headers={"HX-Request": "true", "HX-Target": "report-exceptions"},
    )
    fragment = response.content.decode()

    assert response.status_code == 400
    assert fragment.lstrip().startswith('<div id="report-exceptions"')
    assert "This filter cannot be applied." in fragment and "Select a valid choice." in fragment


def test_the_change_preview_costs_the_same_queries_on_a_ten_times_larger_mesh(kube, client):
    from tests.factories import user_with_role

    kube.seed(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-00001"}},
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": "ns-00001"},
                "spec": {"mtls": {"mode": "PERMISSIVE"}},
            },
        ]
    )
    client.force_login(user_with_role("admin", username="preview-admin"))
    form = {"mode": "STRICT", "reason": "INC-9: preview only"}

    def preview_queries() -> int:
        client.post("/namespaces/ns-00001/mode/", form)
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/namespaces/ns-00001/mode/", form)
        assert response.status_code == 200
        assert "dry run" in response.content.decode().lower()
        return len(queries)

    small_snapshot = mesh_of(40)
    small = preview_queries()
    small_snapshot.delete()
    large_snapshot_ = mesh_of(400)
    assert large_snapshot_.namespaces_total == 400
    assert preview_queries() == small


def test_the_benchmarks_large_snapshot_takes_every_given_mode_in_turn():
    """The stored mesh's "five percent" snapshot (19 STRICT, 1 PERMISSIVE) must leave one
    namespace in 20 below STRICT; the factory once cycled through the first three only."""
    snapshot = large_snapshot(
        namespaces=40, workloads_per_namespace=1, modes=("STRICT",) * 19 + ("PERMISSIVE",)
    )
    below = snapshot.namespaces.exclude(mode="STRICT")
    assert sorted(below.values_list("name", flat=True)) == ["ns-00019", "ns-00039"]
