"""Names, labels, annotations and messages come from the cluster: they must render inert."""

import pytest

from tests.factories import reason, snapshot_with, sync_run

# No "/" in names: Kubernetes names cannot hold one, and URLs are built from them.
NAME_PAYLOAD = '"><img src=x onerror=alert(1)>'
TEXT_PAYLOAD = "<script>alert('meshui')</script>"
PAGES = [
    "/",
    "/namespaces/",
    f"/namespaces/{NAME_PAYLOAD}/",
    f"/namespaces/{NAME_PAYLOAD}/workloads/Deployment/{NAME_PAYLOAD}/",
    "/policies/",
    f"/policies/PeerAuthentication/{NAME_PAYLOAD}/{NAME_PAYLOAD}/",
    "/findings/",
]


@pytest.fixture
def hostile_snapshot(db):
    hostile_reason = reason(
        "STRICT", level="namespace", policy=f"{NAME_PAYLOAD}/{NAME_PAYLOAD}", workload=True
    )
    hostile_reason["chain"][0]["note"] = TEXT_PAYLOAD
    snapshot = snapshot_with(
        mesh_policy=f"istio-system/{NAME_PAYLOAD}",
        cluster_name=TEXT_PAYLOAD,
        namespaces=[
            {
                "name": NAME_PAYLOAD,
                "labels": {TEXT_PAYLOAD: TEXT_PAYLOAD},
                "policy": f"{NAME_PAYLOAD}/{NAME_PAYLOAD}",
                "source": "namespace",
                "reason": hostile_reason,
                "injection": TEXT_PAYLOAD,
            }
        ],
        workloads=[
            {
                "namespace": NAME_PAYLOAD,
                "name": NAME_PAYLOAD,
                "labels": {"app": TEXT_PAYLOAD},
                "reason": hostile_reason,
                "ports": {TEXT_PAYLOAD: "STRICT"},
            }
        ],
        findings=[
            {
                "namespace": NAME_PAYLOAD,
                "name": NAME_PAYLOAD,
                "code": TEXT_PAYLOAD,
                "severity": "error",
                "message": TEXT_PAYLOAD,
            }
        ],
        policies=[
            {
                "namespace": NAME_PAYLOAD,
                "name": NAME_PAYLOAD,
                "selector": {TEXT_PAYLOAD: TEXT_PAYLOAD},
                "status_reason": TEXT_PAYLOAD,
                "manifest": {"metadata": {"annotations": {"note": TEXT_PAYLOAD}}},
            }
        ],
        services=[
            {"namespace": NAME_PAYLOAD, "name": TEXT_PAYLOAD, "selector": {"app": TEXT_PAYLOAD}}
        ],
    )
    sync_run(snapshot=snapshot, status="failed", error=TEXT_PAYLOAD)
    return snapshot


@pytest.mark.parametrize("url", PAGES)
def test_cluster_text_is_escaped_on_every_page(auditor_client, hostile_snapshot, url):
    response = auditor_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert TEXT_PAYLOAD not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page or "&lt;img src=x" in page
