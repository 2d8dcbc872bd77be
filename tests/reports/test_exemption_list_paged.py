"""The exemption list at a thousand exemptions: paged, filtered by state and namespace in the
URL, each state judged in the database as `exemption_state` judges it (issue 17)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.models import Exemption
from policies.selectors.reports import exemption_list_read, exemption_state
from tests.reports.builders import exemption_build

pytestmark = pytest.mark.django_db


def exemptions_of_every_state(count: int) -> None:
    now = timezone.now()
    for index in range(count):
        namespace = f"team-{index:04d}"
        kind = index % 4
        exemption = exemption_build(
            namespace=namespace,
            workload="" if index % 3 else "api",
            created_at=now - timedelta(days=30),
            expires_at=now + timedelta(days=5) if kind in (0, 2, 3) else now - timedelta(days=1),
            revoked_at=now - timedelta(days=2) if kind in (2, 3) else None,
        )
        if kind == 2:  # renewed: revoked at the moment its renewal took over
            Exemption.objects.create(
                namespace=namespace,
                workload=exemption.workload,
                owner="team",
                justification="renewed",
                expires_at=now + timedelta(days=60),
                created_at=now - timedelta(days=2),
                created_by="root",
                renewed_from=exemption,
            )


def test_every_state_is_judged_in_the_database_as_in_python():
    exemptions_of_every_state(24)
    now = timezone.now()
    listing = exemption_list_read(now=now, page=1)

    expected = {
        exemption.pk: exemption_state(exemption, now=now) for exemption in Exemption.objects.all()
    }
    assert {exemption.pk: state for exemption, state in listing.rows} == expected
    assert listing.counts == {"valid": 12, "expired": 6, "renewed": 6, "revoked": 6}
    order = ["valid", "expired", "renewed", "revoked"]
    states = [order.index(state) for _exemption, state in listing.rows]
    assert states == sorted(states)


def test_the_list_is_paged_and_filtered_in_the_url(client_as, auditor_user):
    exemptions_of_every_state(120)
    client = client_as(auditor_user)

    page = client.get("/exemptions/").content.decode()
    assert "Showing 1–50 of 150" in page
    assert "60 valid, 30 expired, 30 renewed, 30 revoked" in page
    assert 'hx-target="#exemption-table"' in page and "page=2" in page

    expired = client.get("/exemptions/", {"state": "expired", "page": 9}).content.decode()
    assert "Showing" not in expired  # 30 fit on one page; past the end shows the last
    assert expired.count('class="exemption-expired"') == 30
    assert 'class="exemption-valid"' not in expired

    swapped = client.get(
        "/exemptions/",
        {"namespace": "team-001", "state": "valid"},
        headers={"HX-Request": "true", "HX-Target": "exemption-table"},
    ).content.decode()
    assert swapped.lstrip().startswith('<div id="exemption-table"')
    assert "team-0010" in swapped and "team-0020" not in swapped


def test_a_bad_filter_is_refused_in_words(client_as, auditor_user):
    response = client_as(auditor_user).get("/exemptions/", {"state": "forever", "page": "x"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice." in html and "Enter a whole number." in html


def list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/exemptions/", {"state": "valid"}).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_ten_times_more_exemptions(client_as, auditor_user):
    client = client_as(auditor_user)
    exemptions_of_every_state(12)
    few = list_queries(client)
    Exemption.objects.filter(renewed_from__isnull=False).delete()
    Exemption.objects.all().delete()
    exemptions_of_every_state(120)
    assert list_queries(client) == few
