"""devcluster: an in-memory Kubernetes API server double with Istio's CRDs.

It answers the official `kubernetes` client and `kubectl` over real HTTP the way
kube-apiserver does for the calls meshui makes (see devcluster/README.md).

In-process::

    from devcluster import DevCluster
    with DevCluster() as cluster:            # 127.0.0.1, a free port
        cluster.url, cluster.kubeconfig      # "http://127.0.0.1:PORT", a kubeconfig Path
        cluster.seed([namespace, policy])    # no HTTP; creationTimestamp honoured
        cluster.objects("PeerAuthentication", "shop")
        cluster.inject_fault(429, verb="list", resource="pods", retry_after=2)
        cluster.requests[-1].json()          # the request as sent

As a command: `python -m devcluster serve --port 0 [--seed DIR] [--kubeconfig-out FILE]`.
In tests: the `devcluster` and `devcluster_kubeconfig` fixtures of `devcluster.pytest_plugin`.
"""

from .cluster import DevCluster, kubeconfig_text, kubectl_last_applied
from .server import RecordedRequest

__all__ = ["DevCluster", "RecordedRequest", "kubeconfig_text", "kubectl_last_applied"]
