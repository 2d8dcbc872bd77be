"""Forms of the fleet pages: registering a cluster, and the fleet namespace list's filters."""

from __future__ import annotations

import copy

from django import forms

from policies.cluster_sources import (
    CLUSTER_NAME_PATTERN,
    SOURCE_KUBECONFIG,
    SOURCE_REMOTE_SECRET,
    SOURCE_TOKEN,
)
from policies.forms.changes import NamespaceModeForm

SOURCE_CHOICES = [
    (SOURCE_KUBECONFIG, "A kubeconfig file and context (mounted into meshui's pods)"),
    (SOURCE_TOKEN, "A mounted service-account token, CA and the API server's URL"),
    (SOURCE_REMOTE_SECRET, "An Istio remote secret in the cluster meshui runs in"),
]


class ClusterForm(forms.Form):
    """Where a cluster's credentials are; the service checks paths and names further."""

    name = forms.RegexField(
        regex=CLUSTER_NAME_PATTERN,
        max_length=63,
        help_text="As Istio names it (the remote secret's key, istioctl's --name).",
        error_messages={
            "invalid": "Letters, digits, '.', '_' or '-', starting and ending with a letter "
            "or digit."
        },
    )
    source = forms.ChoiceField(choices=SOURCE_CHOICES, widget=forms.RadioSelect)
    kubeconfig = forms.CharField(max_length=1024, required=False, label="Kubeconfig file")
    context = forms.CharField(max_length=253, required=False, help_text="Empty: its current one.")
    server = forms.CharField(max_length=512, required=False, label="API server URL")
    token_file = forms.CharField(max_length=1024, required=False, label="Token file")
    ca_file = forms.CharField(max_length=1024, required=False, label="CA file")
    secret_namespace = forms.CharField(
        max_length=63, required=False, initial="istio-system", label="Secret's namespace"
    )
    secret_name = forms.CharField(max_length=253, required=False, label="Secret's name")
    secret_key = forms.CharField(
        max_length=253, required=False, label="Key", help_text="Empty: the cluster's name."
    )
    sync_interval = forms.IntegerField(
        min_value=10,
        max_value=86400,
        required=False,
        label="Sync every (seconds)",
        help_text="Empty: MESHUI_SYNC_INTERVAL.",
    )


class FleetNamespaceFilterForm(forms.Form):
    q = forms.CharField(max_length=63, required=False, label="Name contains")
    differs = forms.BooleanField(required=False, label="Only namespaces whose mode differs")
    page = forms.IntegerField(min_value=1, max_value=100000, required=False)


class FleetNamespaceModeForm(forms.Form):
    """The on-call toggle in several clusters: mode, reason, maybe a duration, the clusters.

    `clusters` offers the clusters where the namespace exists; the confirm carries, per
    cluster, the policy version previewed there (`seen_name:<cluster>`,
    `seen_version:<cluster>`), read by `previewed`."""

    # The one-cluster toggle's fields, as they are there.
    mode = copy.deepcopy(NamespaceModeForm.base_fields["mode"])
    duration_minutes = copy.deepcopy(NamespaceModeForm.base_fields["duration_minutes"])
    reason = copy.deepcopy(NamespaceModeForm.base_fields["reason"])
    clusters = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        label="In the clusters",
        error_messages={"required": "Choose at least one cluster."},
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, cluster_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clusters"].choices = [(name, name) for name in cluster_names]

    duration = NamespaceModeForm.duration

    def previewed(self, cluster: str) -> tuple[str, str] | None:
        """(policy name, resourceVersion) previewed in `cluster`, or None if not previewed."""
        name = self.data.get(f"seen_name:{cluster}", "")
        version = self.data.get(f"seen_version:{cluster}", "")
        if not version or len(version) > 64 or len(name) > 253:
            return None
        return name, version
