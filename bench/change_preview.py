"""What the impact preview of one change costs on big meshes (pure engine, no database).

    .venv/bin/python bench/change_preview.py                 # 1,000 and 10,000 namespaces
    .venv/bin/python bench/change_preview.py --namespaces 2000 --workloads 15

    .venv/bin/python bench/change_preview.py --snapshot      # the preview service on a stored
                                                             # 10,000-namespace snapshot (SQLite)

A preview evaluates the mesh twice (as it is, and with the change applied) and diffs the two
postures (policies/engine/impact.py). This builds a mesh of N namespaces with W workloads
each (a third without sidecars), switches one namespace to STRICT and prints the time of
each step in milliseconds (median of --repeat runs). With --snapshot it stores a big snapshot
and times the preview service itself, which evaluates only the namespace a change touches
(plus the root namespace), against a mesh-wide change, which evaluates everything: the
first one builds the snapshot's engine input from its rows and keeps it with its posture;
the next ones reuse both and resolve only the changed mesh (issue 13 §5: under 3 s).
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policies.engine import evaluate  # noqa: E402
from policies.engine.impact import objects_with_applied, posture_impact  # noqa: E402
from policies.gc_pause import gc_paused  # noqa: E402

SIDECAR = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'}


def mesh(namespaces: int, workloads: int) -> list[dict]:
    objects: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "istio-system"},
            "spec": {"mtls": {"mode": "PERMISSIVE"}},
        },
    ]
    for n in range(namespaces):
        name = f"ns-{n:05d}"
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        if n % 3 == 0:
            objects.append(
                {
                    "apiVersion": "security.istio.io/v1",
                    "kind": "PeerAuthentication",
                    "metadata": {"name": "default", "namespace": name},
                    "spec": {"mtls": {"mode": "STRICT"}},
                }
            )
        for w in range(workloads):
            app = f"app-{w:02d}"
            template = {
                "metadata": {"labels": {"app": app}, "annotations": {} if w % 3 == 0 else SIDECAR},
                "spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]},
            }
            objects.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": app, "namespace": name},
                    "spec": {"selector": {"matchLabels": {"app": app}}, "template": template},
                }
            )
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": app, "namespace": name},
                    "spec": {"selector": {"app": app}, "ports": [{"port": 80}]},
                }
            )
    return objects


def timed(function, repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def evaluate_paused(objects: list[dict]):
    with gc_paused():
        return evaluate(objects, root_namespace="istio-system")


def run(namespaces: int, workloads: int, repeat: int) -> None:
    objects = mesh(namespaces, workloads)
    change = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {
            "name": "default",
            "namespace": "ns-00001",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    # Paused around each evaluation, as a caller of the engine on a large mesh runs it.
    before_ms, before = timed(lambda: evaluate_paused(objects), repeat)
    apply_ms, changed = timed(lambda: objects_with_applied(objects, change), repeat)
    after_ms, after = timed(lambda: evaluate_paused(changed), repeat)
    diff_ms, impact = timed(lambda: posture_impact(before, after), repeat)
    total = before_ms + apply_ms + after_ms + diff_ms
    print(
        f"{namespaces:>6} namespaces x {workloads} workloads ({len(objects):,} objects): "
        f"evaluate {before_ms:8.0f} ms, apply {apply_ms:5.0f} ms, evaluate again "
        f"{after_ms:8.0f} ms, diff {diff_ms:5.0f} ms -> preview {total:8.0f} ms "
        f"({len(impact.workload_changes)} workloads change, "
        f"{impact.plaintext_callers_total:,} potential plaintext callers)"
    )


def run_service(namespaces: int, workloads: int, repeat: int) -> None:
    import os
    import tempfile
    import warnings

    warnings.filterwarnings("ignore", message="No directory at")
    folder = tempfile.TemporaryDirectory(prefix="meshui-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder.name}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")
    os.environ.pop("MESHUI_TEST_DB_NAME", None)
    import django

    django.setup()
    from django.core.management import call_command

    from policies.services import changes
    from tests.factories import large_snapshot

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    snapshot = large_snapshot(namespaces=namespaces, workloads_per_namespace=workloads)
    print(
        f"stored a snapshot of {snapshot.namespaces_total:,} namespaces and "
        f"{snapshot.workloads_total:,} workloads in {time.perf_counter() - started:.1f} s"
    )
    one = changes.namespace_mode_plan(namespace="ns-00001", mode="STRICT")
    mesh_wide = changes.peer_authentication_plan(
        scope="mesh", namespace="", name="default", spec={"mtls": {"mode": "STRICT"}}
    )
    for label, plan, runs in (
        ("one namespace", one, repeat),
        ("mesh-wide, first", mesh_wide, 1),  # builds and keeps the snapshot's input
        ("mesh-wide, next", mesh_wide, repeat),  # reuses it, as later previews do
    ):
        took, (impact, _note) = timed(lambda plan=plan: changes.impact_of(plan), runs)
        print(
            f"preview service, {label:<17} {took:8.0f} ms "
            f"({len(impact.workload_changes):,} workloads change, "
            f"{impact.plaintext_callers_total:,} potential plaintext callers)"
        )
    folder.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--workloads", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--snapshot", action="store_true", help="time the preview service")
    args = parser.parse_args()
    if args.snapshot:
        run_service(max(args.namespaces), args.workloads, args.repeat)
        return
    for namespaces in args.namespaces:
        run(namespaces, args.workloads, args.repeat)


if __name__ == "__main__":
    main()
