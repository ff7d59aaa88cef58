#!/usr/bin/env python3
"""sis_fake_server.py - a scripted STANAG 5066 SIS server (Annex A) for the
client glue tests: one client over TCP (127.0.0.1, free port written to a
file) or over a serial pty.  It answers BIND_REQUEST with BIND_ACCEPTED,
prints every UNIDATA_REQUEST it gets as a line on stdout, confirms it if
confirmation was asked, and echoes the U_PDU upper-cased back as an
UNIDATA_INDICATION from 0.0.0.9.  Optional misbehaviour: garbage bytes
before the first answer, a first bind refused (reason 3), an
UNBIND_INDICATION after the first request, a hang-up after N requests;
--bad-input: before every BIND_ACCEPTED, garbage, a header with size 0xFFFF,
three primitives of unknown type 99 and three truncated ones; --cut-after N:
on the first connection, after N requests, half a primitive and a hang-up.

--mutate SECONDS or MIX:SECONDS,... (issue 13): a hostile server.  It
answers the first BIND_REQUEST, then for SECONDS sends as fast as it can
primitives of every type a server sends (MIX all), or all but BIND_REJECTED
and UNBIND_INDICATION (MIX bound: the client stays bound, and its user gets
every U_PDU), randomly mutated (seeded by --seed): preamble, version,
size field, type, addresses, U_PDU size fields, truncation, garbage between,
bytes flipped; every BIND_REQUEST is answered with a BIND_ACCEPTED
among them.  The U_PDUs of its UNIDATA_INDICATIONs carry the client
header and P_MUL PDUs with valid checksums from random originators and
Message_IDs (--node: the Destination_ID they address; --raw-updu: random
bytes instead, to measure the SIS side alone).  It reads and drops
what the client sends meanwhile, prints "MUTATE prims=N bytes=B seconds=S
rate=R/s" and hangs up.  With --proxy HOST:PORT the next connection is
then relayed byte for byte to a real SIS server ("PROXY" when it starts).
"""
import argparse
import os
import random
import select
import socket
import struct
import sys
import termios
import threading
import time
import tty

PRE = b"\x90\xeb\x00"


def prim(body):
    return PRE + struct.pack(">H", len(body)) + body


def addr(a, group=0):
    return struct.pack(">I", (7 << 29) | (group << 28) | a)


def addr_str(v):
    v &= 0x1FFFFFFF
    return ".".join(str((v >> s) & 0xFF) for s in (24, 16, 8, 0))


class Conn:
    def __init__(self, rd, wr):
        self.rd, self.wr, self.buf = rd, wr, b""

    def send(self, data):
        self.wr(data)

    def next(self):
        while True:
            i = self.buf.find(PRE)
            if i > 0:
                self.buf = self.buf[i:]
            if len(self.buf) >= 5:
                size = struct.unpack(">H", self.buf[3:5])[0]
                if len(self.buf) >= 5 + size:
                    p, self.buf = self.buf[5:5 + size], self.buf[5 + size:]
                    return p
            data = self.rd()
            if not data:
                return None
            self.buf += data


def bad_input():
    """everything a client must survive and log once: 16 bytes of garbage,
    a size of 0xFFFF (beyond any client's limit) followed by 100 bytes,
    3 x unknown type 99, 3 x BIND_ACCEPTED cut short (size 2)"""
    out = b"\x00garbage\x01junk\x02\x03\x04"
    out += PRE + b"\xff\xff" + bytes([3]) + bytes(range(100))
    out += prim(bytes([99]) + b"unknown") * 3
    out += prim(bytes([3, 0x20])) * 3
    return out

# ---- --mutate: a hostile server ------------------------------------------


def acp142_checksum(pdu):
    """ACP 142 Annex B-3 over the PDU with bytes 6-7 as zero"""
    s0 = s1 = 0
    for i, x in enumerate(pdu):
        if i == 6 or i == 7:
            x = 0
        s0 = (s0 + x) % 255
        s1 = (s1 + s0) % 255
    k = len(pdu) - 7
    return ((k * s0 - s1) % 255) << 8 | ((s1 - (k + 1) * s0) % 255)


