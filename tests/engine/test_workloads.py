"""Which objects are workloads, how owned objects fold into their top controller, and the
sidecar and ambient facts read from manifests."""

import pytest

from policies.engine import Mode, evaluate

from .builders import (
    deployment,
    labelled_namespace,
    peer_auth,
    workload,
    workload_of,
)


@pytest.mark.parametrize(
    "kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"]
)
def test_every_workload_kind_is_read_with_its_pod_labels_and_ports(kind):
    posture = evaluate(
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            workload("shop", "api", kind=kind, ports=[8080, 9090]),
        ]
    )
    api = workload_of(posture, "shop/api")
    assert (api.kind, api.mode, api.container_ports) == (kind, Mode.STRICT, (8080, 9090))


def test_deployment_replicasets_and_pods_fold_into_one_workload():
    objects = [
        deployment("shop", "api", uid="d1"),
        workload(
            "shop",
            "api-5d9f",
            kind="ReplicaSet",
            owner=("Deployment", "api"),
            owner_uid="d1",
            uid="r1",
        ),
        workload(
            "shop", "api-5d9f-abcde", kind="Pod", owner=("ReplicaSet", "api-5d9f"), owner_uid="r1"
        ),
        workload("shop", "api-5d9f-fghij", kind="Pod", owner=("ReplicaSet", "api-5d9f")),
    ]
    posture = evaluate(objects)
    assert [(w.name, w.kind) for w in posture.workloads] == [("api", "Deployment")]


def test_cronjob_jobs_and_pods_fold_into_the_cronjob():
    objects = [
        workload("ops", "backup", kind="CronJob"),
        workload("ops", "backup-28000", kind="Job", owner=("CronJob", "backup")),
        workload("ops", "backup-28000-x", kind="Pod", owner=("Job", "backup-28000")),
    ]
    assert [(w.name, w.kind) for w in evaluate(objects).workloads] == [("backup", "CronJob")]


def test_object_whose_owner_is_absent_stands_for_itself():
    objects = [
        workload("shop", "api-5d9f", kind="ReplicaSet", owner=("Deployment", "api")),
        workload("shop", "api-5d9f-x", kind="Pod", owner=("ReplicaSet", "api-5d9f")),
        workload("shop", "rollout-pod", kind="Pod", owner=("Rollout", "argo")),
    ]
    assert [(w.name, w.kind) for w in evaluate(objects).workloads] == [
        ("api-5d9f", "ReplicaSet"),
        ("rollout-pod", "Pod"),
    ]


def test_owner_in_another_namespace_does_not_adopt():
    objects = [
        deployment("blog", "api"),
        workload("shop", "api-x", kind="Pod", owner=("Deployment", "api")),
    ]
    assert sorted((w.namespace, w.name) for w in evaluate(objects).workloads) == [
        ("blog", "api"),
        ("shop", "api-x"),
    ]


def test_folded_pods_lend_their_injected_sidecar_to_the_controller():
    objects = [
        deployment("shop", "api"),
        workload(
            "shop",
            "api-x",
            kind="Pod",
            owner=("Deployment", "api"),
            containers=[{"name": "app"}, {"name": "istio-proxy"}],
        ),
        deployment("shop", "cart"),
    ]
    posture = evaluate(objects)
    assert workload_of(posture, "shop/api").has_sidecar
    assert not workload_of(posture, "shop/cart").has_sidecar


