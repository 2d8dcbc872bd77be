"""Engine input without parsing everything again: for previews on a stored snapshot.

A preview evaluates the mesh twice, as it is and with one change made. The snapshot already
holds every workload's facts, so its workloads are rebuilt as the engine's records directly
(`workload_input_from_facts`), and the changed mesh shares every record with the current one
but the changed policy (`inputs_with_object`). Both are equal to what parse_objects makes of
the corresponding objects (tests/engine/test_incremental.py holds them to it).
"""

from __future__ import annotations

from policies.engine.inputs import (
    DestinationRuleInput,
    Inputs,
    PeerAuthenticationInput,
    WorkloadInput,
    parse_objects,
)


def workload_input_from_facts(
    *,
    namespace: str,
    name: str,
    kind: str,
    pod_labels: dict[str, str],
    container_ports: tuple[int, ...],
    has_sidecar: bool,
    host_network: bool,
) -> WorkloadInput:
    """A workload as a stored snapshot knows it, without a manifest to parse.

    The same record parse_objects makes of a controller whose pods are known: a proxy seen
    (has_sidecar) or admitted pods without one, so the engine takes the sidecar fact as
    stored rather than predicting it. Named container ports are not stored, so a Service's
    named targetPort reaches nothing, as for the objects snapshot_objects rebuilds.
    """
    workload = object.__new__(WorkloadInput)
    workload.namespace = namespace
    workload.name = name
    workload.kind = kind
    workload.labels = pod_labels
    workload.inject_annotation = ""
    workload.container_ports = (
        container_ports if len(container_ports) < 2 else tuple(sorted(set(container_ports)))
    )
    workload.containers = []
    workload.host_network = host_network
    workload.has_proxy = has_sidecar
    workload.pods_admitted = not has_sidecar
    workload.owner = None
    workload.uid = ""
    return workload


CHANGEABLE_KINDS = frozenset({"PeerAuthentication", "DestinationRule"})


def inputs_with_object(
    inputs: Inputs, root_namespace: str, *, replace: tuple[str, str, str], manifest: dict | None
) -> Inputs:
    """`inputs` with one PeerAuthentication or DestinationRule replaced, added or removed.

    `replace` is its (kind, namespace, name); `manifest` the object as it would then be read
    (None: deleted). Only that object is parsed: the rest, workloads included, is shared
    with `inputs`, which stays as it was. The result equals parse_objects of the objects
    with the same change made.
    """
    kind, namespace, name = replace
    if kind not in CHANGEABLE_KINDS:
        raise ValueError(f"only {sorted(CHANGEABLE_KINDS)} can be changed in place, not {kind}")
    changed = Inputs()
    changed.namespaces = dict(inputs.namespaces)
    changed.workloads = inputs.workloads
    changed.services = inputs.services
    changed.object_counts = dict(inputs.object_counts)
    changed.malformed = [
        entry for entry in inputs.malformed if entry[:3] != (kind, namespace, name)
    ]
    is_kind = PeerAuthenticationInput if kind == "PeerAuthentication" else DestinationRuleInput
    kept_policies = [
        policy
        for policy in inputs.peer_authentications
        if not (
            is_kind is PeerAuthenticationInput
            and (policy.namespace, policy.name) == (namespace, name)
        )
    ]
    kept_rules = [
        rule
        for rule in inputs.destination_rules
        if not (
            is_kind is DestinationRuleInput and (rule.namespace, rule.name) == (namespace, name)
        )
    ]
    removed = (
        (len(inputs.peer_authentications) - len(kept_policies))
        + (len(inputs.destination_rules) - len(kept_rules))
        + (len(inputs.malformed) - len(changed.malformed))
    )
    if removed:
        changed.object_counts[kind] -= removed
        if not changed.object_counts[kind]:
            del changed.object_counts[kind]
    changed.peer_authentications = kept_policies
    changed.destination_rules = kept_rules
    if manifest is not None:
        parsed = parse_objects([manifest], root_namespace)
        for name_of, namespace_input in parsed.namespaces.items():
            if name_of not in changed.namespaces:
                changed.namespaces[name_of] = namespace_input
        changed.peer_authentications = kept_policies + parsed.peer_authentications
        changed.destination_rules = kept_rules + parsed.destination_rules
        changed.malformed += parsed.malformed
        for counted, number in parsed.object_counts.items():
            changed.object_counts[counted] = changed.object_counts.get(counted, 0) + number
    return changed
