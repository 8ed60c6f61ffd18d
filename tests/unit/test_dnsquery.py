"""The DNS client the lab's tests run in pods (netlab_tests/dnsquery.py), on wire-format
messages built here: questions, compressed names, A, PTR and SRV answers, response
codes; and one real exchange with a UDP server on the loopback address."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from netlab_tests import dnsquery


def name_bytes(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"


def response(query: bytes, rcode: int, answers: list[tuple[int, bytes]]) -> bytes:
    """A response to `query`: its question again, then answers that point back at the
    question's name (compression pointer 0xC00C) with the given type and rdata."""
    qid = struct.unpack(">H", query[:2])[0]
    header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
    body = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 30, len(rdata)) + rdata for rtype, rdata in answers)
    return header + query[12:] + body


def test_a_question_asks_recursively_for_one_name_and_type():
    q = dnsquery.question("frontend.default.svc.cluster.local", "A", 0x1234)
    assert q[:12] == struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    assert q[12:] == name_bytes("frontend.default.svc.cluster.local") + struct.pack(">HH", 1, 1)


def test_a_ptr_question_for_an_address_asks_its_arpa_name():
    q = dnsquery.question("10.1.20.5", "PTR", 1)
    assert q[12:] == name_bytes("5.20.1.10.in-addr.arpa") + struct.pack(">HH", 12, 1)


def test_answers_are_read_through_compressed_names():
    q = dnsquery.question("frontends.default.svc.cluster.local", "A", 7)
    msg = response(q, 0, [(1, socket.inet_aton("10.1.10.2")), (1, socket.inet_aton("10.1.20.3"))])
    reply = dnsquery.parse(msg)
    assert reply["rcode"] == "NOERROR" and reply["id"] == 7
    assert [(a["name"], a["type"], a["data"]) for a in reply["answers"]] == [
        ("frontends.default.svc.cluster.local.", "A", "10.1.10.2"),
        ("frontends.default.svc.cluster.local.", "A", "10.1.20.3"),
    ]


def test_ptr_and_srv_answers_are_names():
    q = dnsquery.question("10.1.20.5", "PTR", 9)
    ptr = name_bytes("10-1-20-5.frontend.default.svc.cluster.local")
    srv = struct.pack(">HHH", 0, 100, 80) + name_bytes("frontend.default.svc.cluster.local")
    reply = dnsquery.parse(response(q, 0, [(12, ptr), (33, srv)]))
    assert [a["data"] for a in reply["answers"]] == [
        "10-1-20-5.frontend.default.svc.cluster.local.",
        "0 100 80 frontend.default.svc.cluster.local.",
    ]


@pytest.mark.parametrize(("rcode", "word"), [(2, "SERVFAIL"), (3, "NXDOMAIN"), (5, "REFUSED")])
def test_the_response_code_is_named(rcode, word):
    q = dnsquery.question("netlab-outside.example", "A", 3)
    assert dnsquery.parse(response(q, rcode, [])) == {"id": 3, "rcode": word, "answers": []}


def serve_once(reply_rcode: int) -> tuple[int, threading.Thread]:
    """A UDP server on 127.0.0.1, any free port: answers one question with `reply_rcode`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    send = sock.sendto  # bound now: the test redirects the client's sendto afterwards

    def run():
        with sock:
            query, peer = sock.recvfrom(512)
            send(response(query, reply_rcode, []), peer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return sock.getsockname()[1], thread


def test_ask_sends_from_the_given_port_and_reads_the_answer(monkeypatch):
    port, thread = serve_once(5)
    real_sendto = socket.socket.sendto
    # The client always asks port 53; here it is sent to the test server's port instead.
    monkeypatch.setattr(socket.socket, "sendto", lambda self, data, addr: real_sendto(self, data, (addr[0], port)))
    free = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    free.bind(("127.0.0.1", 0))
    sport = free.getsockname()[1]
    free.close()
    reply = dnsquery.ask("127.0.0.1", "netlab-outside.example", sport=sport)
    thread.join(5)
    assert reply == {"rcode": "REFUSED", "answers": [], "sport": sport}


def test_ask_says_timeout_when_nothing_answers(monkeypatch):
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    real_sendto = socket.socket.sendto
    monkeypatch.setattr(socket.socket, "sendto",
                        lambda self, data, addr: real_sendto(self, data, ("127.0.0.1", sink.getsockname()[1])))
    with sink:
        reply = dnsquery.ask("127.0.0.1", "nobody.example", timeout=0.3)
    assert reply["error"] == "timeout"
