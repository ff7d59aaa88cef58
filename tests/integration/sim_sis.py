#!/usr/bin/env python3
"""sim_sis.py - a raw STANAG 5066 Annex A SIS client for the s5066sim
integration tests, written independently of the C codec: it builds and
parses the S_Primitive bytes itself (90 EB | 00 | size:16 | type | body).

    python3 sim_sis.py SCENARIO PORTFILE [ARG...]

Scenarios are the functions named scenario_*; each exits 0 on success and
prints "FAIL: ..." and exits 1 otherwise.
"""
import errno
import os
import select
import socket
import struct
import sys
import time

PRE = b"\x90\xeb\x00"
BIND_REQUEST, UNBIND_REQUEST, BIND_ACCEPTED, BIND_REJECTED, UNBIND_INDICATION = 1, 2, 3, 4, 5
SUBNET_AVAILABILITY, DATAFLOW_ON, DATAFLOW_OFF, KEEP_ALIVE = 14, 15, 16, 17
MGMT_REQUEST = 18
UNIDATA_REQUEST, UNIDATA_INDICATION, CONFIRM, REJECTED = 20, 21, 22, 23
TIMEOUT = 15.0


def fail(msg):
    print("FAIL: " + msg)
    sys.stdout.flush()
    sys.exit(1)


def addr(s):
    """dotted quad with the group bit inside -> the 4-byte field (size 7)"""
    a, b, c, d = (int(x) for x in s.split("."))
    v = (a << 24) | (b << 16) | (c << 8) | d
    return struct.pack(">I", (7 << 29) | v)


def addr_str(field):
    v = struct.unpack(">I", field)[0] & 0x1FFFFFFF
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF)


def prim(ptype, body=b""):
    return PRE + struct.pack(">HB", 1 + len(body), ptype) + body


def bind(sap, rank=0, mode=1, confirm=1, min_retx=0):
    return prim(BIND_REQUEST, bytes([sap << 4 | rank, mode << 4 | confirm << 2, min_retx << 4]))


def unidata(dest, sap, data, prio=0, mode=1, confirm=1, min_retx=0, ttl=0):
    return prim(UNIDATA_REQUEST,
                bytes([prio << 4 | sap]) + addr(dest) +
                bytes([mode << 4 | confirm << 2, min_retx << 4 | (ttl >> 16)]) +
                struct.pack(">HH", ttl & 0xFFFF, len(data)) + data)


