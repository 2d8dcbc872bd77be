"""A delete's preview shows what is deleted and what is lost, and its button looks destructive
(issue 15: the heading stood empty and the button looked like any other)."""

from tests.changes.conftest import half_done_pair, resync, seed_policy


def test_delete_preview_shows_the_object_and_what_is_lost_with_a_danger_button(client, mesh, users):
    stored = seed_policy(mesh, namespace="shop", mode="STRICT")
    resync()
    client.force_login(users["admin"])
    form = client.get("/changes/PeerAuthentication/shop/default/delete/").content.decode()
    assert 'class="danger-outline"' in form and "Preview the delete" in form
    page = client.post(
        "/changes/PeerAuthentication/shop/default/delete/",
        {"resource_version": stored["metadata"]["resourceVersion"], "reason": "INC-3 cleanup"},
    ).content.decode()
    what = page[page.index("What is deleted") :]
    assert 'id="delete-loss"' in what
    assert "removes mode STRICT for namespace shop (it is namespace-wide)" in what
    assert "kind: PeerAuthentication" in what and "mode: STRICT" in what
    assert (
        '<button type="submit" class="danger" name="confirm" value="1" id="confirm-change">'
        "Delete PeerAuthentication shop/default</button>"
    ) in page
    assert mesh.get("PeerAuthentication", "shop", "default") is not None


def test_destination_rule_delete_says_clients_fall_back(client, mesh, users):
    half_done_pair(mesh, users)  # leaves shop/cart applied; add its rule by hand
    mesh.seed(
        [
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": {"name": "cart-mtls", "namespace": "shop"},
                "spec": {
                    "host": "cart.shop.svc.cluster.local",
                    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
                },
            }
        ]
    )
    resync()
    rule = mesh.get("DestinationRule", "shop", "cart-mtls")
    client.force_login(users["admin"])
    page = client.post(
        "/changes/DestinationRule/shop/cart-mtls/delete/",
        {"resource_version": rule["metadata"]["resourceVersion"], "reason": "INC-3"},
    ).content.decode()
    assert "removes its traffic policy (ISTIO_MUTUAL) for host cart.shop.svc.cluster.local" in page
    assert "host: cart.shop.svc.cluster.local" in page
