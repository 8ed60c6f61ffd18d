"""One DNS question over UDP, asked and answered with the standard library only.

The tests run this file with a node's own python3 (`python3 - <args> < dnsquery.py`),
there or inside a pod's network namespace (nsenter), so that what a pod's resolver
gets is seen whole: the response code, every answer, and the source port used.

    python3 dnsquery.py SERVER NAME [TYPE] [SOURCE_PORT]

prints one JSON object: {"rcode": "NOERROR", "answers": [{"name", "type", "ttl",
"data"}], "sport": 40001}, or {"error": "timeout"} when nothing answers within 3 s.
TYPE is A (default), AAAA, PTR, SRV or TXT; NAME may be an IPv4 address with PTR
(the in-addr.arpa name is formed). Nothing is resolved through the system: the
question goes to SERVER, port 53, and only there.
"""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import struct
import sys

TYPES = {"A": 1, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def question(name: str, qtype: str, qid: int) -> bytes:
    """A recursive query for `name` (an IPv4 address with PTR becomes its arpa name)."""
    if qtype == "PTR":
        try:
            name = ipaddress.ip_address(name).reverse_pointer
        except ValueError:
            pass
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".") if p)
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", TYPES[qtype], 1)


def read_name(msg: bytes, pos: int) -> tuple[str, int]:
    """A (possibly compressed) name at `pos`; returns it and the position after it."""
    labels, end = [], None
    while True:
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            end = end if end is not None else pos + 2
            pos = struct.unpack(">H", msg[pos:pos + 2])[0] & 0x3FFF
            continue
        if n == 0:
            return ".".join(labels) + ".", end if end is not None else pos + 1
        labels.append(msg[pos + 1:pos + 1 + n].decode())
        pos += 1 + n


def parse(msg: bytes) -> dict:
    """The response code and the answer section of a response."""
    qid, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", msg[:12])
    pos = 12
    for _ in range(qd):
        _, pos = read_name(msg, pos)
        pos += 4
    names = {v: k for k, v in TYPES.items()}
    answers = []
    for _ in range(an):
        name, pos = read_name(msg, pos)
        rtype, _cls, ttl, length = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + length]
        if rtype == 1:
            data = socket.inet_ntoa(rdata)
        elif rtype == 28:
            data = socket.inet_ntop(socket.AF_INET6, rdata)
        elif rtype == 12:
            data = read_name(msg, pos)[0]
        elif rtype == 33:
            prio, weight, port = struct.unpack(">HHH", rdata[:6])
            data = f"{prio} {weight} {port} {read_name(msg, pos + 6)[0]}"
        else:
            data = rdata.hex()
        answers.append({"name": name, "type": names.get(rtype, str(rtype)), "ttl": ttl, "data": data})
        pos += length
    return {"id": qid, "rcode": RCODES.get(flags & 0xF, str(flags & 0xF)), "answers": answers}


def ask(server: str, name: str, qtype: str = "A", sport: int = 0, timeout: float = 3.0) -> dict:
    qid = random.randrange(1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("", sport))
        s.settimeout(timeout)
        s.sendto(question(name, qtype, qid), (server, 53))
        port = s.getsockname()[1]
        try:
            while True:
                msg, _ = s.recvfrom(4096)
                reply = parse(msg)
                if reply.pop("id") == qid:
                    return {**reply, "sport": port}
        except TimeoutError:
            return {"error": "timeout", "sport": port}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    server, name = argv[0], argv[1]
    qtype = argv[2] if len(argv) > 2 else "A"
    sport = int(argv[3]) if len(argv) > 3 else 0
    print(json.dumps(ask(server, name, qtype, sport)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
