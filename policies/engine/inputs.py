"""Parse raw API dicts once into the engine's working records.

Objects from files and from the cluster have the same shape (camelCase, as `kubectl get -o
json` prints them), so this is the only place that knows where a field lives. Malformed
objects never raise: a field of the wrong type reads as absent, because one odd object in a
cluster export must not hide the posture of everything else; an object that cannot be read
at all is left out and named in `Inputs.malformed`.

Owned objects fold into their top controller present in the input (Deployment ← ReplicaSet
← Pod, CronJob ← Job ← Pod); an object whose owner is absent stands for itself. Folded pods
still supply sidecar facts (an injected `istio-proxy` container, the injector's status
annotation, or admitted pods without either), because a live cluster's Deployment template
does not show the injection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from policies.engine.model import Mode

WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
)
PEER_AUTHENTICATION_GROUP = "security.istio.io/"
DESTINATION_RULE_GROUP = "networking.istio.io/"
DEFAULT_NAMESPACE = "default"
CLUSTER_DOMAIN = "svc.cluster.local"

_MODES = {"STRICT": Mode.STRICT, "PERMISSIVE": Mode.PERMISSIVE, "DISABLE": Mode.DISABLE}
_EMPTY: dict[str, Any] = {}
# A policy without creationTimestamp sorts before every policy that has one (Go's zero time).
MISSING_TIME_KEY = (0, 0.0)


class _MalformedObject(ValueError):
    """An object Istio could not decode either; the message says what is wrong, for people."""


def _istio_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """An Istio object's spec: absent reads as empty, but anything other than a mapping is
    an object istiod cannot decode and ignores, so it must not count as an empty policy."""
    spec = obj.get("spec")
    if spec is None:
        return _EMPTY
    if type(spec) is not dict:
        words = {str: "string", list: "list", bool: "boolean", int: "number", float: "number"}
        raise _MalformedObject(f"`spec` is a {words.get(type(spec), 'value')}, not an object")
    return spec


def mapping(value: Any) -> dict[str, Any]:
    """`value` when it is a dict, else an empty dict (malformed fields read as absent)."""
    return value if type(value) is dict else _EMPTY


def string_map(value: Any) -> dict[str, str]:
    """Labels and annotations as str → str; YAML booleans and numbers become their text."""
    if type(value) is not dict or not value:
        return {}
    try:
        # str.join refuses anything but text: a C-speed check that every value is a str.
        # (Keys are always hashable, and non-text keys simply never match a selector.)
        "".join(value.values())
        return value
    except TypeError:
        pass
    return {str(k): _label_text(v) for k, v in value.items()}


def _label_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def timestamp_text(value: Any) -> str:
    """creationTimestamp as RFC 3339 text; a datetime (from a YAML or client layer) is converted."""
    if type(value) is str:
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return ""


def time_key(created: Any) -> tuple[int, float]:
    """A sortable key for `metadata.creationTimestamp` (RFC 3339); missing sorts oldest."""
    if not created or type(created) is not str:
        return MISSING_TIME_KEY
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return MISSING_TIME_KEY
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (1, moment.timestamp())


def parse_mode(value: Any) -> tuple[Mode, str]:
    """The Mode for a `mode` field and, when it is not a known mode, the text that was there."""
    if value is None or value == "" or value == "UNSET":
        return Mode.UNSET, ""
    mode = _MODES.get(value) if type(value) is str else None
    if mode is None:
        return Mode.UNSET, str(value)
    return mode, ""


class NamespaceInput:
    """A namespace (declared or only named by an object) and its labels."""

    __slots__ = ("name", "labels", "declared")

    def __init__(self, name: str, labels: dict[str, str], declared: bool) -> None:
        self.name = name
        self.labels = labels
        self.declared = declared


class PeerAuthenticationInput:
    """A PeerAuthentication with its selector, modes and competition key parsed."""

    __slots__ = (
        "namespace",
        "name",
        "api_version",
        "created",
        "sort_key",
        "selector",
        "mode",
        "invalid_mode",
        "port_modes",
        "invalid_ports",
        "resource_version",
        "uid",
        "manifest",
    )

    def __init__(self, obj: dict[str, Any], metadata: dict[str, Any], namespace: str) -> None:
        spec = _istio_spec(obj)
        self.namespace = namespace
        self.name = metadata["name"]
        self.api_version = str(obj.get("apiVersion") or "")
        created = timestamp_text(metadata.get("creationTimestamp"))
        self.created = created
        self.selector = string_map(mapping(spec.get("selector")).get("matchLabels"))
        self.mode, self.invalid_mode = parse_mode(mapping(spec.get("mtls")).get("mode"))
        # Istio's order: oldest first, then name, then namespace. The last two entries only
        # make the order total when the same object appears twice in one input.
        self.sort_key = (time_key(created), self.name, namespace, str(self.mode), self.api_version)
        self.port_modes: dict[int, Mode] = {}
        self.invalid_ports: list[str] = []
        port_level = spec.get("portLevelMtls")
        if type(port_level) is dict:
            for key, port_mtls in port_level.items():
                port = port_number(key)
                if port is None:
                    self.invalid_ports.append(_shown_key(key))
                    continue
                self.port_modes[port] = parse_mode(mapping(port_mtls).get("mode"))[0]
        self.resource_version = str(metadata.get("resourceVersion") or "")
        self.uid = str(metadata.get("uid") or "")
        self.manifest = obj


def port_number(key: Any) -> int | None:
    """The port a `portLevelMtls` key names (an int, or ASCII digits), None if it is no port.

    Strings are read as the API server reads them: "²" or "٨٠" (which str.isdigit() accepts)
    and a 5,000-digit number (which int() refuses) are no ports, and 0 or 65536 neither.
    """
    # The CRD's JSON form has string keys; YAML gives ints. Anything else is not a port.
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        number = key
    elif isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 5:
        number = int(key)
    else:
        return None
    return number if 1 <= number <= 65535 else None


def _shown_key(key: Any) -> str:
    # Findings quote the keys that are no ports; keep a very long one readable.
    text = str(key)
    return text if len(text) <= 20 else f"{text[:20]}…"


class DestinationRuleInput:
    """A DestinationRule: its host, visibility, workloadSelector and client TLS settings.

    TLS is read as Istio's ClientTLSSettings: a `tls` block without a mode is DISABLE (the
    enum's zero value); no block at all leaves the choice to auto mTLS (`tls_mode` ""). A
    `portLevelSettings` entry replaces the whole policy for its Service port, so an entry
    without `tls` means auto mTLS on that port (pilot/pkg/networking/util
    GetPortLevelTrafficPolicy: the first entry for a port wins).
    """

    __slots__ = (
        "namespace",
        "name",
        "api_version",
        "host",
        "fqdn",
        "export_to",
        "selector",
        "has_traffic_policy",
        "tls_mode",
        "port_tls",
        "created",
        "sort_key",
        "resource_version",
        "uid",
        "manifest",
    )

    def __init__(self, obj: dict[str, Any], metadata: dict[str, Any], namespace: str) -> None:
        spec = _istio_spec(obj)
        self.namespace = namespace
        self.name = metadata["name"]
        self.api_version = str(obj.get("apiVersion") or "")
        host = spec.get("host")
        self.host = host.strip().lower() if type(host) is str else ""
        self.fqdn = resolve_short_host(self.host, namespace)
        export_to = spec.get("exportTo")
        self.export_to: frozenset[str] = (
            frozenset(entry for entry in export_to if type(entry) is str)
            if type(export_to) is list
            else frozenset()
        )
        selector = spec.get("workloadSelector")
        # A workloadSelector that is present selects, even with no labels (it is non-nil).
        self.selector: dict[str, str] | None = (
            string_map(selector.get("matchLabels")) if type(selector) is dict else None
        )
        traffic_policy = spec.get("trafficPolicy")
        self.has_traffic_policy = type(traffic_policy) is dict
        traffic_policy = mapping(traffic_policy)
        self.tls_mode = _client_tls_mode(traffic_policy.get("tls"))
        self.port_tls: dict[int, str] = {}
        port_level = traffic_policy.get("portLevelSettings")
        if type(port_level) is list:
            for setting in port_level:
                setting = mapping(setting)
                number = mapping(setting.get("port")).get("number")
                if type(number) is int and number not in self.port_tls:
                    self.port_tls[number] = _client_tls_mode(setting.get("tls"))
        created = timestamp_text(metadata.get("creationTimestamp"))
        self.created = created
        # Istio's order (push_context.go sortConfigBySelectorAndCreationTime): rules with a
        # workloadSelector first, then oldest, then name, then namespace.
        self.sort_key = (self.selector is None, time_key(created), self.name, namespace)
        self.resource_version = str(metadata.get("resourceVersion") or "")
        self.uid = str(metadata.get("uid") or "")
        self.manifest = obj

    def tls_for_port(self, port: int) -> tuple[str, bool]:
        """The TLS mode clients use on this Service port ("" = auto), and if a port entry set it."""
        if port in self.port_tls:
            return self.port_tls[port], True
        return self.tls_mode, False


def _client_tls_mode(tls: Any) -> str:
    if type(tls) is not dict:
        return ""
    mode = tls.get("mode")
    if mode is None or mode == "":
        return "DISABLE"  # ClientTLSSettings.TLSmode's zero value
    return mode if type(mode) is str else str(mode)


def resolve_short_host(host: str, namespace: str) -> str:
    """A DestinationRule host as Istio resolves it (model.ResolveShortnameToFQDN).

    `*` and any host with a dot are taken as written; a short name is completed with the
    rule's namespace and the cluster domain, so `NAME.NS` is not completed.
    """
    if not host or host == "*" or "." in host or ":" in host:
        return host
    return f"{host}.{namespace}.{CLUSTER_DOMAIN}"


class ServiceInput:
    """A Service's selector and ports, and its host as clients name it."""

    __slots__ = ("namespace", "name", "fqdn", "selector", "ports")

    def __init__(self, obj: dict[str, Any], metadata: dict[str, Any], namespace: str) -> None:
        spec = mapping(obj.get("spec"))
        self.namespace = namespace
        self.name = metadata["name"]
        self.fqdn = f"{self.name}.{namespace}.{CLUSTER_DOMAIN}"
        self.selector = string_map(spec.get("selector"))
        ports = spec.get("ports")
        self.ports = ports if type(ports) is list else []


