"""Long codes may wrap after each underscore (a <wbr>), and the filter never lets markup in."""

from django.template import Context, Template


def render(value) -> str:
    return Template("{% load posture_display %}{{ value|wrap_underscores }}").render(
        Context({"value": value})
    )


def test_codes_get_a_break_opportunity_after_each_underscore():
    assert render("STRICT_WITHOUT_SIDECAR") == "STRICT_<wbr>WITHOUT_<wbr>SIDECAR"
    assert render("MESH") == "MESH"


def test_wrapping_escapes_everything_else():
    assert render('<img src=x onerror="alert(1)">_a') == (
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;_<wbr>a"
    )


def test_finding_codes_in_tables_carry_the_break_opportunities(auditor_client, db):
    from tests.factories import snapshot_with, sync_run

    sync_run(
        snapshot=snapshot_with(
            namespaces=["shop"], findings=[{"namespace": "shop", "code": "STRICT_WITHOUT_SIDECAR"}]
        )
    )
    for url in ("/findings/", "/"):
        page = auditor_client.get(url).content.decode()
        assert "<code>STRICT_<wbr>WITHOUT_<wbr>SIDECAR</code>" in page
