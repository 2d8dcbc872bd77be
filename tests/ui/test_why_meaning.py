""" "Why this mode?" says what the mode means for traffic and who enforces it, on the
namespace and workload pages (issue 15)."""

from tests.ui.test_pages import mesh, text  # noqa: F401


def test_namespace_page_says_what_its_mode_means_and_who_enforces_it(auditor_client, mesh):  # noqa: F811
    page = text(auditor_client.get("/namespaces/shop/"))
    assert 'class="why-meaning"' in page
    assert "STRICT: only mutual TLS is accepted; plaintext connections are refused." in page
    assert "Each workload&#x27;s own proxy enforces it: its sidecar for" in page
    assert "Nobody enforces it for the 1 without a sidecar or ambient mode" in page


def test_workload_with_a_sidecar_is_enforced_by_it(auditor_client, mesh):  # noqa: F811
    page = text(auditor_client.get("/namespaces/shop/workloads/Deployment/cart/"))
    assert "Its Istio sidecar enforces this on every connection the workload receives." in page


def test_strict_workload_without_a_sidecar_says_nobody_enforces_it(auditor_client, mesh):  # noqa: F811
    page = text(auditor_client.get("/namespaces/shop/workloads/Deployment/legacy/"))
    assert "Nobody enforces it" in page
