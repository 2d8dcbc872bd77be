"""Who owns a PeerAuthentication's mode: one table, one case per rule of
policies.ownership.policy_ownership (managedFields, Argo CD tracking, Flux labels, Helm)."""

from __future__ import annotations

import pytest

from policies.ownership import (
    DEFAULT_RECONCILER_MANAGERS,
    OwnerKind,
    PolicyOwnership,
    policy_ownership,
)

MODE = {"f:spec": {"f:mtls": {"f:mode": {}}}}
CREATED_MODE = {"f:spec": {".": {}, "f:mtls": {".": {}, "f:mode": {}}}}
MAPS_ONLY = {"f:spec": {".": {}, "f:mtls": {}}}
JUNE = "2025-06-01T09:00:00Z"
JULY = "2025-07-01T09:00:00Z"


def entry(manager: str, *, operation: str = "Update", time: str = JUNE, fields=None) -> dict:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "security.istio.io/v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": CREATED_MODE if fields is None else fields,
    }


def policy(*entries: dict, labels=None, annotations=None, mode: str | None = "STRICT") -> dict:
    metadata: dict = {"name": "default", "namespace": "shop"}
    if entries:
        metadata["managedFields"] = list(entries)
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    spec = {"mtls": {"mode": mode}} if mode else {}
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": metadata,
        "spec": spec,
    }


ARGO_TRACKING = {
    "argocd.argoproj.io/tracking-id": "shop:security.istio.io/PeerAuthentication:shop/default"
}
FLUX_KUSTOMIZATION = {
    "kustomize.toolkit.fluxcd.io/name": "apps",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}
FLUX_HELM_RELEASE = {
    "helm.toolkit.fluxcd.io/name": "mesh-policies",
    "helm.toolkit.fluxcd.io/namespace": "flux-system",
}
HELM_RELEASE = {"meta.helm.sh/release-name": "shop-mtls", "meta.helm.sh/release-namespace": "shop"}

# (rule, object, expected kind, manager, changed_at, source)
CASES = [
    ("no policy: meshui would create one", None, OwnerKind.NONE, "", "", ""),
    (
        "client-side kubectl apply made it: a person's tool",
        policy(entry("kubectl-client-side-apply")),
        OwnerKind.PERSON,
        "kubectl-client-side-apply",
        JUNE,
        "",
    ),
    (
        "kubectl edit changed the mode last: a person's tool, with the edit's time",
        policy(
            entry("kubectl-client-side-apply", fields=MAPS_ONLY),
            entry("kubectl-edit", time=JULY, fields=MODE),
        ),
        OwnerKind.PERSON,
        "kubectl-edit",
        JULY,
        "",
    ),
    (
        "kubectl apply --server-side is a person's tool too",
        policy(entry("kubectl", operation="Apply", fields=MODE)),
        OwnerKind.PERSON,
        "kubectl",
        JUNE,
        "",
    ),
    (
        "an Update manager meshui does not know (a script) is a person's tool",
        policy(entry("rotate-mtls.sh")),
        OwnerKind.PERSON,
        "rotate-mtls.sh",
        JUNE,
        "",
    ),
    (
        "before-first-apply holds the mode after an apply over an untracked object",
        policy(entry("before-first-apply"), entry("other", operation="Apply", fields={})),
        OwnerKind.PERSON,
        "before-first-apply",
        JUNE,
        "",
    ),
    (
        "no managedFields at all: the first apply meets before-first-apply",
        policy(),
        OwnerKind.PERSON,
        "before-first-apply",
        "",
        "",
    ),
    (
        "meshui's own server-side apply",
        policy(entry("meshui", operation="Apply", fields=MODE)),
        OwnerKind.MESHUI,
        "meshui",
        JUNE,
        "",
    ),
    (
        "meshui sharing the mode with a person's apply: changing it conflicts with them",
        policy(
            entry("meshui", operation="Apply", fields=MODE),
            entry("kubectl", operation="Apply", time=JULY, fields=MODE),
        ),
        OwnerKind.PERSON,
        "kubectl",
        JULY,
        "",
    ),
    (
        "Argo CD's controller applies the mode: a reconciler",
        policy(entry("argocd-controller", operation="Apply", fields=MODE)),
        OwnerKind.RECONCILER,
        "argocd-controller",
        JUNE,
        "",
    ),
    (
        "Argo CD's tracking annotation names its application, whoever set the mode",
        policy(entry("kubectl-client-side-apply"), annotations=ARGO_TRACKING),
        OwnerKind.RECONCILER,
        "kubectl-client-side-apply",
        JUNE,
        "Argo CD application shop",
    ),
    (
        "Argo CD's default tracking label (app.kubernetes.io/instance) names it too",
        policy(
            entry("argocd-application-controller"),
            labels={"app.kubernetes.io/instance": "shop-mesh"},
        ),
        OwnerKind.RECONCILER,
        "argocd-application-controller",
        JUNE,
        "Argo CD application shop-mesh",
    ),
    (
        "Flux's Kustomization labels: kustomize-controller applies it",
        policy(
            entry("kustomize-controller", operation="Apply", fields=MODE), labels=FLUX_KUSTOMIZATION
        ),
        OwnerKind.RECONCILER,
        "kustomize-controller",
        JUNE,
        "Flux Kustomization flux-system/apps",
    ),
    (
        "Flux's HelmRelease labels: helm-controller",
        policy(entry("helm-controller"), labels=FLUX_HELM_RELEASE),
        OwnerKind.RECONCILER,
        "helm-controller",
        JUNE,
        "Flux HelmRelease flux-system/mesh-policies",
    ),
    (
        "Helm's managed-by label and release annotations: helm",
        policy(
            entry("helm"),
            labels={
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/instance": "shop-mtls",
            },
            annotations=HELM_RELEASE,
        ),
        OwnerKind.RECONCILER,
        "helm",
        JUNE,
        "Helm release shop/shop-mtls",
    ),
    (
        "Terraform's kubernetes_manifest applies as Terraform",
        policy(entry("Terraform", operation="Apply", fields=MODE)),
        OwnerKind.RECONCILER,
        "Terraform",
        JUNE,
        "",
    ),
    (
        "a reconciler sharing the mode with a person wins: its change comes back",
        policy(
            entry("kubectl", operation="Apply", time=JULY, fields=MODE),
            entry("argocd-controller", operation="Apply", fields=MODE),
        ),
        OwnerKind.RECONCILER,
        "argocd-controller",
        JUNE,
        "",
    ),
    (
        "no mode set: whoever made the policy's spec",
        policy(entry("kubectl-client-side-apply", fields={"f:spec": {}}), mode=None),
        OwnerKind.PERSON,
        "kubectl-client-side-apply",
        JUNE,
        "",
    ),
]