class WorkloadInput:
    """A workload's pod template facts: labels, container ports and sidecar hints.

    `has_proxy` is evidence that a sidecar runs (an `istio-proxy` container or the
    injector's status annotation, on the template or on any of its pods); `pods_admitted`
    says the input holds pods the API server admitted (they have a uid), so a sidecar
    missing from all of them is evidence too: the injector did not run for them.
    """

    __slots__ = (
        "namespace",
        "name",
        "kind",
        "labels",
        "inject_annotation",
        "container_ports",
        "containers",
        "host_network",
        "has_proxy",
        "pods_admitted",
        "owner",
        "uid",
    )

    def __init__(self, kind: str, obj: dict[str, Any], metadata: dict[str, Any], namespace: str):
        # The hot path of a 150,000-pod cluster: plain lookups, no helper calls per field.
        if kind == "Pod":
            template = obj
        else:
            spec = obj.get("spec")
            if type(spec) is not dict:
                spec = _EMPTY
            if kind == "CronJob":
                job = spec.get("jobTemplate")
                spec = job.get("spec") if type(job) is dict else None
                if type(spec) is not dict:
                    spec = _EMPTY
            template = spec.get("template")
            if type(template) is not dict:
                template = _EMPTY
        template_meta = template.get("metadata")
        if type(template_meta) is not dict:
            template_meta = _EMPTY
        pod_spec = template.get("spec")
        if type(pod_spec) is not dict:
            pod_spec = _EMPTY
        self.namespace = namespace
        self.name = metadata["name"]
        self.kind = kind
        labels = template_meta.get("labels")
        if type(labels) is dict and labels:
            try:
                # string_map's C-speed check, inlined: one call fewer per workload.
                "".join(labels.values())
            except TypeError:
                labels = string_map(labels)
            self.labels = labels
        else:
            self.labels = {}
        # Only two annotations matter: the injector's status (it ran) and the opt-out.
        annotations = template_meta.get("annotations")
        if type(annotations) is dict and annotations:
            has_proxy = "sidecar.istio.io/status" in annotations
            inject = annotations.get("sidecar.istio.io/inject")
            self.inject_annotation = (
                inject if type(inject) is str else "" if inject is None else _label_text(inject)
            )
        else:
            has_proxy = False
            self.inject_annotation = ""
        ports: list[int] = []
        containers = pod_spec.get("containers")
        # Kept as read: only a Service's named targetPort needs the port names (port_named).
        self.containers = containers
        self.host_network = pod_spec.get("hostNetwork") is True
        if type(containers) is list:
            for container in containers:
                if type(container) is not dict:
                    continue
                if container.get("name") == "istio-proxy":
                    has_proxy = True
                container_ports = container.get("ports")
                if type(container_ports) is list:
                    for port in container_ports:
                        number = port.get("containerPort") if type(port) is dict else None
                        if type(number) is int:
                            ports.append(number)
        init_containers = pod_spec.get("initContainers")
        if type(init_containers) is list:
            # Native sidecars (Istio 1.27+ on Kubernetes 1.29+) are init containers.
            for container in init_containers:
                if type(container) is dict and container.get("name") == "istio-proxy":
                    has_proxy = True
        if len(ports) == 2:
            # The common multi-port case, without building a set and a sorted list.
            first, second = ports
            self.container_ports = (
                (first, second)
                if first < second
                else (second, first)
                if second < first
                else (first,)
            )
        else:
            self.container_ports = tuple(sorted(set(ports))) if len(ports) > 1 else tuple(ports)
        self.has_proxy = has_proxy
        self.owner: tuple[str, str, str] | None = (
            _controller_owner(metadata) if "ownerReferences" in metadata else None
        )
        uid = metadata.get("uid")
        self.uid = uid if type(uid) is str else ""
        self.pods_admitted = kind == "Pod" and bool(self.uid)

    def port_named(self, name: str) -> int | None:
        """The container port number declared under `name` (a Service's named targetPort)."""
        containers = self.containers
        if type(containers) is not list:
            return None
        for container in containers:
            if type(container) is not dict or type(container.get("ports")) is not list:
                continue
            for port in container["ports"]:
                if type(port) is dict and port.get("name") == name:
                    number = port.get("containerPort")
                    return number if type(number) is int else None
        return None


