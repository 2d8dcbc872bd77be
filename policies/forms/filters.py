"""GET filters of the list pages, validated like any other input.

A bad value (an unknown mode, a page that is not a number) is reported on the form and the
page answers 400 with the message, instead of a 500 or a silently ignored filter.
"""

from django import forms

from policies.engine import Level, Mode, PolicyScope, PolicyStatus
from policies.engine.readiness import READINESS_ORDER
from policies.models import (
    EFFECTIVE_MODE_CHOICES,
    SEVERITY_CHOICES,
    PolicyRecord,
)
from policies.selectors.posture import NAMESPACE_SORTS
from policies.selectors.workloads import NO, WORKLOAD_SORTS, YES, WorkloadFilters

# Kubernetes names are at most 253 characters; namespaces at most 63.
NAME_MAX = 253
NAMESPACE_MAX = 63
PER_PAGE_CHOICES = [(25, "25"), (50, "50"), (100, "100"), (200, "200")]
DEFAULT_PER_PAGE = 50


def _with_any(choices, label="Any"):
    return [("", label), *choices]


def _sorts(keys) -> list[tuple[str, str]]:
    return [(key, key) for name in keys for key in (name, f"-{name}")]


def _yes_no(label: str, yes: str, no: str) -> forms.ChoiceField:
    return forms.ChoiceField(label=label, required=False, choices=_with_any([(YES, yes), (NO, no)]))


# The level that decided a row's mode, in the words the tables use.
LEVEL_WORDS = {
    Level.WORKLOAD: "Workload policy",
    Level.NAMESPACE: "Namespace policy",
    Level.MESH: "Mesh policy (inherited)",
    Level.DEFAULT: "Built-in default",
}


def _decided_by(*levels: Level) -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Decided by",
        required=False,
        choices=_with_any([(level, LEVEL_WORDS[level]) for level in levels]),
    )


class FilterForm(forms.Form):
    """A GET form whose empty fields mean "no filter"; `cleaned` is safe to pass on."""

    # Any whole number: one out of range shows the nearest page and says so (selectors.paging).
    page = forms.IntegerField(required=False)
    per_page = forms.TypedChoiceField(
        choices=PER_PAGE_CHOICES, coerce=int, required=False, empty_value=DEFAULT_PER_PAGE
    )

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and not data.get("per_page"):
            # The select shows the page size in force, not its first choice.
            data = data.copy()
            data["per_page"] = str(DEFAULT_PER_PAGE)
        super().__init__(data, *args, **kwargs)

    def cleaned(self) -> dict:
        data = dict(self.cleaned_data)
        data["page"] = 1 if data.get("page") is None else data["page"]
        data["per_page"] = data.get("per_page") or DEFAULT_PER_PAGE
        return data

    def query_without(self, *names: str) -> str:
        """The current filters as a query string, minus `names` (for links that change them)."""
        params = self.data.copy()
        for name in names:
            params.pop(name, None)
        for key in [k for k, v in params.items() if v == ""]:
            params.pop(key)
        return params.urlencode()

    def query_without_page(self) -> str:
        """The filters and sort without paging: an export covers every page."""
        return self.query_without("page", "per_page")


class NamespaceFilterForm(FilterForm):
    q = forms.CharField(label="Search", max_length=NAMESPACE_MAX, required=False, strip=True)
    mode = forms.ChoiceField(
        label="Mode", choices=_with_any(EFFECTIVE_MODE_CHOICES), required=False
    )
    source = _decided_by(Level.NAMESPACE, Level.MESH, Level.DEFAULT)
    readiness = forms.ChoiceField(
        label="Ready for STRICT",
        required=False,
        choices=_with_any([(value.value, value.label) for value in READINESS_ORDER]),
    )
    sort = forms.ChoiceField(
        required=False,
        choices=_sorts(NAMESPACE_SORTS),
    )

    def cleaned(self) -> dict:
        data = super().cleaned()
        data["sort"] = data.get("sort") or "name"
        return data


class WorkloadFilterForm(FilterForm):
    q = forms.CharField(label="Search", max_length=NAME_MAX, required=False, strip=True)
    namespace = forms.CharField(
        label="Namespace", max_length=NAMESPACE_MAX, required=False, strip=True
    )
    mode = forms.ChoiceField(
        label="Mode", choices=_with_any(EFFECTIVE_MODE_CHOICES), required=False
    )
    source = _decided_by(Level.WORKLOAD, Level.NAMESPACE, Level.MESH, Level.DEFAULT)
    sidecar = _yes_no("Sidecar", "With a sidecar", "Without a sidecar")
    findings = _yes_no("Findings", "With findings", "Without findings")
    exempt = _yes_no("Exemption", "Exempt now", "Not exempt")
    sort = forms.ChoiceField(required=False, choices=_sorts(WORKLOAD_SORTS))

    def cleaned(self) -> dict:
        data = super().cleaned()
        data["sort"] = data.get("sort") or "namespace"
        return data

    def filters(self) -> WorkloadFilters:
        data = self.cleaned_data
        return WorkloadFilters(
            search=data["q"],
            namespace=data["namespace"],
            mode=data["mode"],
            source=data["source"],
            sidecar=data["sidecar"],
            findings=data["findings"],
            exempt=data["exempt"],
        )


class PolicyFilterForm(FilterForm):
    kind = forms.ChoiceField(
        label="Show",
        required=False,
        choices=[
            ("", "Both"),
            (PolicyRecord.Kind.PEER_AUTHENTICATION, "PeerAuthentications"),
            (PolicyRecord.Kind.DESTINATION_RULE, "DestinationRules"),
        ],
    )
    namespace = forms.CharField(label="Namespace", max_length=NAMESPACE_MAX, required=False)
    q = forms.CharField(label="Name contains", max_length=NAME_MAX, required=False)
    mode = forms.ChoiceField(
        label="PA mode",
        required=False,
        choices=_with_any([*EFFECTIVE_MODE_CHOICES, (Mode.UNSET, "UNSET")]),
    )
    scope = forms.ChoiceField(
        label="PA scope",
        required=False,
        choices=_with_any(
            [
                (scope, str(scope))
                for scope in (
                    PolicyScope.MESH,
                    PolicyScope.NAMESPACE,
                    PolicyScope.WORKLOAD,
                    PolicyScope.IGNORED,
                )
            ]
        ),
    )
    status = forms.ChoiceField(
        label="PA status",
        required=False,
        choices=_with_any([(status, str(status)) for status in PolicyStatus]),
    )
    tls_mode = forms.ChoiceField(
        label="DR TLS mode",
        required=False,
        choices=_with_any(
            [(mode, mode) for mode in ("ISTIO_MUTUAL", "MUTUAL", "SIMPLE", "DISABLE")]
        ),
    )
    pa_page = forms.IntegerField(required=False)
    dr_page = forms.IntegerField(required=False)

    def cleaned(self) -> dict:
        data = super().cleaned()
        for name in ("pa_page", "dr_page"):
            data[name] = 1 if data.get(name) is None else data[name]
        return data


class FindingFilterForm(FilterForm):
    code = forms.CharField(label="Code", max_length=64, required=False)
    severity = forms.ChoiceField(
        label="Severity", choices=_with_any(SEVERITY_CHOICES), required=False
    )
    namespace = forms.CharField(label="Namespace", max_length=NAMESPACE_MAX, required=False)


class SyncProgressForm(forms.Form):
    after = forms.IntegerField(min_value=0, required=False)