class Client:
    def __init__(self, name, port, src=None):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                             source_address=(src, 0) if src else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not chunk:
            raise EOFError
        self.buf += chunk
        return True

    def recv(self, timeout=TIMEOUT):
        """the next primitive as (type, body), or None on timeout; EOFError at close"""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                if self.buf[:3] != PRE:
                    fail("%s: bad preamble from the server: %r" % (self.name, self.buf[:8]))
                size = struct.unpack(">H", self.buf[3:5])[0]
                if len(self.buf) >= 5 + size:
                    p = self.buf[5:5 + size]
                    self.buf = self.buf[5 + size:]
                    return p[0], p[1:]
            if not self._fill(deadline):
                return None

    def expect(self, ptype, what, timeout=TIMEOUT, skip=(SUBNET_AVAILABILITY, DATAFLOW_ON, DATAFLOW_OFF)):
        while True:
            p = self.recv(timeout)
            if p is None:
                fail("%s: no %s (type %d) within %gs" % (self.name, what, ptype, timeout))
            if p[0] == ptype:
                return p[1]
            if p[0] in skip:
                continue
            fail("%s: wanted %s (type %d), got type %d body %s" % (self.name, what, ptype, p[0], p[1].hex()))

    def expect_eof(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except EOFError:
            return
        fail("%s: connection not closed within %gs" % (self.name, timeout))


def parse_indication(body):
    """UNIDATA_INDICATION body -> dict; the U_PDU is the last `size` bytes"""
    d = {"prio": body[0] >> 4, "dest_sap": body[0] & 15, "dest": addr_str(body[1:5]),
         "mode": body[5] >> 4, "src_sap": body[5] & 15, "src": addr_str(body[6:10])}
    size = struct.unpack(">H", body[10:12])[0]
    d["updu"] = body[len(body) - size:]
    if d["mode"] == 3:
        n_err = struct.unpack(">H", body[12:14])[0]
        d["n_err"] = n_err
    return d


def parse_result(body):
    size = struct.unpack(">H", body[5:7])[0]
    return {"reason": body[0] >> 4, "sap": body[0] & 15, "dest": addr_str(body[1:5]),
            "updu": body[7:7 + size]}


def read_ports(path):
    ports = {}
    with open(path) as f:
        for line in f:
            name, port = line.split()
            ports[name] = int(port)
    return ports


def bound_client(name, port, sap, **kw):
    c = Client(name, port)
    c.send(bind(sap, **kw))
    body = c.expect(BIND_ACCEPTED, "BIND_ACCEPTED")
    if body[0] >> 4 != sap:
        fail("%s: BIND_ACCEPTED for SAP %d, wanted %d" % (name, body[0] >> 4, sap))
    mtu = struct.unpack(">H", body[1:3])[0]
    return c, mtu


def scenario_network(ports):
    a, mtu = bound_client("alpha", ports["alpha"], 2)
    if mtu != 2048:
        fail("alpha: MTU %d, wanted 2048" % mtu)
    b, _ = bound_client("bravo", ports["bravo"], 2)
    c, _ = bound_client("charlie", ports["charlie"], 2)
    # a second client on the same node and SAP
    a2 = Client("alpha#2", ports["alpha"])
    a2.send(bind(2))
    reason = a2.expect(BIND_REJECTED, "BIND_REJECTED")[0]
    if reason != 3:
        fail("second bind on SAP 2: reason %d, wanted 3" % reason)
    print("ok - second bind on SAP 2 rejected with reason 3")

    # unicast ARQ with delivery confirmation: alpha -> bravo
    a.send(unidata("0.0.0.2", 2, b"hello bravo", prio=4, mode=1, confirm=1))
    ind = parse_indication(b.expect(UNIDATA_INDICATION, "UNIDATA_INDICATION"))
    want = {"src": "0.0.0.1", "src_sap": 2, "dest": "0.0.0.2", "dest_sap": 2, "mode": 1,
            "prio": 4, "updu": b"hello bravo"}
    for k, v in want.items():
        if ind[k] != v:
            fail("bravo: indication %s=%r, wanted %r (%r)" % (k, ind[k], v, ind))
    res = parse_result(a.expect(CONFIRM, "UNIDATA_REQUEST_CONFIRM"))
    if res["dest"] != "0.0.0.2" or res["sap"] != 2 or res["updu"] != b"hello bravo":
        fail("alpha: confirm %r" % res)
    print("ok - ARQ unicast delivered with source 0.0.0.1/2 and confirmed")

    # non-ARQ to group 16.0.0.1 (ops: bravo and charlie; alpha is a member but is the sender)
    a.send(unidata("16.0.0.1", 2, b"to ops", mode=2, confirm=0, min_retx=1))
    for rx in (b, c):
        ind = parse_indication(rx.expect(UNIDATA_INDICATION, "group UNIDATA_INDICATION"))
        want = {"src": "0.0.0.1", "src_sap": 2, "dest": "16.0.0.1", "dest_sap": 2, "mode": 2,
                "updu": b"to ops"}
        for k, v in want.items():
            if ind[k] != v:
                fail("%s: group indication %s=%r, wanted %r" % (rx.name, k, ind[k], v))
    # bravo and charlie got it exactly once despite the repeat; a marker proves no duplicate follows
    a.send(unidata("16.0.0.1", 2, b"marker", mode=2, confirm=0))
    for rx in (b, c):
        ind = parse_indication(rx.expect(UNIDATA_INDICATION, "marker"))
        if ind["updu"] != b"marker":
            fail("%s: a duplicate of the group U_PDU arrived: %r" % (rx.name, ind["updu"]))
    print("ok - group U_PDU delivered once to each member with source 0.0.0.1/2")

    # over-MTU U_PDU
    big = bytes(2049)
    a.send(unidata("0.0.0.2", 2, big))
    res = parse_result(a.expect(REJECTED, "UNIDATA_REQUEST_REJECTED"))
    if res["reason"] != 4:
        fail("over-MTU: reason %d, wanted 4" % res["reason"])
    print("ok - over-MTU U_PDU rejected with reason 4")

    # keep-alive
    a.send(prim(KEEP_ALIVE))
    a.expect(KEEP_ALIVE, "KEEP_ALIVE")
    print("ok - KEEP_ALIVE answered")

    # a client sending garbage and then invalid primitives
    bad = Client("bad", ports["alpha"])
    bad.send(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(0x80, 0x90)))
    bad.send(prim(BIND_ACCEPTED, b"\x20\x08\x00"))      # a server's primitive
    bad.send(prim(UNIDATA_REQUEST, b"\x02"))            # truncated
    bad.send(prim(99, b"xyz"))                          # unknown type
    bad.send(unidata("0.0.0.2", 2, b"not bound"))       # before BIND
    bad.send(prim(DATAFLOW_ON))                         # a server's primitive
    body = bad.expect(UNBIND_INDICATION, "UNBIND_INDICATION", skip=())
    if body[0] != 3:
        fail("bad client: UNBIND_INDICATION reason %d, wanted 3" % body[0])
    bad.expect_eof()
    print("ok - invalid primitives answered with UNBIND_INDICATION reason 3 and close")

    # the SAP of a closed client is free again, the others still work
    a2.sock.close()
    a.send(unidata("0.0.0.3", 2, b"still alive", mode=1, confirm=1))
    ind = parse_indication(c.expect(UNIDATA_INDICATION, "UNIDATA_INDICATION after the bad client"))
    if ind["updu"] != b"still alive" or ind["src"] != "0.0.0.1":
        fail("charlie: %r" % ind)
    a.expect(CONFIRM, "CONFIRM after the bad client")
    print("ok - the server still serves after the bad client")
    for x in (a, b, c):
        x.sock.close()


