"""Layering rules from STYLE.md, checked on every run by import-linter (pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lint_imports():
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(command), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_every_import_contract_is_kept(lint_imports):
    assert lint_imports.returncode == 0, lint_imports.stdout + lint_imports.stderr
    assert "0 broken" in lint_imports.stdout


@pytest.mark.parametrize(
    "contract",
    [
        "The policy engine is pure: no Django, Kubernetes client, Celery or Redis",
        "Policy ownership is pure: no Django, Kubernetes client, Celery or Redis",
        "Only the gateway (policies.cluster) imports the Kubernetes client",
        "Layers: views, forms and services, selectors, models and gateway, engine",
        "The product never imports the Kubernetes API server double (devcluster)",
        "The product never imports the demo Prometheus (devprometheus)",
        "Only the Prometheus gateway (policies.prometheus) imports httpx",
    ],
)
def test_contract_is_declared_and_kept(lint_imports, contract):
    assert f"{contract} KEPT" in lint_imports.stdout, lint_imports.stdout


UNTYPED_VIEW_MODULES: set[str] = set()


def test_every_view_declares_the_request_it_takes():
    import ast

    untyped = [
        f"{path.name}:{node.name}"
        for path in sorted((ROOT / "policies" / "views").glob("*.py"))
        if path.name not in UNTYPED_VIEW_MODULES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
        and node.args.args
        and node.args.args[0].arg == "request"
        and node.args.args[0].annotation is None
    ]
    assert untyped == []
