"""Where a registered cluster's credentials come from: one vocabulary for the gateway (which
connects with them), the Cluster model (which stores where they are) and the forms."""

SOURCE_KUBECONFIG = "kubeconfig"
SOURCE_TOKEN = "token"  # noqa: S105 (a kind of credential, not one)
SOURCE_REMOTE_SECRET = "remote_secret"  # noqa: S105
CONNECTION_SOURCES = (SOURCE_KUBECONFIG, SOURCE_TOKEN, SOURCE_REMOTE_SECRET)

# Cluster names: what Istio accepts as a cluster ID in a remote secret's key and what a URL
# carries in ?cluster=, without quoting.
CLUSTER_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
# ?cluster= value that asks for every cluster of the fleet at once.
ALL_CLUSTERS = "all"