class Mutator:
    """random server primitives, valid then mutated, from one seed"""

    def __init__(self, seed, node, bound=False, raw_updu=False):
        self.rnd = random.Random(seed)
        self.raw_updu = raw_updu  # U_PDUs of random bytes only: P_MUL rejects them all
        self.bound = bound  # no BIND_REJECTED or UNBIND_INDICATION: the client stays bound
        self.node = node
        self.updu_id = 0

    def pmul(self):
        """a P_MUL PDU with a valid checksum: Address (to us), Data, Ack,
        Discard or another type, from a random originator and Message_ID"""
        r = self.rnd
        src = r.getrandbits(32) if r.random() < 0.7 else r.randrange(1, 16)
        msgid = r.getrandbits(32)
        ptype = r.choice((0, 0, 2, 2, 2, 1, 3, 4, 5, 6, 7))
        prio = r.randrange(16)
        x = 0
        if ptype == 2:  # Address_PDU: Expiry | count | reserved len | entries
            n = r.randrange(1, 4)
            ids = sorted(set([self.node] + [r.getrandbits(32) for _ in range(n - 1)]))
            body = struct.pack(">IHH", int(time.time()) + r.randrange(-60, 86400 * 30), len(ids), 0)
            body += b"".join(struct.pack(">II", i, r.getrandbits(32) if r.random() < 0.2 else r.randrange(8))
                             for i in ids)
            x = r.choice((1, 2, 5, r.randrange(1, 65536)))
        elif ptype == 0:  # Data_PDU: X = its sequence number
            x = r.randrange(1, 64) if r.random() < 0.8 else r.randrange(1, 65536)
            body = r.randbytes(r.randrange(0, 200))
        elif ptype == 1:  # Ack_PDU: acker | count | entries (the header has no Message_ID)
            ents = b""
            cnt = r.randrange(0, 4)
            for _ in range(cnt):
                miss = b"".join(struct.pack(">H", r.randrange(1, 100)) for _ in range(r.randrange(0, 4)))
                ents += struct.pack(">HII", 10 + len(miss), r.getrandbits(32), r.getrandbits(32)) + miss
            pdu = bytearray(struct.pack(">HBBHHIH", 14 + len(ents), prio, 1, 0, 0, src, cnt) + ents)
            struct.pack_into(">H", pdu, 6, acp142_checksum(pdu))
            return bytes(pdu)
        else:
            body = r.randbytes(r.randrange(0, 40))
        pdu = bytearray(struct.pack(">HBBHHII", 16 + len(body), prio, ptype, x, 0, src, msgid) + body)
        struct.pack_into(">H", pdu, 6, acp142_checksum(pdu))
        return bytes(pdu)

    def updu(self):
        """client header (app 0x2000, sometimes another) and a P_MUL PDU, or bytes"""
        r = self.rnd
        self.updu_id = (self.updu_id + 1) & 0xFF
        if self.raw_updu or r.random() < 0.1:
            return r.randbytes(r.randrange(0, 64))
        app = 0x2000 if r.random() < 0.9 else r.getrandbits(16)
        return bytes([0, self.updu_id, 0, 0]) + struct.pack(">H", app) + self.pmul()

    def addr(self):
        """a 5066 address field: one of the nodes about, or 32 random bits"""
        r = self.rnd
        if r.random() < 0.5:
            return addr(r.choice((1, 2, 3, 9, self.node)))
        return struct.pack(">I", r.getrandbits(32))

    def valid(self):
        """one well-formed server primitive's body (type byte first)"""
        r = self.rnd
        t = r.choice((3, 4, 5, 14, 15, 16, 17, 19, 6, 9, 10, 12, 13,
                      21, 21, 21, 21, 21, 21, 25, 22, 23, 26, 27))
        if self.bound and t in (4, 5):
            t = 21
        if t == 3:
            return bytes([3, 2 << 4]) + struct.pack(">H", r.choice((2048, 4096, 0, 64, 65535)))
        if t in (4, 5):
            return bytes([t, r.randrange(6)])
        if t == 14:
            return bytes([14, r.randrange(7), r.randrange(4)])
        if t in (15, 16, 17):
            return bytes([t])
        if t == 19:
            return bytes([19, r.randrange(256)]) + r.randbytes(r.randrange(0, 32))
        if t in (6, 9, 10, 12, 13):  # hard link: status or reason, link byte, address
            return bytes([t, r.randrange(6), r.getrandbits(8)]) + self.addr()
        if t in (21, 25):
            u = self.updu()
            mode = r.choice((1, 2, 2, 3))
            b = bytes([t, r.randrange(16) << 4 | 2]) + self.addr() + bytes([mode << 4 | 2]) + self.addr()
            b += struct.pack(">H", len(u))
            if mode == 3:
                ne, nn = r.randrange(3), r.randrange(3)
                b += struct.pack(">H", ne) + r.randbytes(4 * ne) + struct.pack(">H", nn) + r.randbytes(4 * nn)
            elif r.random() < 0.05:
                b += bytes(4)  # Rockwell Collins <= 2.1
            return b + u
        u = self.updu()
        return bytes([t, r.randrange(16) << 4 | 2]) + self.addr() + struct.pack(">H", len(u)) + u

    def next(self):
        """one primitive on the wire: valid, or mutated one or more ways"""
        r = self.rnd
        body = bytearray(self.valid())
        raw = bytearray(PRE + struct.pack(">H", len(body)) + body)
        if r.random() < 0.35:
            return bytes(raw)
        for _ in range(r.choice((1, 1, 1, 2, 3))):
            m = r.randrange(10)
            if m == 0 and len(raw) >= 3:  # preamble or version
                raw[r.randrange(3)] = r.getrandbits(8)
            elif m == 1 and len(raw) >= 5:  # size field
                size = r.choice((0, 1, 0xFFFF, len(raw) - 5 + r.randrange(-8, 9), r.getrandbits(16)))
                struct.pack_into(">H", raw, 3, max(0, min(0xFFFF, size)))
            elif len(raw) < 6:
                raw += r.randbytes(r.randrange(1, 8))
            elif m == 2:  # type
                raw[5] = r.choice((r.randrange(28), r.getrandbits(8)))
                if self.bound and raw[5] in (4, 5):
                    raw[5] = 21
            elif m == 3 and len(raw) >= 11:  # an address (at 7 in most types)
                struct.pack_into(">I", raw, 7, r.getrandbits(32))
            elif m == 4 and raw[5] in (21, 25) and len(raw) >= 18:  # the U_PDU size of an indication
                struct.pack_into(">H", raw, 16, r.choice((0, 0xFFFF, r.getrandbits(16),
                                                          max(0, len(raw) - 18 + r.randrange(-6, 7)))))
            elif m == 5:  # cut short
                raw = raw[:r.randrange(len(raw))]
            elif m == 6:  # garbage in front, sometimes with a false preamble
                g = r.randbytes(r.randrange(1, 64))
                if r.random() < 0.3:
                    g += PRE
                raw = bytearray(g) + raw
            elif m == 7:  # bytes flipped anywhere
                for _ in range(r.randrange(1, 4)):
                    if raw:
                        raw[r.randrange(len(raw))] ^= 1 << r.randrange(8)
            elif m == 8:  # a long tail
                raw += r.randbytes(r.randrange(1, 300))
            else:  # a byte of a field in the body
                if len(raw) > 6:
                    raw[r.randrange(6, len(raw))] = r.getrandbits(8)
        return bytes(raw)


