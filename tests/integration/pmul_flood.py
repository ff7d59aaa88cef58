#!/usr/bin/env python3
"""pmul_flood.py - a hostile (and a well-behaved) P_MUL peer over UDP
(ACP 142 Annex B: Address/Data_PDUs to the multicast group on port
BASE+2, Ack_PDUs back on BASE+3) for the receive-limit tests
(tests/integration/pmul_orphan_flood.sh, pmul_amplify.sh, pmul_rx_slots.sh).

    pmul_flood.py probe
        print "BASE GROUP": a free port block and a multicast group that
        loop back on lo (nothing printed when multicast does not work)
    pmul_flood.py GROUP BASE PID orphans SRC N
        N one-byte Data_PDUs (Sequence_Number 1) of Message_IDs 1..N from
        Source_ID SRC, none with an Address_PDU: orphans
    pmul_flood.py GROUP BASE PID amplify SRC N DEST
        N messages that claim the most a PDU can: a one-byte Data_PDU with
        Sequence_Number 65535, then an Address_PDU naming DEST with
        Total_Number_of_PDUs 65535
    pmul_flood.py GROUP BASE PID messages SRC N DEST
        N complete messages (Address_PDU naming DEST, then two Data_PDUs),
        one after the other, each awaited until DEST acknowledges it whole
    pmul_flood.py GROUP BASE PID valid SRC DEST
        one complete message of 3 Data_PDUs; awaits DEST's complete ack

SRC and DEST are IPv4 addresses, which are the node ids over UDP; the
PDUs go out from SRC (so acks come back to SRC:BASE+3).  PID is the
receiver: after every burst the tool waits until that process has read
its data socket empty (/proc/net/udp), so no datagram is lost to a full
socket buffer; it prints the socket's drop count at the end.  Exit 0, or
1 when an acknowledgement does not come within the time allowed.
"""
import os
import random
import socket
import struct
import sys
import time

BURST = 100
ACK_WAIT = 30.0


def fletcher(pdu):
    """fletcher - the ACP 142 Annex B-3 checksum of a PDU (bytes 6-7 zero)"""
    c0 = c1 = 0
    for b in pdu:
        c0 = (c0 + b) % 255
        c1 = (c1 + c0) % 255
    n = len(pdu) - 7
    x = (n * c0 - c1) % 255
    y = (c1 - (n + 1) * c0) % 255
    return (x << 8) | y


def pdu(ptype, x, src, msgid, body, prio=6):
    """pdu - a P_MUL PDU with the common header and its checksum"""
    length = 16 + len(body)
    b = bytearray(struct.pack(">HBBHHII", length, prio, ptype, x, 0, src, msgid) + body)
    struct.pack_into(">H", b, 6, fletcher(b))
    return bytes(b)


def data_pdu(src, msgid, seq, data):
    """data_pdu - Data_PDU seq of (src, msgid)"""
    return pdu(0, seq, src, msgid, data)


def address_pdu(src, msgid, total, dest, msn, expiry):
    """address_pdu - Address_PDU naming one destination"""
    return pdu(2, total, src, msgid, struct.pack(">IHHII", expiry, 1, 0, dest, msn))


def ip_id(a):
    """ip_id - an IPv4 address as its 32-bit node id"""
    return struct.unpack(">I", socket.inet_aton(a))[0]


def probe():
    """probe - a port block and group that work on loopback"""
    for _ in range(50):
        base = random.randrange(20000, 60000, 4)
        group = "239.%d.%d.%d" % (random.randrange(1, 255), random.randrange(0, 256),
                                  random.randrange(1, 255))
        socks = []
        try:
            for i in range(4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(r)
            r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            r.bind((group, base + 2))
            r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                         socket.inet_aton(group) + socket.inet_aton("127.0.0.1"))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            s.bind(("127.0.0.2", 0))
            s.sendto(b"probe", (group, base + 2))
            r.settimeout(2)
            if r.recv(16) == b"probe":
                print(base, group)
                return 0
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    return 0


