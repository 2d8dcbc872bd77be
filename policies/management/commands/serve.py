"""Run meshui on its embedded default: SQLite, migrations applied, the development server.

With no cluster configured (no MESHUI_KUBECONFIG, not running in a pod) it starts the
Kubernetes API server double as a demo cluster seeded with a sample mesh, so a newcomer sees
a working meshui with data; the header and the terminal say it is a demo.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import close_old_connections, connection
from django.utils import timezone

from policies.cluster import forget_clients, in_cluster
from policies.cluster.errors import ClusterError
from policies.cluster_sources import SOURCE_KUBECONFIG
from policies.management.base import MeshuiCommand
from policies.management.commands.sync_cluster import sync_summary
from policies.roles import Role
from policies.selectors.fleet import fleet_members, fleet_scope
from policies.services.accounts import password_change_required_clear
from policies.services.demo_history import DAYS as DEMO_DAYS
from policies.services.demo_history import (
    DEMO_MARK,
    demo_history_wanted,
    demo_history_write,
)
from policies.services.fleet import ClusterSpec, cluster_register
from policies.services.sync import cluster_sync

DEMO_SEED = Path(settings.BASE_DIR) / "devcluster" / "seeds" / "demo"
DEMO_KUBECONFIG = Path(settings.BASE_DIR) / "var" / "demo-kubeconfig"
# The demo fleet's second cluster (MESHUI_DEMO_FLEET, on in `make run`): the demo mesh and
# one deliberate difference (devcluster/seeds/demo-west/), registered as "demo-west".
DEMO_WEST_SEEDS = (DEMO_SEED, Path(settings.BASE_DIR) / "devcluster" / "seeds" / "demo-west")
# In var/clusters, one of MESHUI_CLUSTER_CREDENTIAL_DIRS by default.
DEMO_WEST_KUBECONFIG = Path(settings.BASE_DIR) / "var" / "clusters" / "demo-west-kubeconfig"
DEMO_WEST_NAME = "demo-west"
DEMO_START_SECONDS = 30
# How long stopping serve waits for its background threads to finish what they are doing.
THREAD_STOP_SECONDS = 10
# Registered clusters synced at once by `serve` without Redis (a worker pool does it with).
FLEET_THREADS = 4

logger = logging.getLogger(__name__)


class DemoProcess:
    """A demo helper in a child process that prints its URL as its first line."""

    what = ""
    hint = ""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.url = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> str:
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            self.command(),
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        first_line: queue.Queue[str] = queue.Queue()

        def read_output() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                if first_line.empty() and line.strip():
                    first_line.put(line.strip())
            first_line.put("")

        threading.Thread(target=read_output, name=f"{self.what}-output", daemon=True).start()
        try:
            self.url = first_line.get(timeout=DEMO_START_SECONDS)
        except queue.Empty:
            self.url = ""
        if not self.url.startswith("http"):
            said = self.url
            self.stop()
            self.url = ""
            return self.not_started(said)
        return self.url

    def not_started(self, said: str) -> str:
        raise CommandError(
            f"The {self.what} did not start" + (f": {said}" if said else ".") + self.hint
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


class DemoCluster(DemoProcess):
    """The API server double in a child process, seeded with the demo mesh."""

    what = "demo cluster (python -m devcluster serve)"
    hint = " Set MESHUI_KUBECONFIG to use a real cluster instead."

    def __init__(
        self, *, seeds: tuple[Path, ...] = (DEMO_SEED,), kubeconfig: Path = DEMO_KUBECONFIG
    ) -> None:
        super().__init__()
        self.seeds = seeds
        self.kubeconfig = kubeconfig

    def command(self) -> list[str]:
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        return [
            sys.executable,
            "-m",
            "devcluster",
            "serve",
            "--port",
            "0",
            *(argument for seed in self.seeds for argument in ("--seed", str(seed))),
            "--kubeconfig-out",
            str(self.kubeconfig),
        ]


class DemoPrometheus(DemoProcess):
    """A real Prometheus on loopback holding the demo mesh's traffic (Debian's package); the
    demo runs without traffic data when it is missing."""

    what = "demo Prometheus (python -m devprometheus serve --demo)"

    def command(self) -> list[str]:
        cache = Path(settings.BASE_DIR) / "var" / "demo-prometheus"
        return [sys.executable, "-m", "devprometheus", "serve", "--demo", "--cache", str(cache)]

    def not_started(self, said: str) -> str:
        self.reason = said or "it did not start"
        return ""


def demo_west_register() -> None:
    """Register the demo fleet's second cluster once (its kubeconfig file is rewritten on
    every start, so the registration stays right)."""
    from policies.models import Cluster

    if Cluster.objects.filter(name=DEMO_WEST_NAME).exists():
        Cluster.objects.filter(name=DEMO_WEST_NAME).update(
            removed_at=None, kubeconfig=str(DEMO_WEST_KUBECONFIG)
        )
        return
    cluster_register(
        user=None,
        spec=ClusterSpec(
            name=DEMO_WEST_NAME, source=SOURCE_KUBECONFIG, kubeconfig=str(DEMO_WEST_KUBECONFIG)
        ),
    )


def demo_logins() -> list[tuple[str, str, str]]:
    """One demo account per role, named after it; returns (username, password, role).

    New accounts come from `createuser` (the one way meshui makes logins); existing demo
    accounts get a fresh password, since the last one was only ever printed.
    """
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    logins = []
    for role in (Role.ADMIN, Role.ONCALL, Role.AUDITOR):
        user = user_model.objects.filter(username=role.value).first()
        if user is None:
            output = io.StringIO()
            call_command("createuser", role.value, role=role.value, stdout=output)
            password = re.search(r"One-time password: (\S+)", output.getvalue()).group(1)
            # The demo prints new passwords on every start anyway: asking for one of the
            # user's own at the first login would only stand between a newcomer and the demo.
            password_change_required_clear(user=user_model.objects.get(username=role.value))
        else:
            password = secrets.token_urlsafe(15)
            user.set_password(password)
            user.save(update_fields=["password"])
        logins.append((role.value, password, role.value))
    return logins


def periodic_sync(stop: threading.Event, interval: float) -> None:
    """Sync every `interval` seconds in this process (the embedded default has no beat), and
    each registered cluster of the fleet when its own interval is due, in threads of their
    own so a cluster that does not answer holds up only itself."""
    from policies.selectors.fleet import FLEET_SCHEDULE_SECONDS, fleet_syncs_due
    from policies.tasks import sync_cluster

    def sync_one(cluster_id: int | None) -> None:
        try:
            sync_cluster.apply(kwargs={"trigger": "schedule", "cluster_id": cluster_id})
        finally:
            close_old_connections()

    next_configured = time.monotonic() + interval
    with ThreadPoolExecutor(max_workers=FLEET_THREADS, thread_name_prefix="meshui-fleet") as pool:
        running: dict[int, Future] = {}
        while not stop.wait(min(interval, FLEET_SCHEDULE_SECONDS)):
            if time.monotonic() >= next_configured:
                next_configured = time.monotonic() + interval
                sync_one(None)
            try:
                due = fleet_syncs_due()
            finally:
                close_old_connections()
            for cluster_id in due:
                if cluster_id not in running or running[cluster_id].done():
                    running[cluster_id] = pool.submit(sync_one, cluster_id)


def periodic_traffic_read(stop: threading.Event, interval: float) -> None:
    """Read traffic from Prometheus every `interval` seconds (no beat without Redis)."""
    from policies.tasks import traffic_read

    while not stop.wait(interval):
        try:
            traffic_read.apply(kwargs={"trigger": "schedule"})
        finally:
            close_old_connections()


def timed_restore_sweeper(stop: threading.Event, interval: float) -> None:
    """Run due timed restores in this process, as beat's sweep does with Redis: at once (a
    restore may have fallen due while meshui was stopped), then every `interval` seconds, or
    sooner when a restore falls due first, until `stop` is set."""
    from policies.selectors.restores import timed_restore_next_due_at
    from policies.services.changes import timed_restores_sweep

    try:
        while not stop.is_set():
            wait = interval
            try:
                timed_restores_sweep()
                next_due = timed_restore_next_due_at()
                until_due = (next_due - timezone.now()).total_seconds() if next_due else 0
                if until_due > 0:
                    wait = min(interval, until_due)
            except Exception:  # a database hiccup must not end the sweeps for good
                logger.exception("the timed restore sweep failed; trying again in %s s", interval)
            finally:
                close_old_connections()
            stop.wait(wait)
    finally:
        connection.close()  # this thread's own connection


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)


class Command(MeshuiCommand):
    help = (
        "Apply migrations and serve meshui on http://127.0.0.1:8000 (the README's run "
        "command). Without MESHUI_KUBECONFIG it starts a seeded demo cluster."
    )

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument(
            "--no-runserver",
            action="store_true",
            help="prepare (migrate, demo cluster, first sync) and exit; for tests and scripts",
        )
        parser.add_argument(
            "--no-demo-history",
            action="store_true",
            help="start the demo cluster without its made-up month of snapshots and changes",
        )

    def handle(
        self, *args, addrport: str, no_runserver: bool, no_demo_history: bool = False, **options
    ):
        call_command("migrate", verbosity=0, interactive=False)
        demo = None
        demo_prometheus = None
        saved = {
            name: getattr(settings, name)
            for name in (
                "MESHUI_KUBECONFIG",
                "MESHUI_DEMO_CLUSTER",
                "MESHUI_CLUSTER_NAME",
                "MESHUI_PROMETHEUS_URL",
            )
        }
        demo_fleet: list[DemoCluster] = []
        if not settings.MESHUI_KUBECONFIG and not in_cluster():
            demo = DemoCluster()
            url = demo.start()
            # Asked before the demo fleet registers its second cluster (an audit entry).
            history_wanted = not no_demo_history and demo_history_wanted()
            settings.MESHUI_KUBECONFIG = os.environ["MESHUI_KUBECONFIG"] = str(DEMO_KUBECONFIG)
            settings.MESHUI_DEMO_CLUSTER = True
            os.environ["MESHUI_DEMO_CLUSTER"] = "1"
            settings.MESHUI_CLUSTER_NAME = settings.MESHUI_CLUSTER_NAME or "demo"
            forget_clients()
            self.stdout.write(
                self.style.WARNING(
                    f"meshui: DEMO CLUSTER at {url} (a built-in test API server seeded with a "
                    "sample mesh; set MESHUI_KUBECONFIG to use a real cluster)."
                )
            )
            if not settings.MESHUI_PROMETHEUS_URL:
                demo_prometheus = DemoPrometheus()
                prometheus_url = demo_prometheus.start()
                if prometheus_url:
                    settings.MESHUI_PROMETHEUS_URL = prometheus_url
                    os.environ["MESHUI_PROMETHEUS_URL"] = prometheus_url
                    self.stdout.write(
                        f"meshui: DEMO TRAFFIC from a Prometheus at {prometheus_url} "
                        "(Debian's prometheus, backfilled with the demo mesh's traffic)."
                    )
                else:
                    self.stdout.write(
                        "meshui: traffic data is off in this demo "
                        f"({demo_prometheus.reason}; `make prometheus` installs Debian's "
                        "prometheus), so readiness for STRICT is not shown."
                    )
                    demo_prometheus = None
            if settings.MESHUI_DEMO_FLEET:
                DEMO_WEST_KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
                west = DemoCluster(seeds=DEMO_WEST_SEEDS, kubeconfig=DEMO_WEST_KUBECONFIG)
                demo_fleet.append(west)
                west_url = west.start()
                demo_west_register()
                self.stdout.write(
                    self.style.WARNING(
                        f"meshui: DEMO FLEET: a second demo cluster, {DEMO_WEST_NAME}, at "
                        f"{west_url} (payments differs: see Clusters)."
                    )
                )
            self.stdout.write("meshui: demo logins (new passwords on every start):")
            logins = demo_logins()
            for username, password, role in logins:
                self.stdout.write(f"    {username:<8} {password}    ({role})")
            if history_wanted:
                self._demo_history([username for username, _password, _role in logins])
        stop = threading.Event()
        threads: list[threading.Thread] = []
        previous_sigterm = None
        if threading.current_thread() is threading.main_thread():
            # `kill` / a container stop: unwind through `finally` so the demo cluster stops too.
            previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            self._first_sync()
            self._first_traffic_read()
            if not settings.REDIS_URL:
                # No broker, so no worker nor beat: this process syncs and runs timed
                # restores itself (a restore that silently waits is the worst failure).
                threads = [
                    threading.Thread(
                        target=periodic_sync,
                        args=(stop, float(settings.MESHUI_SYNC_INTERVAL)),
                        name="meshui-periodic-sync",
                        daemon=True,
                    ),
                    threading.Thread(
                        target=timed_restore_sweeper,
                        args=(stop, float(settings.MESHUI_RESTORE_SWEEP_INTERVAL)),
                        name="meshui-timed-restores",
                        daemon=True,
                    ),
                ]
                if settings.MESHUI_PROMETHEUS_URL:
                    threads.append(
                        threading.Thread(
                            target=periodic_traffic_read,
                            args=(stop, float(settings.MESHUI_TRAFFIC_INTERVAL)),
                            name="meshui-traffic-read",
                            daemon=True,
                        )
                    )
                for thread in threads:
                    thread.start()
                self.stdout.write(
                    f"meshui: no REDIS_URL, syncing in this process every "
                    f"{settings.MESHUI_SYNC_INTERVAL} s and running timed restores when due "
                    f"(looking every {settings.MESHUI_RESTORE_SWEEP_INTERVAL} s)."
                )
            else:
                self.stdout.write(
                    "meshui: REDIS_URL is set; a Celery worker and beat keep the data current "
                    "and run timed restores."
                )
            if no_runserver:
                return
            self.stdout.write(f"meshui: serving on http://{addrport}/")
            call_command("runserver", addrport, use_reloader=False)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=THREAD_STOP_SECONDS)
            if previous_sigterm is not None:
                signal.signal(signal.SIGTERM, previous_sigterm)
            if demo_prometheus is not None:
                demo_prometheus.stop()
            for west in demo_fleet:
                west.stop()
            if demo is not None:
                demo.stop()
                for name, value in saved.items():
                    setattr(settings, name, value)
                forget_clients()

    def _first_traffic_read(self) -> None:
        from policies.services.traffic import traffic_read

        read = traffic_read(trigger="startup")
        if read is not None and read.status != read.Status.SUCCEEDED:
            self.stderr.write(f"meshui: the first traffic read failed: {read.error}")

    def _demo_history(self, usernames: list[str]) -> None:
        """A month of snapshots and changes before today, made by meshui's own services."""
        from django.contrib.auth import get_user_model

        users = {
            user.username: user for user in get_user_model().objects.filter(username__in=usernames)
        }
        try:
            snapshots = demo_history_write(now=timezone.now(), users=users)
        except ClusterError as error:
            self.stderr.write(f"meshui: the demo history could not be written: {error.summary}")
            return
        self.stdout.write(
            f"meshui: demo history: {DEMO_DAYS} days, {snapshots} snapshots and their changes "
            f"(their reasons say {DEMO_MARK})."
        )

    def _first_sync(self) -> None:
        self._sync_one(None)
        for member in fleet_members():
            if not member.is_configured:
                self._sync_one(member)

    def _sync_one(self, member) -> None:
        try:
            with fleet_scope(member):
                run = cluster_sync(trigger="startup")
        except ClusterError as error:
            self.stderr.write(f"meshui: the first sync failed: {error.summary}")
            return
        except Exception as error:  # recorded on the run; keep serving the last snapshot
            self.stderr.write(f"meshui: the first sync failed: {type(error).__name__}: {error}")
            return
        self.stdout.write(sync_summary(run))