@pytest.mark.parametrize(
    ("rule", "obj", "kind", "manager", "changed_at", "source"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_policy_ownership(rule, obj, kind, manager, changed_at, source):
    owner = policy_ownership(
        obj, reconciler_managers=DEFAULT_RECONCILER_MANAGERS, own_manager="meshui"
    )
    assert (owner.kind, owner.manager, owner.changed_at, owner.source) == (
        kind,
        manager,
        changed_at,
        source,
    )


def test_the_reconciler_list_decides_which_tools_count():
    helm_made = policy(
        entry("helm"),
        labels={"app.kubernetes.io/managed-by": "Helm"},
        annotations=HELM_RELEASE,
    )
    without_helm = [m for m in DEFAULT_RECONCILER_MANAGERS if m != "helm"]
    owner = policy_ownership(helm_made, reconciler_managers=without_helm, own_manager="meshui")
    assert (owner.kind, owner.manager) == (OwnerKind.PERSON, "helm")
    custom = policy(entry("mesh-operator", operation="Apply", fields=MODE))
    owner = policy_ownership(custom, reconciler_managers=["mesh-operator"], own_manager="meshui")
    assert owner.kind == OwnerKind.RECONCILER


def test_the_default_reconcilers_are_the_well_known_gitops_helm_and_terraform_managers():
    assert set(DEFAULT_RECONCILER_MANAGERS) == {
        "argocd-controller",
        "argocd-application-controller",
        "kustomize-controller",
        "helm-controller",
        "helm",
        "Terraform",
        "HashiCorp",
    }


def test_ownership_round_trips_through_its_stored_form():
    owner = policy_ownership(
        policy(entry("kubectl-client-side-apply")),
        reconciler_managers=DEFAULT_RECONCILER_MANAGERS,
        own_manager="meshui",
    )
    assert PolicyOwnership.from_dict(owner.as_dict()) == owner
    assert PolicyOwnership.from_dict({}) == PolicyOwnership(OwnerKind.NONE)
    assert owner.changed_on == "2025-06-01"
