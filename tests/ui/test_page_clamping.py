"""Every paged list treats a page that does not exist the same way, below or above the range:
it shows the nearest real page and says which one was asked for."""

import re

import pytest

from tests.factories import snapshot_with, sync_run


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def big_mesh(db):
    snapshot = snapshot_with(
        namespaces=[f"ns-{i:02}" for i in range(60)],
        workloads=[{"namespace": "ns-00", "name": f"w{i:03}"} for i in range(130)],
        findings=[{"namespace": f"ns-{i:02}"} for i in range(60)],
        policies=[
            {"kind": kind, "namespace": f"ns-{i:02}", "name": f"p{i}"}
            for i in range(60)
            for kind in ("PeerAuthentication", "DestinationRule")
        ],
    )
    sync_run(snapshot=snapshot)
    return snapshot


@pytest.mark.parametrize(
    ("url", "last"),
    [
        ("/namespaces/?per_page=25&page={}", 3),
        ("/workloads/?per_page=50&page={}", 3),
        ("/findings/?per_page=25&page={}", 3),
        ("/namespaces/ns-00/?page={}", 2),
        ("/policies/?kind=PeerAuthentication&per_page=25&pa_page={}", 3),
        ("/policies/?kind=DestinationRule&per_page=25&dr_page={}", 3),
    ],
)
def test_out_of_range_pages_clamp_and_say_so(auditor_client, big_mesh, url, last):
    below = auditor_client.get(url.format(-1))
    assert below.status_code == 200
    assert f"There is no page -1: showing page 1 of {last}, the first." in text(below)
    above = auditor_client.get(url.format(99999))
    assert above.status_code == 200
    assert f"There is no page 99999: showing page {last} of {last}, the last." in text(above)
    real = auditor_client.get(url.format(2))
    assert "There is no page" not in text(real)


def test_a_page_that_is_not_a_number_is_still_a_bad_filter(auditor_client, big_mesh):
    response = auditor_client.get("/workloads/?page=two")
    assert response.status_code == 400
    assert "This filter cannot be applied." in text(response)