def drain(sock, stop, binds):
    """read what the client sends until stop is set or it closes; its
    BIND_REQUESTs are counted in binds[0] (the sender answers them)"""
    buf = b""
    while not stop.is_set():
        rl, _, _ = select.select([sock], [], [], 0.2)
        if not rl:
            continue
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        buf += data
        while True:
            i = buf.find(PRE)
            if i < 0:
                buf = buf[-2:]  # perhaps the start of a preamble
                break
            if len(buf) < i + 6:
                buf = buf[i:]
                break
            size = struct.unpack(">H", buf[i + 3:i + 5])[0]
            if len(buf) < i + 5 + size:
                buf = buf[i:]
                break
            if buf[i + 5] == 1:
                binds[0] += 1
            buf = buf[i + 5 + size:]


def mutate(s, conn, args):
    """answer the bind, then send mutated primitives, phase by phase (args.phases)"""
    while True:
        p = conn.next()
        if p is None:
            print("EOF", flush=True)
            return
        if p[0] == 1:
            print("BIND sap=%d rank=%d" % (p[1] >> 4, p[1] & 15), flush=True)
            conn.send(prim(bytes([3, p[1] & 0xF0]) + struct.pack(">H", args.mtu)))
            break
    stop = threading.Event()
    binds = [0]
    reader = threading.Thread(target=drain, args=(s, stop, binds), daemon=True)
    reader.start()
    m = Mutator(args.seed, args.node, raw_updu=args.raw_updu)
    start = time.monotonic()
    nprims = nbytes = answered = 0
    try:
        for mix, secs in args.phases:
            m.bound = mix == "bound"
            end = time.monotonic() + secs
            while time.monotonic() < end:
                batch = []
                while answered < binds[0]:  # a server answers every bind
                    answered += 1
                    batch.append(prim(bytes([3, 2 << 4]) + struct.pack(">H", args.mtu)))
                for _ in range(64):
                    batch.append(m.next())
                data = b"".join(batch)
                s.sendall(data)
                nprims += len(batch)
                nbytes += len(data)
    except OSError as e:
        print("MUTATE send failed: %s" % e, flush=True)
    secs = time.monotonic() - start
    stop.set()
    reader.join()
    print("MUTATE prims=%d bytes=%d seconds=%.1f rate=%d/s binds=%d" % (nprims, nbytes, secs, nprims / secs,
                                                                      binds[0]), flush=True)


