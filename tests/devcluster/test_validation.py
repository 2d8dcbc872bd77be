"""Validation on every write: pruning, fieldValidation, the CRD schema, CEL rules, names."""

from __future__ import annotations

from .builders import (
    DR_GROUP,
    DR_PLURAL,
    PA_GROUP,
    PA_PLURAL,
    destination_rule,
    failure,
    peer_auth,
    pod,
)


def test_an_unsupported_mode_is_422_in_the_crds_own_words(custom, devcluster):
    status, body = failure(
        custom.create_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        peer_auth("default", mode="NOPE"),
    )
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["message"] == (
        'PeerAuthentication.security.istio.io "default" is invalid: spec.mtls.mode: Unsupported '
        'value: "NOPE": supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT"'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "NOPE": supported values: "UNSET", "DISABLE", '
            '"PERMISSIVE", "STRICT"',
            "field": "spec.mtls.mode",
        }
    ]
    assert devcluster.objects("PeerAuthentication") == []


def test_cel_rule_port_level_mtls_requires_a_selector(custom):
    status, body = failure(
        custom.create_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        peer_auth("default", port_modes={8080: "DISABLE"}),
    )
    assert status == 422
    assert {
        "reason": "FieldValueInvalid",
        "field": "spec",
        "message": 'Invalid value: "object": portLevelMtls requires selector',
    } in body["details"]["causes"]


def test_cel_rule_ports_must_be_in_range(custom):
    body = peer_auth("default", selector={"app": "web"}, port_modes={70000: "DISABLE"})
    status, status_body = failure(
        custom.create_namespaced_custom_object, PA_GROUP, "v1", "default", PA_PLURAL, body
    )
    assert status == 422
    assert status_body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.portLevelMtls",
            "message": 'Invalid value: "object": port must be between 1-65535',
        }
    ]


def test_cel_rule_wildcards_are_refused_in_selector_values(custom):
    body = peer_auth("default", selector={"app": "web*"})
    _, status_body = failure(
        custom.create_namespaced_custom_object, PA_GROUP, "v1", "default", PA_PLURAL, body
    )
    assert status_body["details"]["causes"][0]["message"] == (
        'Invalid value: "string": wildcard not allowed in label value match'
    )
    assert status_body["details"]["causes"][0]["field"] == "spec.selector.matchLabels[app]"


def test_a_valid_workload_policy_with_port_modes_is_accepted(custom):
    body = peer_auth("default", "web", selector={"app": "web"}, port_modes={8080: "DISABLE"})
    created = custom.create_namespaced_custom_object(PA_GROUP, "v1", "default", PA_PLURAL, body)
    assert created["spec"]["portLevelMtls"] == {"8080": {"mode": "DISABLE"}}


def test_destination_rule_schema_types_and_required_fields_are_enforced(custom):
    body = destination_rule("default", "web", host="web.default.svc.cluster.local")
    del body["spec"]["host"]
    body["spec"]["trafficPolicy"]["connectionPool"] = {"tcp": {"maxConnections": "many"}}
    status, status_body = failure(
        custom.create_namespaced_custom_object, DR_GROUP, "v1", "default", DR_PLURAL, body
    )
    assert status == 422
    causes = {c["field"]: c for c in status_body["details"]["causes"]}
    assert causes["spec.host"]["reason"] == "FieldValueRequired"
    assert causes["spec.trafficPolicy.connectionPool.tcp.maxConnections"]["message"] == (
        'Invalid value: "string": spec.trafficPolicy.connectionPool.tcp.maxConnections in body '
        'must be of type integer: "string"'
    )


def test_destination_rule_duration_rules_run_through_cel(custom):
    body = destination_rule("default", "web", host="web")
    body["spec"]["trafficPolicy"]["connectionPool"] = {"tcp": {"connectTimeout": "0.1ms"}}
    _, status_body = failure(
        custom.create_namespaced_custom_object, DR_GROUP, "v1", "default", DR_PLURAL, body
    )
    assert status_body["details"]["causes"][0]["field"] == (
        "spec.trafficPolicy.connectionPool.tcp.connectTimeout"
    )


def test_object_names_must_be_dns_1123_subdomains(custom):
    status, body = failure(
        custom.create_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        peer_auth("default", "Bad_Name"),
    )
    assert status == 422
    cause = body["details"]["causes"][0]
    assert cause["field"] == "metadata.name"
    assert cause["message"].startswith('Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')


def test_namespace_names_must_be_dns_1123_labels(core):
    status, body = failure(core.create_namespace, {"metadata": {"name": "a.b"}})
    assert status == 422
    assert "a lowercase RFC 1123 label" in body["message"]


def test_label_values_are_validated_on_built_in_kinds_too(core):
    status, body = failure(
        core.create_namespaced_pod, "default", pod("default", "web", app="not valid!")
    )
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "metadata.labels"


def test_unknown_fields_are_pruned_with_a_warning_by_default(custom, devcluster, api_client):
    body = peer_auth("default")
    body["spec"]["mtlsMode"] = "STRICT"
    response = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, body, _preload_content=False
    )
    assert response.status == 201
    assert response.headers["Warning"] == '299 - "unknown field \\"spec.mtlsMode\\""'
    stored = devcluster.get("PeerAuthentication", "default", "default")
    assert "mtlsMode" not in stored["spec"]


def test_field_validation_ignore_prunes_silently(custom, devcluster):
    body = peer_auth("default")
    body["spec"]["mtlsMode"] = "STRICT"
    response = custom.create_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        body,
        field_validation="Ignore",
        _preload_content=False,
    )
    assert "Warning" not in response.headers
    assert "mtlsMode" not in devcluster.get("PeerAuthentication", "default", "default")["spec"]


def test_field_validation_strict_refuses_unknown_fields_like_the_apiserver(custom, devcluster):
    body = peer_auth("default")
    body["spec"]["mtlsMode"] = "STRICT"
    status, status_body = failure(
        custom.create_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        body,
        field_validation="Strict",
    )
    # kube-apiserver answers a strict decoding error with 400 BadRequest, not 422.
    assert status == 400
    assert status_body["message"] == (
        'PeerAuthentication in version "v1" cannot be handled as a PeerAuthentication: strict '
        'decoding error: unknown field "spec.mtlsMode"'
    )
    assert devcluster.objects("PeerAuthentication") == []


def test_dry_run_create_validates_and_stores_nothing(custom, devcluster):
    before = devcluster.resource_version
    answered = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("default"), dry_run="All"
    )
    assert answered["metadata"]["uid"]
    assert "resourceVersion" not in answered["metadata"]
    assert devcluster.objects("PeerAuthentication") == []
    assert devcluster.resource_version == before
    status, _ = failure(
        custom.create_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        peer_auth("default", mode="NOPE"),
        dry_run="All",
    )
    assert status == 422


def test_an_unknown_dry_run_value_is_400(custom):
    status, body = failure(
        custom.create_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        peer_auth("default"),
        dry_run="Yes",
    )
    assert status == 400
    assert body["message"] == 'Invalid dry run value: "Yes"'


def test_updates_are_validated_too(custom):
    created = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("default")
    )
    created["spec"]["mtls"]["mode"] = "NOPE"
    status, _ = failure(
        custom.replace_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        created,
    )
    assert status == 422
