"""Where a webhook may point (SSRF): http(s) only, and, unless the setting
THIDUA_WEBHOOKS_ALLOW_PRIVATE allows it, no address that is private, loopback,
link-local, multicast, reserved or otherwise not public. Checked when a webhook is
registered and again before every delivery (a name may resolve elsewhere later)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def refusal(url: str, *, allow_private: bool) -> str | None:
    """Why `url` may not receive webhooks, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must be http:// or https:// with a host"
    if parts.username or parts.password:
        return "the URL must not carry a user name or password"
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return f"the host {parts.hostname!r} does not resolve ({exc})"
    if allow_private:
        return None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            return f"the host {parts.hostname!r} is on a non-public address ({address})"
    return None