def scenario_fuzz(ports):
    """random bytes and random primitives from several clients; the server
    must stay up and serve a well-behaved client afterwards"""
    import random
    rnd = random.Random(5066)
    names = sorted(ports)
    clients = []

    def fresh():
        name = rnd.choice(names)
        c = Client("fuzz-" + name, ports[name])
        c.sock.setblocking(False)
        return c

    def drain(c):
        try:
            while c.sock.recv(65536):
                pass
            return False  # closed by the server
        except BlockingIOError:
            return True
        except OSError:
            return False

    for _ in range(6):
        clients.append(fresh())
    sent = 0
    for i in range(3000):
        k = rnd.randrange(len(clients))
        c = clients[k]
        r = rnd.random()
        if r < 0.1:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
        elif r < 0.25:
            data = prim(rnd.randrange(0, 40), bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40))))
        elif r < 0.45:
            data = bind(rnd.randrange(16), rank=rnd.randrange(16), mode=rnd.randrange(16) & 3,
                        confirm=rnd.randrange(4), min_retx=rnd.randrange(16))
        elif r < 0.5:
            data = PRE + struct.pack(">H", rnd.randrange(65536)) + bytes([rnd.randrange(256)])
        else:
            dest = rnd.choice(["0.0.0.1", "0.0.0.2", "0.0.0.3", "0.0.0.9", "16.0.0.1", "31.255.255.255",
                               "0.0.0.0", "15.255.255.255"])
            data = unidata(dest, rnd.randrange(16), bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 300))),
                           prio=rnd.randrange(16), mode=rnd.randrange(16), confirm=rnd.randrange(4),
                           min_retx=rnd.randrange(16), ttl=rnd.randrange(1 << 20))
            if rnd.random() < 0.1:
                data = data[:rnd.randrange(len(data))]
        try:
            c.sock.send(data)
            sent += 1
        except (BlockingIOError, OSError):
            pass
        if not drain(c) or rnd.random() < 0.01:
            c.sock.close()
            clients[k] = fresh()
    for c in clients:
        c.sock.close()
    # a well-behaved pair still works (SAP 11 may still be held by a fuzz
    # client whose close the server has not processed yet: poll for it)
    a = bind_retry("after-alpha", ports["alpha"], 11)
    b = bind_retry("after-bravo", ports["bravo"], 11)
    # expedited: ahead of whatever the fuzz clients left queued; the channel
    # is lossy, so send again after a REJECTED (node not responding)
    for attempt in range(10):
        a.send(prim(24, bytes([11]) + addr("0.0.0.2") + bytes([1 << 4 | 1 << 2, 0]) +
                    struct.pack(">HH", 0, 8) + b"survived"))
        while True:
            p = a.recv()
            if p is None:
                fail("after fuzzing: no CONFIRM or REJECTED")
            if p[0] in (26, 27):
                break
        if p[0] == 26:
            break
    else:
        fail("after fuzzing: 10 attempts rejected")
    while True:
        p = b.recv()
        if p is None:
            fail("after fuzzing: nothing arrived")
        if p[0] == 25 and parse_indication(p[1])["updu"] == b"survived":
            ind = parse_indication(p[1])
            if ind["src"] != "0.0.0.1" or ind["src_sap"] != 11:
                fail("after fuzzing: %r" % ind)
            break
    print("ok - %d random writes, the server still serves" % sent)


