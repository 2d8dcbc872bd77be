"""The kubectl command a preview shows can be pasted into a shell: nothing in it runs.

An unquoted heredoc (`<<EOF`) expands `$(...)`, backticks and `$VAR` in the YAML it carries,
and names, labels and reasons come from people and clusters. A quoted one (`<<'EOF'`)
passes every byte through.
"""

from __future__ import annotations

import os
import subprocess

from policies.services.changes import kubectl_apply_command


def test_the_kubectl_heredoc_passes_the_yaml_through_without_running_anything(tmp_path):
    witness = tmp_path / "ran"
    manifest = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {
            "name": "cart",
            "namespace": "shop",
            "labels": {"a": f"$(touch {witness})", "b": f"`touch {witness}`", "c": "$HOME"},
        },
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    command = kubectl_apply_command([manifest])
    assert command.startswith("kubectl apply -f - <<'EOF'\n")
    fake_kubectl = tmp_path / "bin" / "kubectl"
    fake_kubectl.parent.mkdir()
    fake_kubectl.write_text(f'#!/bin/sh\ncat > "{tmp_path / "stdin"}"\n')
    fake_kubectl.chmod(0o755)
    subprocess.run(
        ["/bin/bash", "-c", command],
        env={**os.environ, "PATH": f"{fake_kubectl.parent}:{os.environ['PATH']}"},
        check=True,
        timeout=30,
    )
    assert not witness.exists()
    received = (tmp_path / "stdin").read_text()
    assert f"$(touch {witness})" in received and "$HOME" in received
    assert received + "EOF" == command.split("\n", 1)[1]
