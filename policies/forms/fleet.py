"""Forms of the fleet pages: registering a cluster, and the fleet namespace list's filters."""

from __future__ import annotations

from django import forms

from policies.cluster_sources import (
    CLUSTER_NAME_PATTERN,
    SOURCE_KUBECONFIG,
    SOURCE_REMOTE_SECRET,
    SOURCE_TOKEN,
)

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