def bind_retry(name, port, sap):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        c = Client(name, port)
        c.send(bind(sap))
        while True:
            p = c.recv()
            if p is None or p[0] in (BIND_REJECTED, UNBIND_INDICATION):
                break
            if p[0] == BIND_ACCEPTED:
                return c
        c.sock.close()
        time.sleep(0.05)
    fail("%s: could not bind SAP %d" % (name, sap))


def scenario_oracle(ports):
    """well-formed traffic of every kind the server sends, for Wireshark's
    dissector (SAP 3: no P_MUL decoding); the channel loses half the copies
    and corrupts the rest in bit-error mode, charlie is in EMCON"""
    a, mtu = bound_client("alpha", ports["alpha"], 3, mode=1, confirm=1)
    b, _ = bound_client("bravo", ports["bravo"], 3, mode=3, confirm=0)
    c = Client("charlie", ports["charlie"])
    c.send(bind(3, mode=2, confirm=0))
    c.expect(BIND_ACCEPTED, "BIND_ACCEPTED", skip=())
    body = c.expect(SUBNET_AVAILABILITY, "SUBNET_AVAILABILITY", skip=())
    if body[0] != 2 or body[1] != 1:
        fail("charlie: SUBNET_AVAILABILITY %s, wanted receive-only/EMCON" % body.hex())
    c2 = Client("charlie#2", ports["charlie"])
    c2.send(bind(3))
    if c2.expect(BIND_REJECTED, "BIND_REJECTED", skip=())[0] != 3:
        fail("charlie#2: wanted reason 3")
    a.send(prim(KEEP_ALIVE))
    a.expect(KEEP_ALIVE, "KEEP_ALIVE")
    # ARQ with confirmation (enough retries to beat the loss)
    a.send(unidata("0.0.0.2", 3, b"arq to bravo", prio=6, mode=1, confirm=1))
    b.expect(UNIDATA_INDICATION, "UNIDATA_INDICATION")
    a.expect(CONFIRM, "CONFIRM")
    # expedited
    a.send(prim(24, bytes([3]) + addr("0.0.0.2") + bytes([1 << 4 | 1 << 2, 0]) +
                struct.pack(">HH", 30, 9) + b"expedited"))
    b.expect(25, "EXPEDITED_UNIDATA_INDICATION")
    a.expect(26, "EXPEDITED_UNIDATA_REQUEST_CONFIRM")
    # over the MTU
    a.send(unidata("0.0.0.2", 3, bytes(mtu + 1)))
    if parse_result(a.expect(REJECTED, "REJECTED"))["reason"] != 4:
        fail("over-MTU: wanted reason 4")
    # non-ARQ to the group, 16 copies: bravo and charlie (EMCON nodes receive)
    a.send(unidata("16.0.0.1", 3, b"group", mode=2, confirm=0, min_retx=15))
    b.expect(UNIDATA_INDICATION, "group indication")
    c.expect(UNIDATA_INDICATION, "group indication")
    # non-ARQ with errors until one arrives corrupted, with its block list
    for i in range(60):
        a.send(unidata("0.0.0.2", 3, bytes(range(256)) * 2, mode=3, confirm=0))
        ind = parse_indication(b.expect(UNIDATA_INDICATION, "tx mode 3 indication"))
        if ind["mode"] == 3 and ind.get("n_err", 0) > 0:
            break
    else:
        fail("bravo: no corrupted copy in 60 tries")
    # charlie's client sends: held (EMCON), rejected when its TTL (2 s) ends
    c.send(unidata("0.0.0.1", 3, b"held", mode=2, confirm=0, ttl=1))
    res = parse_result(c.expect(REJECTED, "REJECTED (TTL)"))
    if res["reason"] != 1:
        fail("charlie: wanted TTL expired, got %r" % res)
    c.send(prim(UNBIND_REQUEST))
    for x in (a, b, c, c2):
        x.sock.close()


