"""`posture --manifests DIR --format json` as whole processes, beside the floor of reading.

    .venv/bin/python bench/posture_command.py                 # 2,000 namespaces, 30,000 workloads
    .venv/bin/python bench/posture_command.py --scale 0.05    # smaller, for a quick look
    .venv/bin/python bench/posture_command.py --format yaml   # the same mesh as YAML files
    .venv/bin/python bench/posture_command.py --against ../main   # and another checkout's command

Writes bench/engine.py's synthetic mesh at --scale (0.2: 2,000 namespaces, 30,000 workloads,
4,000 PeerAuthentications) to a scratch directory, one file per namespace as `kubectl get -o
json` writes a List (or multi-document YAML with --format yaml), then runs, in turn, --repeat
times each, as separate processes with stdout to /dev/null:

- the floor: a Python process that reads every file of the directory once with the parser
  the command uses for it (`json.loads`; PyYAML's C loader for YAML) and does nothing else;
- the command: `manage.py posture --manifests DIR --format json`;
- with --against CHECKOUT, the same command of that checkout (before a change, say).

It prints the best wall time of each (a shared machine only ever adds time) and the ratio.
Target (issue 13 §5): the command at most 2x the floor. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import synthetic_mesh  # noqa: E402

FLOOR = """
import json, sys
from pathlib import Path
import yaml
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
count = 0
for path in sorted(Path(sys.argv[1]).rglob("*")):
    if path.suffix == ".json":
        count += len(json.loads(path.read_text(encoding="utf-8"))["items"])
    elif path.suffix == ".yaml":
        count += sum(1 for _ in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))
print(count)
"""


def write_mesh(directory: Path, scale: float, fmt: str) -> int:
    """The mesh as one file per namespace; returns the number of objects written."""
    import yaml

    by_namespace: dict[str, list[dict]] = defaultdict(list)
    objects = synthetic_mesh(scale)
    for obj in objects:
        metadata = obj["metadata"]
        by_namespace[metadata.get("namespace") or metadata["name"]].append(obj)
    for namespace, items in by_namespace.items():
        if fmt == "json":
            document = {"apiVersion": "v1", "kind": "List", "items": items}
            (directory / f"{namespace}.json").write_text(json.dumps(document, indent=2))
        else:
            text = yaml.dump_all(items, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
            (directory / f"{namespace}.yaml").write_text(text)
    return len(objects)


def best_wall(command: list[str], repeat: int) -> float:
    best = float("inf")
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=environment)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--against", metavar="CHECKOUT", type=Path, help="also time this checkout's command"
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="meshui-posture-bench-"))
    try:
        count = write_mesh(directory, args.scale, args.format)
        size = sum(path.stat().st_size for path in directory.iterdir())
        print(
            f"{count:,} objects in {len(list(directory.iterdir())):,} {args.format} files "
            f"({size / 1e6:.0f} MB), best of {args.repeat}, whole processes:"
        )
        floor_command = [sys.executable, "-c", FLOOR, str(directory)]
        arguments = ["posture", "--manifests", str(directory), "--format", "json"]
        posture_command = [sys.executable, "manage.py", *arguments]
        floor = command = other = float("inf")
        for _ in range(args.repeat):  # in turn, so a busy moment hits them alike
            floor = min(floor, best_wall(floor_command, 1))
            command = min(command, best_wall(posture_command, 1))
            if args.against:
                manage = str(args.against.resolve() / "manage.py")
                other = min(other, best_wall([sys.executable, manage, *arguments], 1))
        print(f"  floor (read every file once):          {floor:6.2f} s")
        print(f"  posture --manifests DIR --format json:  {command:6.2f} s")
        if args.against:
            print(
                f"  the same, --against's checkout:         {other:6.2f} s  ({other / floor:.2f}x)"
            )
        print(f"  ratio: {command / floor:.2f}x   (target <= 2x)")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
