#!/usr/bin/env python3
"""sis_bad_peer.py - bad SIS clients for s5066sim (STANAG 5066 Annex A
S_Primitives built by hand: 90 EB | 00 | size:16 | type | body).

    python3 sis_bad_peer.py kinds PORT
        one connection per kind of bad input; prints "peer KIND HOST:PORT"
        (the connection's own address, as the simulator logs it) and
        "ok KIND ..." with what the server did
    python3 sis_bad_peer.py flood PORT N RELEASE [KEEP]
        open N connections (non-blocking, up to 64 handshakes at a time),
        print "flood settled ..." once all are made and exactly KEEP are
        left open (the others closed by the server), wait until the file
        RELEASE exists, close them all, print "flood released ..."

Exit 0 on success; "FAIL: ..." and exit 1 otherwise.
"""
import errno
import os
import random
import select
import socket
import struct
import sys
import time

PRE = b"\x90\xeb\x00"
KEEP_ALIVE, UNBIND_INDICATION, UNIDATA_REQUEST = 17, 5, 20
TIMEOUT = 15.0


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def prim(ptype, body=b""):
    return PRE + struct.pack(">HB", 1 + len(body), ptype) + body


def garbage(n, rnd):
    """n random bytes with no 90 EB in them (nothing to resynchronise on)"""
    out = bytearray(rnd.randrange(256) for _ in range(n))
    for i in range(n):
        if out[i] == 0x90:
            out[i] = 0x91
    return bytes(out)


class Peer:
    def __init__(self, kind, port):
        self.kind = kind
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        host, p = self.sock.getsockname()[:2]
        print("peer %s %s:%d" % (kind, host, p), flush=True)

    def send(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=TIMEOUT):
        """the next primitive's (type, body), None on timeout, "eof" at close"""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                if self.buf[:3] != PRE:
                    fail("%s: bad preamble from the server: %r" % (self.kind, self.buf[:8]))
                size = struct.unpack(">H", self.buf[3:5])[0]
                if len(self.buf) >= 5 + size:
                    p, self.buf = self.buf[5:5 + size], self.buf[5 + size:]
                    return p[0], p[1:]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return "eof"
            if not chunk:
                return "eof"
            self.buf += chunk

    def still_served(self):
        """KEEP_ALIVE must be answered: the server resynchronised and still serves us"""
        self.send(prim(KEEP_ALIVE))
        while True:
            p = self.recv()
            if p is None or p == "eof":
                fail("%s: no KEEP_ALIVE answer after the bad input (%r)" % (self.kind, p))
            if p[0] == KEEP_ALIVE:
                return

    def close(self):
        self.sock.close()


def scenario_kinds(port):
    rnd = random.Random(5066)

    # garbage: 8 kB with no preamble in it, in several writes
    p = Peer("garbage", port)
    for _ in range(8):
        p.send(garbage(1024, rnd))
    p.still_served()
    p.close()
    print("ok garbage: 8192 bytes skipped, KEEP_ALIVE still answered", flush=True)

    # truncated primitives: the size field ends before the fields do
    p = Peer("truncated", port)
    p.send(prim(UNIDATA_REQUEST, b"\x02"))
    p.send(prim(UNIDATA_REQUEST, b"\x02\xe0\x00\x00"))
    p.send(prim(1, b""))  # BIND_REQUEST without its 3 bytes
    p.still_served()
    p.close()
    print("ok truncated: 3 truncated primitives, KEEP_ALIVE still answered", flush=True)

    # size 0xFFFF: the largest primitive, whose fields do not add up
    p = Peer("size-ffff", port)
    body = bytes([UNIDATA_REQUEST, 0x02, 0xE0, 0, 0, 2, 0x10, 0, 0, 0, 0, 10]) + garbage(0xFFFF - 12, rnd)
    p.send(PRE + struct.pack(">H", 0xFFFF) + body)
    p.still_served()
    p.close()
    print("ok size-ffff: a 65535-byte primitive refused, KEEP_ALIVE still answered", flush=True)

    # unknown types: 0, 99, 255
    p = Peer("unknown-type", port)
    for t in (0, 99, 255):
        p.send(prim(t, b"xyz"))
    p.still_served()
    p.close()
    print("ok unknown-type: types 0, 99, 255 refused, KEEP_ALIVE still answered", flush=True)

    # the peer closes in the middle of a primitive (header says 0xFFFF)
    p = Peer("mid-primitive", port)
    p.send(PRE + struct.pack(">H", 0xFFFF) + bytes([UNIDATA_REQUEST]) + b"\x02" * 99)
    p.close()
    print("ok mid-primitive: closed after 105 of 65540 bytes", flush=True)

    # one peer that goes on and on: unbound with reason 3 at the limit, closed
    p = Peer("persistent", port)
    try:
        p.send(prim(99, b"again") * 100)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed on us already: what it said is still to be read
    while True:
        r = p.recv()
        if r is None:
            fail("persistent: neither UNBIND_INDICATION nor close")
        if r == "eof":
            fail("persistent: closed without UNBIND_INDICATION")
        if r[0] == UNBIND_INDICATION:
            if r[1][:1] != b"\x03":
                fail("persistent: UNBIND_INDICATION reason %r, wanted 3" % r[1][:1])
            break
    if p.recv() != "eof":
        fail("persistent: not closed after UNBIND_INDICATION")
    p.close()
    print("ok persistent: 100 unknown primitives: UNBIND_INDICATION reason 3 and close", flush=True)


def scenario_flood(port, n, release, keep=None):
    """n connections, at most 8 handshakes in flight (a full accept queue
    drops SYNs, and the kernel would wait a second to retry); each ends
    "open" or "closed" (by the server)"""
    state = {}  # fd -> "pending" | "open" | "closed"
    socks = {}
    poller = select.poll()
    started = 0
    announced = False
    deadline = time.monotonic() + 60
    while True:
        while started < n and sum(1 for v in state.values() if v == "pending") < 64:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", port))
            if rc not in (0, errno.EINPROGRESS):
                fail("flood: connect: %s" % os.strerror(rc))
            socks[s.fileno()] = s
            state[s.fileno()] = "pending"
            poller.register(s, select.POLLOUT)
            started += 1
        for fd, ev in poller.poll(100):
            s = socks[fd]
            if state[fd] == "pending":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    state[fd] = "closed"
                    poller.unregister(fd)
                else:
                    state[fd] = "open"
                    poller.modify(fd, select.POLLIN)
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                state[fd] = "closed"
                poller.unregister(fd)
        count = {k: sum(1 for v in state.values() if v == k) for k in ("pending", "open", "closed")}
        line = "started=%d open=%d closed_by_server=%d pending=%d" % (
            started, count["open"], count["closed"], count["pending"])
        if not announced:
            print("flood begun", flush=True)
            announced = True
        if keep is not None and started == n and count["open"] == keep and count["closed"] == n - keep:
            print("flood settled " + line, flush=True)
            keep = None
        if os.path.exists(release):
            break
        if time.monotonic() > deadline:
            fail("flood: %s never appeared (%s)" % (release, line))
    print("flood released " + line, flush=True)
    for s in socks.values():
        s.close()


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "kinds":
        scenario_kinds(int(sys.argv[2]))
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "flood":
        scenario_flood(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                       int(sys.argv[5]) if len(sys.argv) == 6 else None)
    else:
        print(__doc__)
        sys.exit(2)
    print("PASS: " + sys.argv[1], flush=True)


if __name__ == "__main__":
    main()
