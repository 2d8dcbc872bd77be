"""Input order never matters (Istio sorts configs itself): property-style, seeded shuffles of
a mixed mesh must give the identical posture."""

import random

from policies.engine import evaluate, posture_as_json

from .builders import (
    ROOT,
    deployment,
    destination_rule,
    labelled_namespace,
    mesh_policy,
    peer_auth,
    service,
    workload,
)

STAMPS = ["2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z", None]
MODES = ["STRICT", "PERMISSIVE", "DISABLE", "UNSET", None]


def random_mesh(rng: random.Random) -> list[dict]:
    objects = [
        mesh_policy(rng.choice(MODES), name=f"m{i}", created=rng.choice(STAMPS))
        for i in range(rng.randint(0, 3))
    ]
    for n in range(4):
        ns = f"ns{n}"
        objects.append(labelled_namespace(ns, rng.choice([{}, {"istio-injection": "enabled"}])))
        for i in range(rng.randint(0, 3)):
            objects.append(
                peer_auth(ns, f"p{i}", mode=rng.choice(MODES), created=rng.choice(STAMPS))
            )
        for i in range(rng.randint(0, 4)):
            objects.append(
                peer_auth(
                    ns,
                    f"w{i}",
                    mode=rng.choice(MODES),
                    created=rng.choice(STAMPS),
                    selector={"tier": rng.choice(["a", "b"])},
                    ports=rng.choice(
                        [None, {8080: rng.choice(MODES)}, {"9090": "STRICT", 80: None}]
                    ),
                )
            )
        for i in range(rng.randint(1, 5)):
            name = f"app{i}"
            objects.append(
                deployment(
                    ns,
                    name,
                    labels={"app": name, "tier": rng.choice("ab")},
                    ports=[8080],
                    uid=f"{ns}-{name}",
                )
            )
            objects.append(
                workload(
                    ns,
                    f"{name}-rs",
                    kind="ReplicaSet",
                    uid=f"{ns}-{name}-rs",
                    owner=("Deployment", name),
                    owner_uid=f"{ns}-{name}",
                )
            )
            objects.append(
                workload(
                    ns,
                    f"{name}-pod",
                    kind="Pod",
                    owner=("ReplicaSet", f"{name}-rs"),
                    containers=[{"name": "istio-proxy"}],
                )
            )
            objects.append(service(ns, name))
            if rng.random() < 0.5:
                objects.append(
                    destination_rule(
                        ns, name, name, rng.choice(["ISTIO_MUTUAL", "DISABLE", "SIMPLE", None])
                    )
                )
    objects.append(peer_auth(ROOT, "sel", mode="STRICT", selector={"tier": "a"}))
    return objects


def test_shuffled_input_gives_the_same_posture():
    for seed in range(25):
        rng = random.Random(seed)
        objects = random_mesh(rng)
        expected = posture_as_json(evaluate(objects))
        for _ in range(4):
            shuffled = objects[:]
            rng.shuffle(shuffled)
            assert posture_as_json(evaluate(shuffled)) == expected, f"seed {seed}"


def test_the_random_meshes_exercise_every_level():
    sources = set()
    for seed in range(25):
        posture = evaluate(random_mesh(random.Random(seed)))
        sources.update(str(w.source) for w in posture.workloads)
    assert sources == {"default", "mesh", "namespace", "workload"}
