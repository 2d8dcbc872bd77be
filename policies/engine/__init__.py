"""The policy engine: raw Kubernetes objects in, mTLS posture out. Standard library only.

from policies.engine import evaluate, posture_as_json, Mode, Level, Severity
posture = evaluate(objects, root_namespace="istio-system")
document = posture_as_json(posture)
"""

from policies.engine.coverage import CoverageCounts, CoverageRule, coverage_counts, coverage_rule
from policies.engine.labels import selector_matches
from policies.engine.model import (
    SEVERITY_RANK,
    Finding,
    Level,
    LevelStep,
    Loser,
    MeshPosture,
    Mode,
    NamespacePosture,
    Outcome,
    PolicyRef,
    PolicyScope,
    PolicyStamp,
    PolicyStatus,
    PolicyVerdict,
    PortPosture,
    Posture,
    Reason,
    ServiceInfo,
    ServicePort,
    Severity,
    WorkloadPosture,
    WorkloadRef,
)
from policies.engine.resolve import DEFAULT_ROOT_NAMESPACE, evaluate
from policies.engine.serialize import posture_as_json

__all__ = [
    "CoverageCounts",
    "CoverageRule",
    "coverage_counts",
    "coverage_rule",
    "DEFAULT_ROOT_NAMESPACE",
    "SEVERITY_RANK",
    "Finding",
    "Level",
    "LevelStep",
    "Loser",
    "MeshPosture",
    "Mode",
    "NamespacePosture",
    "Outcome",
    "PolicyRef",
    "PolicyScope",
    "PolicyStamp",
    "PolicyStatus",
    "PolicyVerdict",
    "PortPosture",
    "Posture",
    "Reason",
    "ServiceInfo",
    "ServicePort",
    "Severity",
    "WorkloadPosture",
    "WorkloadRef",
    "evaluate",
    "posture_as_json",
    "selector_matches",
]
