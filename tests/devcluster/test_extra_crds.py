"""Extra CRD files: structural-schema features Istio's CRDs do not exercise, and scope."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from devcluster.resources import default_crd_files

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              owner:
                type: string
                x-kubernetes-validations:
                - rule: self == oldSelf
                  message: owner is immutable
              size: {x-kubernetes-int-or-string: true}
              note: {type: string, nullable: true}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


@pytest.fixture
def widgets(devcluster, tmp_path):
    crd = tmp_path / "widgets.yaml"
    crd.write_text(WIDGET_CRD)
    devcluster.reset(crd_files=[*default_crd_files(), crd])
    yield
    devcluster.reset()


def widget(**spec) -> dict:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": spec,
    }


def create(custom, body, **kwargs):
    return custom.create_cluster_custom_object("example.com", "v1", "widgets", body, **kwargs)


def test_extra_crds_are_served_cluster_scoped(widgets, custom):
    created = create(custom, widget(owner="a", size="50%"))
    assert "namespace" not in created["metadata"]
    assert (
        custom.get_cluster_custom_object("example.com", "v1", "widgets", "w")["spec"]["size"]
        == "50%"
    )


def test_int_or_string_refuses_other_types(widgets, custom):
    with pytest.raises(ApiException) as raised:
        create(custom, widget(size=[1]))
    assert raised.value.status == 422
    assert json.loads(raised.value.body)["details"]["causes"][0]["field"] == "spec.size"


def test_nullable_fields_keep_null_and_others_drop_it(widgets, custom):
    created = create(custom, widget(owner=None, note=None))
    assert created["spec"] == {"note": None}


def test_preserve_unknown_fields_keeps_what_it_holds(widgets, custom):
    created = create(custom, widget(extra={"anything": {"goes": 1}}), field_validation="Strict")
    assert created["spec"]["extra"] == {"anything": {"goes": 1}}


def test_transition_rules_compare_with_the_old_object(widgets, custom):
    created = create(custom, widget(owner="a"))
    created["spec"]["owner"] = "b"
    with pytest.raises(ApiException) as raised:
        custom.replace_cluster_custom_object("example.com", "v1", "widgets", "w", created)
    assert raised.value.status == 422
    assert json.loads(raised.value.body)["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.owner",
            "message": 'Invalid value: "string": owner is immutable',
        }
    ]
    created["spec"]["owner"] = "a"
    created["spec"]["size"] = 3
    updated = custom.replace_cluster_custom_object("example.com", "v1", "widgets", "w", created)
    assert updated["spec"]["size"] == 3