class Peer:
    """Peer - sends to the group from SRC, hears acks on SRC:BASE+3"""

    def __init__(self, group, base, pid, src):
        self.group, self.base, self.pid = group, base, pid
        self.src = src
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        self.tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        self.tx.bind((src, 0))
        self.ack = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ack.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ack.bind((src, base + 3))
        self.sent = 0

    def inodes(self):
        """inodes - the receiver's socket inodes"""
        out = set()
        fd_dir = "/proc/%d/fd" % self.pid
        for fd in os.listdir(fd_dir):
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(link[8:-1])
        return out

    def data_socket(self):
        """data_socket - (rx_queue, drops) of the receiver's socket on BASE+2"""
        mine = self.inodes()
        with open("/proc/net/udp") as f:
            for line in f.readlines()[1:]:
                w = line.split()
                port = int(w[1].split(":")[1], 16)
                if port == self.base + 2 and w[9] in mine:
                    return int(w[4].split(":")[1], 16), int(w[12])
        return 0, 0

    def drained(self):
        """drained - wait until the receiver has read everything sent so far"""
        for _ in range(20000):
            queued, _ = self.data_socket()
            if queued == 0:
                return
            time.sleep(0.001)
        raise SystemExit("pmul_flood: the receiver does not read its socket")

    def send(self, b):
        """send - one PDU to the group, pacing in bursts"""
        self.tx.sendto(b, (self.group, self.base + 2))
        self.sent += 1
        if self.sent % BURST == 0:
            self.drained()

    def wait_ack(self, msgid, wait=ACK_WAIT):
        """wait_ack - until an Ack_PDU acknowledges msgid whole; False on timeout"""
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.ack.settimeout(left)
            try:
                b = self.ack.recv(65535)
            except socket.timeout:
                return False
            if len(b) < 14 or b[3] & 0x3F != 1:
                continue
            count = struct.unpack_from(">H", b, 12)[0]
            off = 14
            for _ in range(count):
                if off + 10 > len(b):
                    break
                elen, esrc, emsg = struct.unpack_from(">HII", b, off)
                if esrc == ip_id(self.src) and emsg == msgid and elen == 10:
                    return True
                off += max(elen, 10)

    def done(self):
        """done - report the receiver socket's drops"""
        self.drained()
        _, drops = self.data_socket()
        print("pmul_flood: sent=%d receiver_socket_drops=%d" % (self.sent, drops))


def main(argv):
    """main - one command"""
    if len(argv) >= 2 and argv[1] == "probe":
        return probe()
    if len(argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    group, base, pid, cmd, src = argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5]
    p = Peer(group, base, pid, src)
    sid = ip_id(src)
    expiry = int(time.time()) + 3600
    if cmd == "orphans":
        n = int(argv[6])
        for msgid in range(1, n + 1):
            p.send(data_pdu(sid, msgid, 1, b"x"))
        p.done()
        return 0
    if cmd == "amplify":
        n, dest = int(argv[6]), ip_id(argv[7])
        for msgid in range(1, n + 1):
            p.send(data_pdu(sid, msgid, 65535, b"x"))
            p.send(address_pdu(sid, msgid, 65535, dest, msgid, expiry))
        p.done()
        return 0
    if cmd == "messages":
        n, dest = int(argv[6]), ip_id(argv[7])
        acked = 0
        for msgid in range(1, n + 1):
            p.send(address_pdu(sid, msgid, 2, dest, msgid, expiry))
            p.send(data_pdu(sid, msgid, 1, b"message %d part 1\n" % msgid))
            p.send(data_pdu(sid, msgid, 2, b"message %d part 2\n" % msgid))
            if not p.wait_ack(msgid, 10.0):
                print("pmul_flood: message %d not acknowledged" % msgid)
                break
            acked += 1
        print("pmul_flood: messages=%d acked=%d" % (n, acked))
        p.done()
        return 0 if acked == n else 1
    if cmd == "valid":
        dest = ip_id(argv[6])
        msgid = 4242
        p.send(address_pdu(sid, msgid, 3, dest, 1, expiry))
        for seq in (1, 2, 3):
            p.send(data_pdu(sid, msgid, seq, b"valid message part %d\n" % seq))
        ok = p.wait_ack(msgid)
        print("pmul_flood: valid message msgid=%d acked=%s" % (msgid, "yes" if ok else "no"))
        p.done()
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
