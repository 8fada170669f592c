"""Outbound URL guard (SSRF) of every service: a URL a caller can make a service fetch (webhooks, S3
endpoints, ...) may only reach public addresses. Its host is resolved and EVERY address is checked; any
loopback, private, link-local (cloud metadata: 169.254.169.254, fd00:ec2::254), unspecified, multicast or
reserved address is refused unless an operator allow-list names the host, the address or a network
holding it. Refusals never echo the URL, its credentials or the addresses it resolved to.

Check when a URL is accepted and again right before each use: DNS can change between the two.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddressInfo = list[tuple[object, ...]]


class Refused(Exception):
    """A URL that must not be fetched: its form, its host's addresses or an unresolvable host."""


def is_public(address: Address) -> bool:
    """Whether an address is on the public internet (an IPv4-mapped IPv6 address is judged as IPv4)."""
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    return address.is_global and not (
        address.is_multicast or address.is_unspecified or address.is_reserved or address.is_link_local
    )


@dataclass(frozen=True)
class AddressPolicy:
    """Which hosts a URL may reach: any public address, plus the allow-listed names and networks.
    `setting` is the environment variable an operator extends it with (named in refusals)."""

    names: frozenset[str] = frozenset()
    networks: tuple[AddressNetwork, ...] = ()
    setting: str = "OCO_NOTIFY_ALLOW_HOSTS"

    @classmethod
    def parse(cls, *allow: str | Iterable[str], setting: str = "OCO_NOTIFY_ALLOW_HOSTS") -> AddressPolicy:
        """From comma lists (or iterables) of host names, addresses and CIDRs, e.g. `127.0.0.1,minio`."""
        names: set[str] = set()
        networks: list[AddressNetwork] = []
        for source in allow:
            entries = source.split(",") if isinstance(source, str) else list(source)
            for entry in (e.strip().lower() for e in entries):
                if not entry:
                    continue
                try:
                    networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                except ValueError:
                    names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(networks), setting)

    def _allowed(self, address: Address) -> bool:
        mapped = getattr(address, "ipv4_mapped", None)
        return any(
            address in network or (mapped is not None and mapped in network) for network in self.networks
        )

    def _target(self, url: str, what: str) -> tuple[str, int] | None:
        """(host, port) to resolve, or None when the host is allow-listed by name."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise Refused(f"the {what} is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused(f"the {what} must be http:// or https:// with a host")
        host = parts.hostname.lower().rstrip(".")
        if host in self.names:
            return None
        return host, port or (443 if parts.scheme == "https" else 80)

    def _judge(self, infos: AddressInfo, what: str) -> None:
        if not infos:
            raise Refused(f"the {what} host has no address")
        for info in infos:
            sockaddr = info[4]
            assert isinstance(sockaddr, tuple)
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if not is_public(address) and not self._allowed(address):
                raise Refused(
                    f"the {what} host resolves to a loopback, private, link-local or otherwise non-public"
                    f" address; an operator can allow it with {self.setting}"
                )

    async def check(self, url: str, *, what: str = "URL", unresolvable_ok: bool = False) -> None:
        """Raise Refused unless `url` is http(s) and every address its host resolves to may be reached.
        `unresolvable_ok`: a host that does not resolve now passes (it is checked again before use)."""
        target = self._target(url, what)
        if target is None:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(*target, type=socket.SOCK_STREAM)
        except OSError:
            if unresolvable_ok:
                return
            raise Refused(f"the {what} host cannot be resolved") from None
        self._judge(list(infos), what)

    def check_sync(self, url: str, *, what: str = "URL", unresolvable_ok: bool = False) -> None:
        """check() for synchronous code (worker threads: boto3, ...)."""
        target = self._target(url, what)
        if target is None:
            return
        try:
            infos = socket.getaddrinfo(*target, type=socket.SOCK_STREAM)
        except OSError:
            if unresolvable_ok:
                return
            raise Refused(f"the {what} host cannot be resolved") from None
        self._judge(list(infos), what)
