"""A tiny probe image for the nodes' inner Docker, and containers made from it.

No base image exists here, so the probe image is made inside each node from the
node's static busybox: `sh`, `wget`, `ping`, and `httpd` serving a CGI script that
answers with the caller's address (REMOTE_ADDR) — what the receiver sees as the
source IP of a request.
"""

from __future__ import annotations

import ipaddress
import json

PROBE_IMAGE = "netlab/probe:latest"
ECHO_CONTAINER = "netlab-echo"

_MAKE_PROBE_IMAGE = r"""
set -eu
docker image inspect {image} >/dev/null 2>&1 && exit 0
d=$(mktemp -d)
mkdir -p "$d/bin" "$d/www/cgi-bin"
cp /bin/busybox "$d/bin/busybox"
for applet in sh httpd wget hostname ip ping cat sleep timeout; do ln -s busybox "$d/bin/$applet"; done
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%%s\\n" "$REMOTE_ADDR"\n' > "$d/www/cgi-bin/ip"
chmod 0755 "$d/www/cgi-bin/ip"
tar -C "$d" -c . | docker import -c 'CMD ["/bin/sh"]' - {image} >/dev/null
rm -rf "$d"
"""


def ensure_probe_image(host) -> None:
    host.run_expect([0], "sh -c %s", _MAKE_PROBE_IMAGE.format(image=PROBE_IMAGE))


def container_ip(host, name: str) -> ipaddress.IPv4Address:
    out = host.check_output("docker inspect %s", name)
    return ipaddress.ip_address(json.loads(out)[0]["NetworkSettings"]["IPAddress"])


def ensure_echo(host) -> ipaddress.IPv4Address:
    """Run the echo server on the node's docker0 (once) and return its IP."""
    ensure_probe_image(host)
    if host not in _ECHO_HOSTS:
        _ECHO_HOSTS.append(host)
    state = host.run("docker inspect -f '{{.State.Running}}' %s", ECHO_CONTAINER)
    if state.rc != 0:
        host.check_output(
            "docker run -d --name %s %s httpd -f -p 0.0.0.0:80 -h /www", ECHO_CONTAINER, PROBE_IMAGE
        )
    elif state.stdout.strip() != "true":
        host.check_output("docker start %s", ECHO_CONTAINER)
    return container_ip(host, ECHO_CONTAINER)


def ask_echo(host, target: ipaddress.IPv4Address) -> tuple[str, str]:
    """From a fresh container on `host`'s docker0, ask the echo server at `target`.

    Returns (the asking container's own IP, the source IP the echo server saw).
    """
    ensure_probe_image(host)
    out = host.check_output(
        "docker run --rm %s sh -c %s",
        PROBE_IMAGE,
        # `exit $?` keeps wget a child of sh: as PID 1 it would ignore timeout's SIGTERM.
        f"hostname -i; timeout 10 wget -q -O - http://{target}/cgi-bin/ip; exit $?",
    )
    own, seen = out.split()
    return own, seen


_ECHO_HOSTS: list = []


def remove_echo_server(host) -> None:
    host.run("docker rm -f %s", ECHO_CONTAINER)


def remove_echo_servers() -> None:
    """Remove the echo servers this session started, so a node's `docker ps` holds
    only what the lab runs (the lesson counts the containers there)."""
    while _ECHO_HOSTS:
        remove_echo_server(_ECHO_HOSTS.pop())
