"""Change forms validate like Istio's CRD (read from crds/) and like Kubernetes' syntax rules."""

import pytest

from policies.forms import peer_authentication_schema as crd
from policies.forms.changes import (
    AuditFilterForm,
    NamespaceModeForm,
    PeerAuthenticationForm,
    form_field_for_path,
)


def pa_form(**data):
    base = {
        "scope": "workload",
        "namespace": "shop",
        "name": "cart",
        "mode": "STRICT",
        "reason": "INC-7",
    }
    return PeerAuthenticationForm({**base, **data}, workload_labels={"cart": {"app": "cart"}})


def test_modes_come_from_the_crd_enum():
    assert crd.mode_choices() == ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
    assert [value for value, _ in PeerAuthenticationForm().fields["mode"].choices] == list(
        crd.mode_choices()
    )


def test_cel_rule_port_level_requires_selector_is_evaluated_from_the_crd():
    problems = crd.spec_problems(
        {"mtls": {"mode": "STRICT"}, "portLevelMtls": {"80": {"mode": "DISABLE"}}}
    )
    assert ("spec", "portLevelMtls requires selector") in problems


def test_cel_rule_port_range_is_evaluated_from_the_crd():
    problems = crd.spec_problems(
        {"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {"70000": {"mode": "STRICT"}}}
    )
    assert ("spec.portLevelMtls", "port must be between 1-65535") in problems


def test_schema_enum_rejects_unknown_mode():
    problems = crd.spec_problems({"mtls": {"mode": "MUTUAL"}})
    assert problems and problems[0][0] == "spec.mtls.mode"


def test_workload_policy_from_a_picked_workload_uses_its_ticked_labels():
    form = pa_form(workload="cart", selector_labels=["app=cart"])
    assert form.is_valid(), form.errors
    assert form.spec() == {"selector": {"matchLabels": {"app": "cart"}}, "mtls": {"mode": "STRICT"}}


def test_typed_match_labels_and_port_modes_build_the_spec():
    form = pa_form(match_labels="app=cart\nversion=v1", port_modes="8080=PERMISSIVE\n9090: disable")
    assert form.is_valid(), form.errors
    assert form.spec()["portLevelMtls"] == {
        "8080": {"mode": "PERMISSIVE"},
        "9090": {"mode": "DISABLE"},
    }
    assert form.spec()["selector"]["matchLabels"] == {"app": "cart", "version": "v1"}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "Cart_Policy", "DNS-1123"),
        ("name", "-cart", "DNS-1123"),
        ("namespace", "shop.prod", "DNS-1123 label"),
        ("match_labels", "app=*", "wildcard not allowed in label value match"),
        ("match_labels", "ap*p=cart", "wildcard not allowed in label key match"),
        ("match_labels", "app=" + "x" * 64, "no more than 63 characters"),
        ("match_labels", "-app=cart", "starting and ending with a letter or digit"),
        ("match_labels", "example.com/=cart", "key must not be empty"),
        ("match_labels", "app", "key=value"),
        ("port_modes", "0=STRICT", "port must be between 1-65535"),
        ("port_modes", "65536=STRICT", "port must be between 1-65535"),
        ("port_modes", "http=STRICT", "port must be between 1-65535"),
        ("port_modes", "8080=MUTUAL", "is not one of"),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message(field, value, words):
    data = {"match_labels": "app=cart", field: value}
    form = pa_form(**data)
    assert not form.is_valid()
    assert words in " ".join(form.errors[field])


def test_prefixed_label_keys_are_valid():
    form = pa_form(match_labels="app.kubernetes.io/name=cart")
    assert form.is_valid(), form.errors


def test_namespace_and_mesh_forms_have_no_selector_or_port_fields():
    # Istio's CRD: portLevelMtls requires a selector; a mesh or namespace policy has none.
    for scope in ("mesh", "namespace"):
        form = PeerAuthenticationForm(initial={"scope": scope})
        assert sorted(name for name in form.fields if name not in ("confirm", "force")) == sorted(
            ["scope", "name", "mode", "reason"] + (["namespace"] if scope == "namespace" else [])
        )
    posted = PeerAuthenticationForm(
        {
            "scope": "namespace",
            "namespace": "shop",
            "name": "default",
            "mode": "STRICT",
            "port_modes": "8080=DISABLE",
            "match_labels": "app=x",
            "reason": "INC-7",
        }
    )
    assert posted.is_valid(), posted.errors
    assert posted.spec() == {"mtls": {"mode": "STRICT"}}  # fields of other scopes are not read


def test_a_picked_workload_offers_its_labels_ticked_and_no_typed_selector():
    form = PeerAuthenticationForm(
        initial={"scope": "workload", "namespace": "shop", "workload": "cart"},
        workload_labels={"cart": {"app": "cart", "version": "v1"}},
    )
    assert "match_labels" not in form.fields
    assert form.fields["selector_labels"].choices == [
        ("app=cart", "app=cart"),
        ("version=v1", "version=v1"),
    ]
    assert form.initial["selector_labels"] == ["app=cart", "version=v1"]
    unticked = pa_form(workload="cart")
    assert not unticked.is_valid()
    assert unticked.errors["selector_labels"] == [
        "Tick at least one label to select the workload by."
    ]


def test_a_label_the_workload_does_not_carry_cannot_be_ticked():
    form = pa_form(workload="cart", selector_labels=["app=other"])
    assert not form.is_valid()
    assert "selector_labels" in form.errors


def test_workload_policy_needs_a_selector():
    form = pa_form()
    assert not form.is_valid()
    assert "A workload policy needs a selector." in form.errors["match_labels"]


def test_unknown_workload_is_refused():
    form = pa_form(workload="ghost")
    assert not form.is_valid()
    assert "No workload 'ghost' in the namespace." in form.non_field_errors()


def test_namespace_toggle_requires_a_reason_and_offers_only_strict_and_permissive():
    form = NamespaceModeForm({"mode": "STRICT", "reason": "   "})
    assert not form.is_valid()
    assert form.errors["reason"]
    assert NamespaceModeForm({"mode": "DISABLE", "reason": "x"}).is_valid() is False
    timed = NamespaceModeForm({"mode": "PERMISSIVE", "reason": "INC-42", "duration_minutes": "120"})
    assert timed.is_valid(), timed.errors
    assert timed.duration.total_seconds() == 7200


def test_api_field_paths_map_to_form_fields():
    form = pa_form()
    assert form_field_for_path("spec.mtls.mode", form) == "mode"
    assert form_field_for_path("spec.selector.matchLabels", form) == "match_labels"
    assert form_field_for_path("spec.portLevelMtls[8080]", form) == "port_modes"
    assert form_field_for_path("metadata.name", form) == "name"
    assert form_field_for_path("spec.somethingElse", form) is None


def test_audit_filter_refuses_an_inverted_date_range():
    form = AuditFilterForm({"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert not form.is_valid()
    assert "before the start date" in form.errors["date_to"][0]
