"""Short names of Kubernetes' built-in resources (as `kubectl api-resources` lists them), for matching
include/exclude lists where no discovery document is at hand: a restore filters the archive's entries
before it talks to any cluster. A custom resource's short names are known only to its cluster's discovery.
"""

from __future__ import annotations

#: (resource, group) -> short names
BUILT_IN_SHORT_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("configmaps", ""): ("cm",),
    ("componentstatuses", ""): ("cs",),
    ("endpoints", ""): ("ep",),
    ("events", ""): ("ev",),
    ("limitranges", ""): ("limits",),
    ("namespaces", ""): ("ns",),
    ("nodes", ""): ("no",),
    ("persistentvolumeclaims", ""): ("pvc",),
    ("persistentvolumes", ""): ("pv",),
    ("pods", ""): ("po",),
    ("replicationcontrollers", ""): ("rc",),
    ("resourcequotas", ""): ("quota",),
    ("serviceaccounts", ""): ("sa",),
    ("services", ""): ("svc",),
    ("customresourcedefinitions", "apiextensions.k8s.io"): ("crd", "crds"),
    ("daemonsets", "apps"): ("ds",),
    ("deployments", "apps"): ("deploy",),
    ("replicasets", "apps"): ("rs",),
    ("statefulsets", "apps"): ("sts",),
    ("horizontalpodautoscalers", "autoscaling"): ("hpa",),
    ("cronjobs", "batch"): ("cj",),
    ("certificatesigningrequests", "certificates.k8s.io"): ("csr",),
    ("events", "events.k8s.io"): ("ev",),
    ("ingresses", "networking.k8s.io"): ("ing",),
    ("ingresses", "extensions"): ("ing",),
    ("networkpolicies", "networking.k8s.io"): ("netpol",),
    ("poddisruptionbudgets", "policy"): ("pdb",),
    ("podsecuritypolicies", "policy"): ("psp",),
    ("priorityclasses", "scheduling.k8s.io"): ("pc",),
    ("storageclasses", "storage.k8s.io"): ("sc",),
}


def short_names_of(resource: str, group: str) -> tuple[str, ...]:
    return BUILT_IN_SHORT_NAMES.get((resource, group), ())
