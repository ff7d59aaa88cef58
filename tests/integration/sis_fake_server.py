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
"""
import argparse
import os
import socket
import struct
import sys
import termios
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
    args = ap.parse_args()

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
