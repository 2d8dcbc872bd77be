"""Where a registered cluster's credentials come from: one vocabulary for the gateway (which
connects with them), the Cluster model (which stores where they are) and the forms."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SOURCE_KUBECONFIG = "kubeconfig"
SOURCE_TOKEN = "token"  # noqa: S105 (a kind of credential, not one)
SOURCE_REMOTE_SECRET = "remote_secret"  # noqa: S105
CONNECTION_SOURCES = (SOURCE_KUBECONFIG, SOURCE_TOKEN, SOURCE_REMOTE_SECRET)

# Cluster names: what Istio accepts as a cluster ID in a remote secret's key and what a URL
# carries in ?cluster=, without quoting.
CLUSTER_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
# The query parameter that picks the cluster a page shows, read for every page
# (policies/middleware_fleet.py), and its value that asks for every cluster at once.
CLUSTER_PARAMETER = "cluster"
ALL_CLUSTERS = "all"


def credential_path_problem(path: str, allowed_dirs: Iterable[str]) -> str:
    """'' when `path` is a file inside one of `allowed_dirs` (MESHUI_CLUSTER_CREDENTIAL_DIRS)
    once every symlink and `..` is resolved, else why not, in words. Without this an admin
    could name any file meshui can read (its own service-account token, say) as a cluster's
    token and have meshui send it to a server of their choosing."""
    if not Path(path).is_file():
        return f"No file at {path} (is it mounted?)."
    resolved = Path(path).resolve()
    allowed = [Path(directory).expanduser().resolve() for directory in allowed_dirs]
    if any(resolved.is_relative_to(directory) for directory in allowed):
        return ""
    where = ", ".join(str(directory) for directory in allowed) or "none are set"
    through = f" (it resolves to {resolved})" if resolved != Path(path).absolute() else ""
    return (
        f"{path} is outside the directories meshui reads cluster credentials from{through}: "
        f"{where}. Put the file in one of them, or have the operator add its directory to "
        "MESHUI_CLUSTER_CREDENTIAL_DIRS."
    )
