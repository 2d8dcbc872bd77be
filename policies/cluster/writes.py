"""Writes (PeerAuthentication and DestinationRule only): server-side apply and delete.

Apply is server-side apply as field manager "meshui"; a delete carries the resourceVersion the
person saw as a precondition, and deleting what is already gone is success.
"""

from __future__ import annotations

from kubernetes import client as k8s

from policies.cluster.client import _call, api_client
from policies.cluster.errors import Invalid, NotFound
from policies.cluster.reads import _writable

FIELD_MANAGER = "meshui"
APPLY_PATCH_CONTENT_TYPE = "application/apply-patch+yaml"


def object_apply(manifest: dict, *, dry_run: bool = False, force: bool = False) -> dict:
    """Server-side apply `manifest` as field manager "meshui"; returns the object as stored.

    With dry_run the cluster validates and admits it (CRD schema, CEL rules, webhooks) and
    returns the result without persisting. force takes over fields owned by other managers.
    """
    client = api_client()
    kind = manifest.get("kind", "")
    metadata = manifest.get("metadata") or {}
    namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
    if not namespace or not name:
        raise Invalid(f"A {kind or 'manifest'} needs metadata.namespace and metadata.name.")
    group, version, plural = _writable(kind, client, manifest.get("apiVersion"))
    # _preload_content=False: an apply that creates answers 201, for which the generated
    # client has no response type and would return None instead of the object.
    return _call(
        f"{'checking' if dry_run else 'applying'} {kind} {namespace}/{name}",
        k8s.CustomObjectsApi(client).patch_namespaced_custom_object,
        group,
        version,
        namespace,
        plural,
        name,
        manifest,
        field_manager=FIELD_MANAGER,
        force=True if force else None,
        dry_run="All" if dry_run else None,
        _content_type=APPLY_PATCH_CONTENT_TYPE,
    )


def object_delete(
    kind: str, namespace: str, name: str, *, resource_version: str, dry_run: bool = False
) -> dict | None:
    """Delete the object if it is still at `resource_version`; already gone is success.

    A newer resourceVersion on the cluster raises Conflict: someone changed it since.
    """
    client = api_client()
    group, version, plural = _writable(kind, client)
    options = k8s.V1DeleteOptions(
        preconditions=k8s.V1Preconditions(resource_version=resource_version or None),
        dry_run=["All"] if dry_run else None,
    )
    try:
        return _call(
            f"{'checking the delete of' if dry_run else 'deleting'} {kind} {namespace}/{name}",
            k8s.CustomObjectsApi(client).delete_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            name,
            body=options,
            dry_run="All" if dry_run else None,
        )
    except NotFound:
        return None