def _controller_owner(metadata: dict[str, Any]) -> tuple[str, str, str] | None:
    references = metadata.get("ownerReferences")
    if type(references) is not list:
        return None
    for reference in references:
        if type(reference) is dict and reference.get("controller") is True:
            return (
                str(reference.get("uid") or ""),
                str(reference.get("kind") or ""),
                str(reference.get("name") or ""),
            )
    return None


class Inputs:
    """Everything the engine reads, parsed once and folded."""

    __slots__ = (
        "namespaces",
        "workloads",
        "peer_authentications",
        "destination_rules",
        "services",
        "object_counts",
        "malformed",
    )

    def __init__(self) -> None:
        self.namespaces: dict[str, NamespaceInput] = {}
        self.workloads: list[WorkloadInput] = []
        self.peer_authentications: list[PeerAuthenticationInput] = []
        self.destination_rules: list[DestinationRuleInput] = []
        self.services: list[ServiceInput] = []
        self.object_counts: dict[str, int] = {}
        # (kind, namespace, name, problem) of each object left out because it cannot be read.
        self.malformed: list[tuple[str, str, str, str]] = []


def parse_objects(objects: Any, root_namespace: str) -> Inputs:
    """Parse raw API dicts into Inputs; unknown kinds and objects without a name are skipped."""
    inputs = Inputs()
    counts = inputs.object_counts
    namespaces = inputs.namespaces
    named_namespaces: set[str] = {root_namespace}
    workload_objects: list[WorkloadInput] = []
    for obj in objects:
        if type(obj) is not dict:
            continue
        kind = obj.get("kind")
        if type(kind) is not str:
            continue
        metadata = obj.get("metadata")
        if type(metadata) is not dict:
            continue
        name = metadata.get("name")
        if type(name) is not str or not name:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "Namespace":
            namespaces[name] = NamespaceInput(name, string_map(metadata.get("labels")), True)
            continue
        namespace = metadata.get("namespace")
        if type(namespace) is not str or not namespace:
            namespace = DEFAULT_NAMESPACE
        try:
            if kind in WORKLOAD_KINDS:
                workload_objects.append(WorkloadInput(kind, obj, metadata, namespace))
            elif kind == "PeerAuthentication":
                if not str(obj.get("apiVersion") or "").startswith(PEER_AUTHENTICATION_GROUP):
                    continue
                policy = PeerAuthenticationInput(obj, metadata, namespace)
                inputs.peer_authentications.append(policy)
            elif kind == "DestinationRule":
                if not str(obj.get("apiVersion") or "").startswith(DESTINATION_RULE_GROUP):
                    continue
                inputs.destination_rules.append(DestinationRuleInput(obj, metadata, namespace))
            elif kind == "Service":
                inputs.services.append(ServiceInput(obj, metadata, namespace))
            else:
                continue
        except (TypeError, ValueError, RecursionError) as error:
            # An Istio object istiod cannot decode (_MalformedObject), or a value Python cannot
            # handle (a number too long to print, from a Python caller): one such object must
            # not sink every other, nor count as a policy.
            problem = str(error).partition(";")[0]
            if not isinstance(error, _MalformedObject):
                problem = f"{type(error).__name__}: {problem}"
            inputs.malformed.append((kind, namespace, name, problem))
        named_namespaces.add(namespace)
    inputs.peer_authentications = _one_per_name(inputs.peer_authentications)
    for name in named_namespaces:
        if name not in namespaces:
            namespaces[name] = NamespaceInput(name, {}, False)
    inputs.workloads = fold_owned_workloads(workload_objects)
    return inputs