def proxy(s, target):
    """relay bytes between the client and a real SIS server until one closes"""
    host, port = target.rsplit(":", 1)
    up = socket.create_connection((host, int(port)))
    print("PROXY", flush=True)
    pair = {s: up, up: s}
    try:
        while True:
            rl, _, _ = select.select(list(pair), [], [])
            for r in rl:
                data = r.recv(65536)
                if not data:
                    return
                pair[r].sendall(data)
    except OSError:
        pass
    finally:
        up.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portfile")
    ap.add_argument("--serial")
    ap.add_argument("--mtu", type=int, default=2048)
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--reject-first-bind", action="store_true")
    ap.add_argument("--unbind-after-first", action="store_true")
    ap.add_argument("--hangup-after", type=int, default=0)
    ap.add_argument("--bad-input", action="store_true")
    ap.add_argument("--cut-after", type=int, default=0)
    ap.add_argument("--count", type=int, default=0, help="exit after this many requests")
    ap.add_argument("--connections", type=int, default=1, help="serve this many clients in turn")
    ap.add_argument("--mutate", help="SECONDS, or MIX:SECONDS,... of mutated primitives; MIX all, or "
                    "bound (no BIND_REJECTED or UNBIND_INDICATION: the client stays bound)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--raw-updu", action="store_true",
                    help="U_PDUs of random bytes, no P_MUL PDU (--mutate): the SIS side alone")
    ap.add_argument("--node", default="0.0.0.1", help="the client's Destination_ID (--mutate)")
    ap.add_argument("--proxy", help="HOST:PORT of a real server for the connection after --mutate")
    args = ap.parse_args()
    args.node = struct.unpack(">I", socket.inet_aton(args.node))[0]
    args.phases = []
    for ph in (args.mutate or "").split(",") if args.mutate else []:
        mix, _, secs = ph.rpartition(":")
        if mix not in ("", "all", "bound"):
            ap.error("--mutate: no mix %r" % mix)
        args.phases.append((mix or "all", float(secs)))

    if args.serial:
        fd = os.open(args.serial, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        conn = Conn(lambda: os.read(fd, 4096), lambda d: os.write(fd, d))
        print("READY", flush=True)
    else:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        with open(args.portfile + ".tmp", "w") as f:
            f.write(str(ls.getsockname()[1]))
        os.rename(args.portfile + ".tmp", args.portfile)
        print("READY", flush=True)
        if args.mutate:
            s, _ = ls.accept()
            print("ACCEPT 1", flush=True)
            mutate(s, Conn(lambda: s.recv(4096), s.sendall), args)
            s.close()
            if args.proxy:
                s, _ = ls.accept()
                print("ACCEPT 2", flush=True)
                proxy(s, args.proxy)
                s.close()
            return
        for i in range(args.connections):
            s, _ = ls.accept()
            print("ACCEPT %d" % (i + 1), flush=True)
            serve(Conn(lambda: s.recv(4096), s.sendall), args, first=i == 0)
            hang_up(s)
        return
    serve(conn, args)


def hang_up(s):
    """Close as a server that hangs up does: no more data from us (FIN), then
    read and discard what the client still sends until it closes too.  A
    close() with unread data would send a reset instead, and the client could
    lose what we sent last (and see no hang-up)."""
    try:
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()


def serve(conn, args, first=True):
    binds = requests = 0
    unbound = False
    while True:
        p = conn.next()
        if p is None:
            print("EOF", flush=True)
            return
        t = p[0]
        if t == 1:  # BIND_REQUEST
            binds += 1
            sap = p[1] >> 4
            print("BIND sap=%d rank=%d" % (sap, p[1] & 15), flush=True)
            if args.garbage and binds == 1:
                conn.send(b"\x00garbage\x90\xeb\x07junk")
            if args.bad_input:
                conn.send(bad_input())
            if args.reject_first_bind and binds == 1:
                conn.send(prim(bytes([4, 3])))
            else:
                conn.send(prim(bytes([3, sap << 4]) + struct.pack(">H", args.mtu)))
                unbound = False
        elif t == 17:  # KEEP_ALIVE
            print("KEEPALIVE", flush=True)
            conn.send(prim(bytes([17])))
        elif t in (20, 24) and unbound:  # Annex A: not bound, not served
            print("IGNORED type=%d" % t, flush=True)
        elif t in (20, 24):  # UNIDATA_REQUEST
            requests += 1
            prio, sap = p[1] >> 4, p[1] & 15
            dest = struct.unpack(">I", p[2:6])[0]
            mode = p[6] >> 4
            confirm = (p[6] >> 2) & 3
            ttl = ((p[7] & 15) << 16) | struct.unpack(">H", p[8:10])[0]
            size = struct.unpack(">H", p[10:12])[0]
            updu = p[12:12 + size]
            print("REQ type=%d prio=%d sap=%d dest=%s mode=%d confirm=%d ttl=%d len=%d data=%s"
                  % (t, prio, sap, addr_str(dest), mode, confirm, ttl, size, updu.hex()), flush=True)
            if confirm:
                conn.send(prim(bytes([22 if t == 20 else 26, sap]) + p[2:6] + struct.pack(">H", size) + updu))
            if args.unbind_after_first and requests == 1:
                conn.send(prim(bytes([5, 1])))
                unbound = True
                continue
            body = bytes([21, (prio << 4) | sap]) + addr(1) + bytes([(mode << 4) | sap]) + addr(9)
            conn.send(prim(body + struct.pack(">H", size) + updu.upper()))
            if first and args.cut_after and requests >= args.cut_after:
                conn.send(PRE + struct.pack(">H", 40) + bytes([21]) + b"cut")
                print("CUT", flush=True)
                return
            if args.hangup_after and requests >= args.hangup_after:
                print("HANGUP", flush=True)
                return
            if args.count and requests >= args.count:
                return
        else:
            print("OTHER type=%d" % t, flush=True)


if __name__ == "__main__":
    main()
