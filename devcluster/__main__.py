"""`python -m devcluster serve --port 0 [--seed DIR]... [--kubeconfig-out FILE] [--token T]`."""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from .cluster import kubeconfig_text
from .errors import ApiError
from .server import DevClusterServer

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_manifests(directory: Path) -> list[dict[str, Any]]:
    """Every object in the YAML/JSON files under `directory` (List kinds unpacked)."""
    objects: list[dict[str, Any]] = []
    files = sorted(
        p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
    )
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            documents = (
                [json.loads(text)]
                if path.suffix == ".json"
                else list(yaml.load_all(text, Loader=_LOADER))
            )
        except (ValueError, yaml.YAMLError) as error:
            raise SystemExit(f"devcluster: cannot parse {path}: {error}") from error
        for document in documents:
            if not isinstance(document, dict):
                continue
            if document.get("kind", "").endswith("List") and isinstance(
                document.get("items"), list
            ):
                objects.extend(item for item in document["items"] if isinstance(item, dict))
            else:
                objects.append(document)
    return objects


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devcluster",
        description="An in-memory Kubernetes API server with Istio's CRDs, for tests and demos.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve until SIGTERM or Ctrl-C")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    serve.add_argument(
        "--seed",
        type=Path,
        action="append",
        default=[],
        help="directory of YAML/JSON manifests to create (repeatable, in order)",
    )
    serve.add_argument("--kubeconfig-out", type=Path, help="write a kubeconfig for the server here")
    serve.add_argument("--token", help="require this bearer token on every request")
    serve.add_argument(
        "--crd", type=Path, action="append", default=[], help="extra CRD file (repeatable)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if not 0 <= arguments.port <= 65535:
        print(f"devcluster: --port must be 0-65535, not {arguments.port}", file=sys.stderr)
        return 2
    for seed in arguments.seed:
        if not seed.is_dir():
            print(f"devcluster: --seed {seed} is not a directory", file=sys.stderr)
            return 2
    for crd in arguments.crd:
        if not crd.is_file():
            print(f"devcluster: --crd {crd} does not exist", file=sys.stderr)
            return 2
    crd_files = None
    if arguments.crd:
        from .resources import default_crd_files

        crd_files = default_crd_files() + list(arguments.crd)
    try:
        server = DevClusterServer(port=arguments.port, crd_files=crd_files, token=arguments.token)
    except OSError as error:
        print(
            f"devcluster: cannot listen on 127.0.0.1:{arguments.port}: {error.strerror}",
            file=sys.stderr,
        )
        return 1
    for seed in arguments.seed:
        try:
            server.state.seed(read_manifests(seed))
        except ApiError as error:
            print(f"devcluster: seeding {seed} failed: {error.message}", file=sys.stderr)
            return 1
        # The seed lives until the server stops: keep the cyclic GC from rescanning it on
        # every page served (a Python cost kube-apiserver does not have).
        gc.collect()
        gc.freeze()
    if arguments.kubeconfig_out is not None:
        arguments.kubeconfig_out.write_text(kubeconfig_text(server.url, arguments.token))
        arguments.kubeconfig_out.chmod(0o600)
    print(server.url, flush=True)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