def _one_per_name(policies: list[PeerAuthenticationInput]) -> list[PeerAuthenticationInput]:
    # A cluster holds one object per namespace/name; manifests may repeat one (a v1 and a
    # v1beta1 copy, say). Keep the first in Istio's order so the choice ignores input order.
    kept: dict[tuple[str, str], PeerAuthenticationInput] = {}
    for policy in policies:
        key = (policy.namespace, policy.name)
        seen = kept.get(key)
        if seen is None or policy.sort_key < seen.sort_key:
            kept[key] = policy
    return list(kept.values()) if len(kept) < len(policies) else policies


def fold_owned_workloads(workloads: list[WorkloadInput]) -> list[WorkloadInput]:
    """Keep top-level workloads; owned ones lend their sidecar facts to their top owner."""
    owned: list[WorkloadInput] = []
    top: list[WorkloadInput] = []
    for workload in workloads:
        if workload.owner is None:
            top.append(workload)
        else:
            owned.append(workload)
    if not owned:
        return top
    # The indexes are only needed when something is owned; manifests on disk often own
    # nothing, and skipping them saves a tuple and two dict entries per workload.
    by_uid: dict[str, WorkloadInput] = {}
    by_name: dict[tuple[str, str, str], WorkloadInput] = {}
    for workload in workloads:
        by_name[(workload.namespace, workload.kind, workload.name)] = workload
        if workload.uid:
            by_uid[workload.uid] = workload

    def owner_of(workload: WorkloadInput) -> WorkloadInput | None:
        """The controller named by the owner reference, by uid, else by kind and name."""
        uid, kind, name = workload.owner  # type: ignore[misc]
        candidate = by_uid.get(uid) if uid else None
        if candidate is None:
            candidate = by_name.get((workload.namespace, kind, name))
        return candidate

    top_of: dict[int, WorkloadInput] = {}
    for workload in owned:
        chain = [workload]
        current = workload
        seen = {id(workload)}
        while current.owner is not None:
            known = top_of.get(id(current))
            if known is not None:
                current = known
                break
            parent = owner_of(current)
            if parent is None or id(parent) in seen:
                break
            seen.add(id(parent))
            chain.append(parent)
            current = parent
        for link in chain:
            top_of[id(link)] = current
    for workload in workloads:
        if workload.owner is None:
            continue
        root = top_of[id(workload)]
        if root is workload:
            top.append(workload)
            continue
        if workload.has_proxy:
            root.has_proxy = True
        if workload.pods_admitted:
            root.pods_admitted = True
    return top
