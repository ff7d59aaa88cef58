#!/usr/bin/env python3
"""pmul_jpmul_peer.py - a P_MUL peer over UDP (ACP 142 Annex B) that reads
ACP 142 the way libjpmul does (tests/data/pmul/acp142-libjpmul/README.md):
its Ack_Info_Entries carry the ACKING node's own id as Source_ID, its Ack_PDUs
have priority 0, and it pads short Data_PDUs with zeros beyond Length_of_PDU.
For tests/integration/pmul_jpmul.sh.

    pmul_jpmul_peer.py GROUP BASE PID send ME DEST CONVENTION
        send one message of three Data_PDUs (each padded with zeros to 64
        bytes) from ME to DEST (pmulcat, process PID), and wait for DEST's
        Ack_PDU acknowledging it whole with CONVENTION in its entry's
        Source_ID: "acker" (DEST's own id) or "originator" (ours)
    pmul_jpmul_peer.py GROUP BASE receive ME SRC
        receive one message for ME from SRC on the group, acknowledge it
        the libjpmul way (entry Source_ID = ME, priority 0) to SRC:BASE+3,
        and print "received len=N"

ME, DEST and SRC are IPv4 addresses, the node ids over UDP.  Exit 0, or 1
when nothing right came within 30 s.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmul_flood import Peer, address_pdu, data_pdu, fletcher, ip_id  # noqa: E402

WAIT = 30.0


def ack_entries(b):
    """ack_entries - [(Source_ID, Message_ID, entry length)] of an Ack_PDU, or None"""
    if len(b) < 14 or b[3] & 0x3F != 1:
        return None
    count = struct.unpack_from(">H", b, 12)[0]
    out, off = [], 14
    for _ in range(count):
        if off + 10 > len(b):
            break
        elen, esrc, emsg = struct.unpack_from(">HII", b, off)
        out.append((esrc, emsg, elen))
        off += max(elen, 10)
    return out


def send(group, base, pid, me, dest, convention):
    """send - a padded message to dest; wait for its ack in the convention"""
    p = Peer(group, base, pid, me)
    sid, did = ip_id(me), ip_id(dest)
    msgid = 0x6B03C0D8
    parts = [b"Hello from a libjpmul-style peer, part %d\n" % i for i in (1, 2, 3)]
    p.send(address_pdu(sid, msgid, len(parts), did, 1, int(time.time()) + 3600))
    for seq, part in enumerate(parts, 1):
        p.send(data_pdu(sid, msgid, seq, part).ljust(64, b"\0"))
    want = did if convention == "acker" else sid
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        p.ack.settimeout(max(0.1, end - time.monotonic()))
        try:
            b = p.ack.recv(65535)
        except socket.timeout:
            break
        for esrc, emsg, elen in ack_entries(b) or []:
            if emsg == msgid and elen == 10:
                print("ack source_id=%s (%s)" % (socket.inet_ntoa(struct.pack(">I", esrc)),
                                                 "acker" if esrc == did else "originator" if esrc == sid else "?"))
                return 0 if esrc == want else 1
    print("no complete ack for message 0x%x" % msgid)
    return 1


def receive(group, base, me, src):
    """receive - one message for me; ack it the libjpmul way"""
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    r.bind((group, base + 2))
    r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton("127.0.0.1"))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind((me, 0))
    print("ready", flush=True)
    mid, sid = ip_id(me), ip_id(src)
    total, parts, msgid = None, {}, None
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        r.settimeout(max(0.1, end - time.monotonic()))
        try:
            b = r.recv(65535)
        except socket.timeout:
            break
        if len(b) < 16:
            continue
        length, _prio, ptype, x, _ck, s, m = struct.unpack_from(">HBBHHII", b)
        ptype &= 0x3F
        if s != sid:
            continue
        if ptype == 2 and length >= 28:  # Address_PDU: is it for us?
            count = struct.unpack_from(">H", b, 20)[0]
            dests = [struct.unpack_from(">I", b, 24 + 8 * i)[0] for i in range(count)]
            if mid in dests:
                total, msgid = x, m
        elif ptype == 0 and (msgid is None or m == msgid):
            parts[x] = b[16:length]
            msgid = m
        if total and len(parts) == total:
            break
    if not total or len(parts) != total:
        print("incomplete: %d of %s Data_PDUs" % (len(parts), total))
        return 1
    data = b"".join(parts[i] for i in range(1, total + 1))
    # the libjpmul ack: priority 0, the acker's own id in the entry
    body = struct.pack(">IH", mid, 1) + struct.pack(">HII", 10, mid, msgid)
    ack = bytearray(struct.pack(">HBBHH", 8 + len(body), 0, 1, 0, 0) + body)
    struct.pack_into(">H", ack, 6, fletcher(ack))
    for _ in range(3):  # UDP: the ack may be lost; the sender takes it once
        tx.sendto(bytes(ack), (src, base + 3))
        time.sleep(0.2)
    print("received len=%d" % len(data), flush=True)
    return 0


def main(argv):
    """main - one command"""
    if len(argv) >= 8 and argv[4] == "send":
        return send(argv[1], int(argv[2]), int(argv[3]), argv[5], argv[6], argv[7])
    if len(argv) >= 6 and argv[3] == "receive":
        return receive(argv[1], int(argv[2]), argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