class Flood:
    """n idle TCP connections to port from the local address src, opened
    non-blocking with at most 64 handshakes in flight; each is "open" until
    the server closes it ("closed": it is then closed here too, to keep
    descriptors).  Nothing is ever sent on them."""

    def __init__(self, name, port, n, src):
        self.name, self.port, self.n, self.src = name, port, n, src
        self.started = 0
        self.socks = {}  # fd -> (socket, start index)
        self.state = {}  # start index -> "pending" | "open" | "closed"
        self.poller = select.poll()

    def count(self, what):
        return sum(1 for v in self.state.values() if v == what)

    def line(self):
        return "%s: started=%d open=%d closed_by_server=%d pending=%d" % (
            self.name, self.started, self.count("open"), self.count("closed"), self.count("pending"))

    def _start(self):
        while self.started < self.n and self.count("pending") < 64:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((self.src, 0))
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", self.port))
            if rc not in (0, errno.EINPROGRESS):
                fail("%s: connect: %s" % (self.name, os.strerror(rc)))
            self.socks[s.fileno()] = (s, self.started)
            self.state[self.started] = "pending"
            self.poller.register(s, select.POLLOUT)
            self.started += 1

    def _close(self, fd):
        s, i = self.socks.pop(fd)
        self.state[i] = "closed"
        self.poller.unregister(fd)
        s.close()

    def pump(self, timeout=0.05):
        """start what is left to start, and note what the server did"""
        self._start()
        for fd, ev in self.poller.poll(timeout * 1000):
            s, i = self.socks[fd]
            if self.state[i] == "pending":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    self._close(fd)
                else:
                    self.state[i] = "open"
                    self.poller.modify(fd, select.POLLIN)
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                fail("%s: the server sent %r to an idle connection" % (self.name, data[:16]))
            self._close(fd)

    def opened(self):
        return [i for i, v in self.state.items() if v == "open"]

    def closed(self):
        return [i for i, v in self.state.items() if v == "closed"]


def pump_until(floods, cond, what, timeout=30.0):
    """pump every flood until cond() holds; fail after timeout seconds"""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            fail("%s not reached within %gs (%s)" % (what, timeout,
                                                     "; ".join(f.line() for f in floods)))
        for f in floods:
            f.pump(0.02)


def timed_bind(name, port, sap, src, bound_s):
    """a client from src binds sap: BIND_ACCEPTED within bound_s seconds"""
    t0 = time.monotonic()
    c = Client(name, port, src)
    c.send(bind(sap))
    try:
        body = c.expect(BIND_ACCEPTED, "BIND_ACCEPTED", timeout=bound_s)
    except (EOFError, ConnectionResetError):
        fail("%s: the simulator closed the connection instead of accepting the bind" % name)
    ms = (time.monotonic() - t0) * 1000
    if body[0] >> 4 != sap:
        fail("%s: BIND_ACCEPTED for SAP %d, wanted %d" % (name, body[0] >> 4, sap))
    return c, ms


def send_and_check(tx, rx, dest, data, src_addr):
    """an ARQ U_PDU with confirmation from tx reaches rx, once, and is confirmed"""
    tx.send(unidata(dest, 2, data, mode=1, confirm=1))
    ind = parse_indication(rx.expect(UNIDATA_INDICATION, "UNIDATA_INDICATION"))
    if ind["updu"] != data or ind["src"] != src_addr:
        fail("%s: indication %r" % (rx.name, ind))
    res = parse_result(tx.expect(CONFIRM, "UNIDATA_REQUEST_CONFIRM"))
    if res["updu"] != data:
        fail("%s: confirm %r" % (tx.name, res))