INJECTION = [
    ("istio-proxy container", {}, {}, {}, [{"name": "istio-proxy"}], True),
    ("istio-proxy as a native sidecar (initContainers)", {}, {}, {}, "init", True),
    ("injector status annotation", {}, {}, {"sidecar.istio.io/status": "{}"}, None, True),
    ("namespace istio-injection=enabled", {"istio-injection": "enabled"}, {}, {}, None, True),
    ("namespace istio.io/rev", {"istio.io/rev": "canary"}, {}, {}, None, True),
    (
        "namespace enabled, pod label opts out",
        {"istio-injection": "enabled"},
        {"sidecar.istio.io/inject": "false"},
        {},
        None,
        False,
    ),
    (
        "namespace enabled, pod annotation opts out",
        {"istio-injection": "enabled"},
        {},
        {"sidecar.istio.io/inject": "false"},
        None,
        False,
    ),
    (
        "pod label opts in without namespace label",
        {},
        {"sidecar.istio.io/inject": "true"},
        {},
        None,
        True,
    ),
    (
        "pod annotation alone does not opt in (the injector reads the label)",
        {},
        {},
        {"sidecar.istio.io/inject": "true"},
        None,
        False,
    ),
    (
        "pod label opt-in loses to namespace istio-injection=disabled",
        {"istio-injection": "disabled"},
        {"sidecar.istio.io/inject": "true"},
        {},
        None,
        False,
    ),
    ("nothing at all", {}, {}, {}, None, False),
]


@pytest.mark.parametrize(
    ("rule", "ns_labels", "pod_labels", "annotations", "containers", "expected"),
    INJECTION,
    ids=[i[0] for i in INJECTION],
)
def test_sidecar_facts_from_manifests(
    rule, ns_labels, pod_labels, annotations, containers, expected
):
    obj = deployment(
        "shop",
        "api",
        labels={"app": "api", **pod_labels},
        annotations=annotations,
        containers=None if containers == "init" else containers,
    )
    if containers == "init":
        obj["spec"]["template"]["spec"]["initContainers"] = [
            {"name": "istio-proxy", "restartPolicy": "Always"}
        ]
    posture = evaluate([labelled_namespace("shop", ns_labels), obj])
    assert workload_of(posture, "shop/api").has_sidecar is expected


AMBIENT = [
    ("namespace enrolled", {"istio.io/dataplane-mode": "ambient"}, {}, True),
    (
        "namespace enrolled, pod opts out",
        {"istio.io/dataplane-mode": "ambient"},
        {"istio.io/dataplane-mode": "none"},
        False,
    ),
    ("pod enrolled on its own", {}, {"istio.io/dataplane-mode": "ambient"}, True),
    ("not enrolled", {}, {}, False),
    (
        "a pod with a sidecar is not captured by ambient",
        {"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"},
        {},
        False,
    ),
]


@pytest.mark.parametrize(
    ("rule", "ns_labels", "pod_labels", "expected"), AMBIENT, ids=[a[0] for a in AMBIENT]
)
def test_ambient_enrolment(rule, ns_labels, pod_labels, expected):
    posture = evaluate(
        [
            labelled_namespace("shop", ns_labels),
            deployment("shop", "api", labels={"app": "api", **pod_labels}),
        ]
    )
    assert workload_of(posture, "shop/api").ambient is expected


@pytest.mark.parametrize(
    ("labels", "injection"),
    [
        ({"istio-injection": "enabled"}, "enabled"),
        ({"istio-injection": "disabled", "istio.io/rev": "x"}, "disabled"),
        ({"istio.io/rev": "1-24"}, "revision:1-24"),
        ({"istio.io/dataplane-mode": "ambient"}, "ambient"),
        ({}, ""),
    ],
)
def test_namespace_injection_state(labels, injection):
    posture = evaluate([labelled_namespace("shop", labels)])
    assert next(n for n in posture.namespaces if n.name == "shop").injection == injection


def test_yaml_boolean_label_values_match_as_text():
    obj = deployment("shop", "api", labels={"app": "api", "canary": True})
    posture = evaluate([obj, peer_auth("shop", "c", mode="STRICT", selector={"canary": "true"})])
    assert workload_of(posture, "shop/api").mode is Mode.STRICT


def test_workloads_are_sorted_by_namespace_then_name():
    posture = evaluate([deployment("b", "z"), deployment("a", "y"), deployment("b", "a")])
    assert [(w.namespace, w.name) for w in posture.workloads] == [
        ("a", "y"),
        ("b", "a"),
        ("b", "z"),
    ]
