"""What the README says about running meshui holds: `make run` takes another address and
port and runs Django's development server; docker compose and deploy/ run gunicorn."""

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_make_run_serves_on_the_address_and_port_asked_for():
    dry = subprocess.run(
        ["make", "-n", "run", "ADDRPORT=0.0.0.0:8080"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "manage.py serve --addrport 0.0.0.0:8080" in dry
    default = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "manage.py serve --addrport 127.0.0.1:8000" in default


def test_serve_uses_the_development_server():
    serve = (ROOT / "policies" / "management" / "commands" / "serve.py").read_text()
    assert 'call_command("runserver", addrport' in serve


def test_docker_compose_and_deploy_run_gunicorn():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "gunicorn" in " ".join(compose["services"]["web"]["command"])
    deployments = [
        doc for doc in yaml.safe_load_all((ROOT / "deploy" / "meshui.yaml").read_text()) if doc
    ]
    web = next(
        d for d in deployments if d["kind"] == "Deployment" and "web" in d["metadata"]["name"]
    )
    assert web["spec"]["template"]["spec"]["containers"][0]["command"][0] == "gunicorn"


def test_readme_says_how_to_run_elsewhere_and_with_which_server():
    readme = (ROOT / "README.md").read_text()
    assert "make run ADDRPORT=0.0.0.0:8080" in readme
    assert "Django's development" in readme and "run **gunicorn**" in readme