def scenario_idle_flood(ports, n="500", max_clients="32", per_address="16", bound_s="5"):
    """hundreds of idle connections to alpha do not keep a client from
    binding: the simulator closes the most idle connection (unbound,
    oldest first) of the address at max_clients_per_address, or of the
    node at max_clients; bound clients stay served.  Phase 1: n idle
    connections from 127.0.0.1, then a client from 127.0.0.1 binds and a
    U_PDU goes alpha -> bravo.  Phase 2 (when 127.0.0.2 and 127.0.0.3 can be
    bound): n/2 idle connections from each fill the node's table; the
    first client is still served and a second one still binds."""
    n, max_clients, per, bound_s = int(n), int(max_clients), int(per_address), float(bound_s)
    closed_total = 0
    a = Flood("idle-127.0.0.1", ports["alpha"], n, "127.0.0.1")
    pump_until([a], lambda: a.started == n and a.count("pending") == 0, "%d idle connections" % n)
    print("ok - %d idle connections made to alpha (%d already closed by the simulator)"
          % (n, a.count("closed")))
    c1, ms = timed_bind("alpha-client", ports["alpha"], 2, "127.0.0.1", bound_s)
    print("ok - alpha: bind accepted in %.0f ms with %d idle connections open" % (ms, a.count("open")))
    # the oldest idle connections of 127.0.0.1 made room: per - 1 are left (with the client)
    pump_until([a], lambda: a.count("open") == per - 1 and a.count("closed") == n - per + 1,
               "%d idle connections left open" % (per - 1))
    # oldest first (give or take the 64 handshakes in flight)
    if min(a.opened()) < max(a.closed()) - 64:
        fail("an idle connection started %d is open, one started %d was closed"
             % (min(a.opened()), max(a.closed())))
    print("ok - the simulator closed the %d oldest idle connections of 127.0.0.1, kept the newest %d"
          % (a.count("closed"), a.count("open")))
    b1, _ = bound_client("bravo-client", ports["bravo"], 2)
    send_and_check(c1, b1, "0.0.0.2", b"through the idle crowd", "0.0.0.1")
    print("ok - a U_PDU went alpha -> bravo and was confirmed")
    closed_total = a.count("closed")

    try:
        for src in ("127.0.0.2", "127.0.0.3"):
            socket.socket().bind((src, 0))
    except OSError as e:
        print("# 127.0.0.2/3 cannot be bound (%s): the full-table phase is skipped" % e)
        print("idle connections opened=%d closed_for_room=%d" % (n, closed_total))
        return
    half = n // 2
    b = Flood("idle-127.0.0.2", ports["alpha"], half, "127.0.0.2")
    pump_until([a, b], lambda: b.started == half and b.count("pending") == 0 and
               b.count("open") == per and b.count("closed") == half - per,
               "127.0.0.2 held to %d connections" % per)
    if a.count("open") != per - 1:
        fail("127.0.0.2's connections closed 127.0.0.1's: %s" % a.line())
    print("ok - 127.0.0.2: %d idle connections, %d kept (its own oldest closed), 127.0.0.1's untouched"
          % (half, per))
    # the table is full now (client + per-1 + per = max_clients): 127.0.0.3
    # takes the oldest idle connections of the node: 127.0.0.1's, then 127.0.0.2's
    c = Flood("idle-127.0.0.3", ports["alpha"], half, "127.0.0.3")
    left_b = max_clients - 1 - per
    pump_until([a, b, c], lambda: c.started == half and c.count("pending") == 0 and
               c.count("open") == per and a.count("open") == 0 and b.count("open") == left_b,
               "a full table giving up its oldest idle connections")
    print("ok - table full: 127.0.0.3's connections closed the node's oldest idle ones "
          "(127.0.0.1: %d open, 127.0.0.2: %d, 127.0.0.3: %d)"
          % (a.count("open"), b.count("open"), c.count("open")))
    c2, ms = timed_bind("alpha-client-2", ports["alpha"], 3, "127.0.0.1", bound_s)
    print("ok - alpha: a second bind accepted in %.0f ms with the table full" % ms)
    pump_until([a, b, c], lambda: b.count("open") == left_b - 1, "room made for the second client")
    # both clients are served: the bound one was never taken for an idle one
    send_and_check(c1, b1, "0.0.0.2", b"first client still bound", "0.0.0.1")
    c2.send(unidata("0.0.0.2", 2, b"second client", mode=1, confirm=1))
    ind = parse_indication(b1.expect(UNIDATA_INDICATION, "UNIDATA_INDICATION"))
    if ind["updu"] != b"second client" or ind["src_sap"] != 3:
        fail("bravo-client: %r" % ind)
    c2.expect(CONFIRM, "UNIDATA_REQUEST_CONFIRM")
    print("ok - both alpha clients still send to bravo")
    closed_total = a.count("closed") + b.count("closed") + c.count("closed")
    print("idle connections opened=%d closed_for_room=%d" % (n + 2 * half, closed_total))
    for x in (c1, c2, b1):
        x.sock.close()


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    fn = globals().get("scenario_" + sys.argv[1])
    if not fn:
        fail("no scenario " + sys.argv[1])
    fn(read_ports(sys.argv[2]), *sys.argv[3:])
    print("PASS: " + sys.argv[1])


if __name__ == "__main__":
    main()
