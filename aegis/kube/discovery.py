"""Discovery of every served group/version/resource through /api and /apis (CRDs included).

Synchronous. Subresources (``pods/log``) are skipped; a group whose discovery fails (an aggregated API
that is down, say) is reported in ``errors`` instead of failing the whole discovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from kubernetes.client import ApiClient

from aegis.kube.selectors import ResourceNames
from aegis.kube.transport import KubeAPIError, KubeTransport, ResourceRef, group_version_path


@dataclass(frozen=True)
class APIResource(ResourceRef):
    """One served resource in one group/version, as the API server describes it."""

    kind: str = ""
    verbs: tuple[str, ...] = ()
    singular: str = ""
    short_names: tuple[str, ...] = ()
    preferred: bool = False

    @property
    def names(self) -> ResourceNames:
        return ResourceNames(self.resource, self.group, self.kind, self.singular, self.short_names)

    def supports(self, *verbs: str) -> bool:
        return all(v in self.verbs for v in verbs)


@dataclass
class Discovery:
    """Result of :func:`discover`: all served resources, each flagged ``preferred`` when its version is."""

    resources: list[APIResource] = field(default_factory=list)
    preferred_versions: dict[str, str] = field(default_factory=dict)  # group -> version ('' = core)
    errors: list[str] = field(default_factory=list)

    served_versions: list[str] = field(default_factory=list)  # every group/version: 'v1', 'apps/v1'

    def preferred(self) -> list[APIResource]:
        """One entry per (group, resource): the one in the group's preferred version."""
        return [r for r in self.resources if r.preferred]

    def find(self, resource: str, group: str = "") -> APIResource | None:
        """The preferred-version entry for a plural resource name in a group."""
        for r in self.resources:
            if r.preferred and r.resource == resource and r.group == group:
                return r
        return None


def discover(api_client: ApiClient | KubeTransport) -> Discovery:
    """Walk /api, /api/<v>, /apis and /apis/<g>/<v>; raises KubeAPIError if /api or /apis fails."""
    transport = api_client if isinstance(api_client, KubeTransport) else KubeTransport(api_client)
    result = Discovery()
    group_versions: list[tuple[str, str, bool]] = []  # (group, version, preferred)

    core = transport.get_json("/api")
    core_versions = list(core.get("versions") or [])
    if core_versions:
        result.preferred_versions[""] = core_versions[0]
    group_versions.extend(("", v, i == 0) for i, v in enumerate(core_versions))

    for group in transport.get_json("/apis").get("groups") or []:
        name = group.get("name", "")
        versions = [v.get("version", "") for v in group.get("versions") or []]
        preferred = (group.get("preferredVersion") or {}).get("version") or (versions[0] if versions else "")
        if preferred:
            result.preferred_versions[name] = preferred
        group_versions.extend((name, v, v == preferred) for v in versions if v)

    for group, version, preferred in group_versions:
        try:
            listing = transport.get_json(group_version_path(group, version))
        except KubeAPIError as exc:
            gv = f"{group}/{version}" if group else version
            result.errors.append(f"discovery of {gv} failed: {exc}")
            continue
        result.served_versions.append(f"{group}/{version}" if group else version)
        result.resources.extend(_parse_resource_list(listing, group, version, preferred))
    _prefer_served_versions(result)
    _drop_duplicate_groups(result)
    return result


def _prefer_served_versions(result: Discovery) -> None:
    """As client-go's ServerPreferredResources: a resource that the group's preferred version does not
    serve (batch/v1beta1 cronjobs on 1.20) is taken from the highest-priority version that does."""
    have = {(r.group, r.resource) for r in result.resources if r.preferred}
    for index, resource in enumerate(result.resources):
        key = (resource.group, resource.resource)
        if not resource.preferred and key not in have:
            result.resources[index] = replace(resource, preferred=True)
            have.add(key)


# The same objects served under two groups: back them up once, under the group that outlives the other.
_LEGACY_GROUPS = {
    ("extensions", "ingresses"): "networking.k8s.io",
    ("extensions", "networkpolicies"): "networking.k8s.io",
    ("extensions", "podsecuritypolicies"): "policy",
    ("extensions", "deployments"): "apps",
    ("extensions", "daemonsets"): "apps",
    ("extensions", "replicasets"): "apps",
    ("events.k8s.io", "events"): "",
}


def _drop_duplicate_groups(result: Discovery) -> None:
    served = {(r.group, r.resource) for r in result.resources if r.preferred}
    result.resources = [
        r
        for r in result.resources
        if not (
            r.preferred
            and (r.group, r.resource) in _LEGACY_GROUPS
            and (_LEGACY_GROUPS[(r.group, r.resource)], r.resource) in served
        )
    ]


def _parse_resource_list(listing: dict, group: str, version: str, preferred: bool) -> list[APIResource]:
    resources = []
    for item in listing.get("resources") or []:
        name = item.get("name", "")
        if not name or "/" in name:  # subresources such as pods/log, deployments/scale
            continue
        resources.append(
            APIResource(
                group=item.get("group") or group,
                version=item.get("version") or version,
                resource=name,
                namespaced=bool(item.get("namespaced")),
                kind=item.get("kind", ""),
                verbs=tuple(item.get("verbs") or ()),
                singular=item.get("singularName", "") or "",
                short_names=tuple(item.get("shortNames") or ()),
                preferred=preferred,
            )
        )
    return resources
