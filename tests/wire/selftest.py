#!/usr/bin/env python3
"""selftest.py - the wire judge's own test: it writes small pcaps by hand
(classic pcap; Ethernet or BSD loopback framing, IPv4, TCP to a SIS port;
and link type 237 STANAG 5066 D_PDUs), clean ones and one per fault, runs
wire_judge.py on each and checks its verdict and counters.

Bytes are built here, independently of the judge's code: STANAG 5066
Annex A S_Primitives, the STANAG 4406 Annex E client header, ACP 142 P_MUL
PDUs with their Annex B-3 checksum (the check bytes solved from the two
Fletcher sums), RFC 8494 CompressedData (BER) around zlib, Annex C D_PDUs
with their CRCs (a bitwise CRC, reflected).  Golden bytes: the P_MUL PDUs
of libjpmul, an independent ACP 142 implementation
(tests/data/pmul/acp142-libjpmul), and the RFC 8494 example CompressedData
(tests/data/mule/rfc8494_example.cdt).

    python3 selftest.py JUDGE DATA_DIR OUT_DIR

Prints "ok - ..." / "not ok - ..." per check; exits 1 if any check failed.
"""
import os
import re
import struct
import subprocess
import sys
import zlib

JUDGE, DATA, OUT = sys.argv[1:4]
PORT = 25066
FAILED = []


# ---- pcap writing ----------------------------------------------------------

def ip_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Pcap:
    """a classic pcap file (little-endian, microseconds)"""

    def __init__(self, path, linktype):
        self.f = open(path, "wb")
        self.linktype = linktype
        self.usec = 0
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))

    def record(self, data):
        self.usec += 1000
        self.f.write(struct.pack("<IIII", 1700000000 + self.usec // 1000000, self.usec % 1000000,
                                 len(data), len(data)) + data)

    def close(self):
        self.f.close()


class Tcp:
    """one TCP connection on loopback, handshake included; c2s/s2c send a segment"""
    LO = bytes([127, 0, 0, 1])

    def __init__(self, pcap, port=PORT, client_port=41000):
        self.p, self.port, self.cport = pcap, port, client_port
        self.cseq, self.sseq = 100000, 700000
        self.ipid = 1
        self.seg(True, 0x02)
        self.cseq += 1
        self.seg(False, 0x12)
        self.sseq += 1
        self.seg(True, 0x10)

    def seg(self, from_client, flags, payload=b""):
        sp, dp = (self.cport, self.port) if from_client else (self.port, self.cport)
        seq, ack = (self.cseq, self.sseq) if from_client else (self.sseq, self.cseq)
        th = struct.pack("!HHIIBBHHH", sp, dp, seq, ack if flags & 0x10 else 0, 5 << 4, flags,
                         65535, 0, 0)
        pseudo = self.LO + self.LO + struct.pack("!BBH", 0, 6, len(th) + len(payload))
        th = th[:16] + struct.pack("!H", ip_sum(pseudo + th + payload)) + th[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(th) + len(payload), self.ipid, 0x4000,
                         64, 6, 0, self.LO, self.LO)
        self.ipid += 1
        ip = ip[:10] + struct.pack("!H", ip_sum(ip)) + ip[12:]
        if self.p.linktype == 1:      # Ethernet II, zero MACs as on lo
            link = b"\0" * 12 + b"\x08\x00"
        else:                         # 0: BSD loopback, AF_INET in host (here: file) order
            link = struct.pack("<I", 2)
        self.p.record(link + ip + th + payload)

    def c2s(self, data):
        self.seg(True, 0x18, data)
        self.cseq += len(data)

    def s2c(self, data):
        self.seg(False, 0x18, data)
        self.sseq += len(data)

    def close(self):
        self.seg(True, 0x11)
        self.cseq += 1
        self.seg(False, 0x11)
        self.sseq += 1
        self.seg(True, 0x10)


# ---- STANAG 5066 Annex A -------------------------------------------------------

def prim(ptype, body=b""):
    """preamble 90 EB, version 0, size (type byte and body), type, body"""
    return b"\x90\xeb\x00" + struct.pack(">HB", 1 + len(body), ptype) + body


def addr(dotted):
    a, b, c, d = (int(x) for x in dotted.split("."))
    return struct.pack(">I", 7 << 29 | a << 24 | b << 16 | c << 8 | d)


def bind_request(sap):
    return prim(1, bytes([sap << 4, 0x20, 0x00]))         # non-ARQ, no confirm


def bind_accepted(sap, mtu=2048):
    return prim(3, bytes([sap << 4]) + struct.pack(">H", mtu))


def unidata_request(dest, sap, updu, ptype=20, mode=2, confirm=0, size=None):
    return prim(ptype, bytes([6 << 4 | sap]) + addr(dest) + bytes([mode << 4 | confirm << 2, 0])
                + struct.pack(">HH", 60, len(updu) if size is None else size) + updu)


def unidata_indication(dest, src, sap, updu, ptype=21, mode=2, blocks=None, size=None):
    mid = b""
    if mode == 3:
        errs, nrx = blocks or ([], [])
        mid = struct.pack(">H", len(errs)) + b"".join(struct.pack(">HH", *e) for e in errs) \
            + struct.pack(">H", len(nrx)) + b"".join(struct.pack(">HH", *e) for e in nrx)
    return prim(ptype, bytes([9 << 4 | sap]) + addr(dest) + bytes([mode << 4 | sap]) + addr(src)
                + struct.pack(">H", len(updu) if size is None else size) + mid + updu)


def unidata_result(dest, sap, updu, ptype=22, reason=0, size=None):
    return prim(ptype, bytes([reason << 4 | sap]) + addr(dest)
                + struct.pack(">H", len(updu) if size is None else size) + updu)


CLIENT_HDR = bytes([0x00, 0x00, 0x00, 0x00, 0x20, 0x00])  # conn 0, U_PDU id 0, segment 0, 0x2000


# ---- ACP 142 P_MUL ---------------------------------------------------------------

def annex_b3(pdu):
    """set the check bytes X (offset 6) and Y (offset 7): with C0, C1 the
    Fletcher sums mod 255 over the n bytes (X, Y taken as 0), byte i (1-based)
    adds its value n-i+1 times to C1, so X = C0(n-7) - C1 and Y = -C0 - X
    make both sums zero"""
    b = bytearray(pdu)
    b[6] = b[7] = 0
    n = len(b)
    c0 = sum(b) % 255
    c1 = sum((n - i) * v for i, v in enumerate(b)) % 255
    x = (c0 * (n - 7) - c1) % 255
    y = (-c0 - x) % 255
    b[6], b[7] = x, y
    s0 = s1 = 0
    for v in b:  # the property the receiver checks
        s0 = (s0 + v) % 255
        s1 = (s1 + s0) % 255
    assert s0 == 0 and s1 == 0
    return bytes(b)


def data_pdu(src, msg, seq, fragment, prio=2):
    return annex_b3(struct.pack(">HBBHHII", 16 + len(fragment), prio, 0, seq, 0, src, msg) + fragment)


def address_pdu(src, msg, n, dests, expiry=1900000000, prio=2):
    entries = b"".join(struct.pack(">II", d, s) for d, s in dests)
    return annex_b3(struct.pack(">HBBHHIIIHH", 24 + len(entries), prio, 2, n, 0, src, msg, expiry,
                                len(dests), 0) + entries)


def ack_pdu(sender, origin, msg, prio=2):
    return annex_b3(struct.pack(">HBBHHIHHII", 24, prio, 1, 0, 0, sender, 1, 10, origin, msg))


def hexfile(name):
    with open(os.path.join(DATA, "pmul", "acp142-libjpmul", name)) as f:
        return bytes.fromhex("".join(l.strip() for l in f if not l.startswith("#")))


# ---- RFC 8494 CompressedData ----------------------------------------------------

def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82, n >> 8, n & 0xFF])
    return bytes([tag]) + ln + content


def compressed_data(zstream, alg=0, ct=25):
    return tlv(0x30, tlv(0x80, bytes([alg])) +
               tlv(0x30, tlv(0x80, bytes([ct])) + tlv(0xA0, tlv(0x04, zstream))))


TEXT = (b"<from@example.com>\r\n<to@example.net>\r\n\r\nSubject: wire judge self-test\r\n\r\n"
        + b"This line is here to be compressed.\r\n" * 20)


def raw_deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


# ---- STANAG 5066 Annex C D_PDU -----------------------------------------------------

def crc_reflected(data, poly, width):
    rpoly = int(format(poly, "0%db" % width)[::-1], 2)
    crc = 0
    for v in data:
        crc ^= v
        for _ in range(8):
            crc = (crc >> 1) ^ rpoly if crc & 1 else crc >> 1
    return crc


def d_pdu_data_only(segment, seq=5):
    """DATA_ONLY D_PDU: sync, type 0, EOW, EOT, 4-byte address (0.0.0.1 <- 0.0.0.2 as
    nibbles), C_PDU start+end, segment size, TX sequence number, header CRC (low byte
    first), segment, CRC-32 (low byte first)"""
    hdr = bytes([0x00, 0x00, 0x00, 4 << 5 | 9, 0x00, 0x01, 0x00, 0x02,
                 0xC0 | len(segment) >> 8, len(segment) & 0xFF, seq])
    return (b"\x90\xeb" + hdr + struct.pack("<H", crc_reflected(hdr, 0x9949, 16)) + segment
            + struct.pack("<I", crc_reflected(segment, 0x0AA725CF, 32)))


# ---- the cases -----------------------------------------------------------------------

def session(path, linktype=1):
    """a pcap with one SIS connection bound on SAP 2; returns (pcap, tcp)"""
    p = Pcap(path, linktype)
    t = Tcp(p)
    t.c2s(bind_request(2))
    t.s2c(bind_accepted(2))
    return p, t


def write(name, build, linktype=1):
    path = os.path.join(OUT, name + ".pcap")
    if linktype == 237:
        p = Pcap(path, 237)
        build(p)
        p.close()
        return path
    p, t = session(path, linktype)
    build(t)
    t.close()
    p.close()
    return path


def pmul_message(t, m, src=0x0A000001, msg=77, size=120, via_request=False):
    """an Address_PDU and the Data_PDUs of message m in UNIDATA_INDICATIONs on SAP 2
    (or, via_request, in UNIDATA_REQUESTs of the client)"""
    parts = [m[i:i + size] for i in range(0, len(m), size)]
    pdus = [address_pdu(src, msg, len(parts), [(0x0A000002, 1), (0x0A000003, 1)])]
    pdus += [data_pdu(src, msg, k + 1, part) for k, part in enumerate(parts)]
    for pdu in pdus:
        if via_request:
            t.c2s(unidata_request("16.0.0.1", 2, CLIENT_HDR + pdu))
        else:
            t.s2c(unidata_indication("16.0.0.1", "0.0.0.1", 2, CLIENT_HDR + pdu))


def clean_full(t):
    """every kind of primitive we send, P_MUL with a MULE message, Q1 once"""
    cdt = open(os.path.join(DATA, "mule", "rfc8494_example.cdt"), "rb").read()
    t.s2c(prim(14, bytes([4, 0])))                          # SUBNET_AVAILABILITY full duplex
    t.s2c(prim(15))                                         # DATAFLOW_ON
    t.c2s(prim(17))                                         # KEEP_ALIVE
    t.s2c(prim(17))
    pmul_message(t, cdt, via_request=True)                  # 4 UNIDATA_REQUESTs
    t.s2c(unidata_result("16.0.0.1", 2, b""))               # CONFIRM, nothing echoed: Q1
    pmul_message(t, cdt)                                    # the same as indications
    ack = ack_pdu(0x0A000002, 0x0A000001, 77)
    t.c2s(unidata_request("0.0.0.1", 2, CLIENT_HDR + ack, mode=1, confirm=1))
    t.s2c(unidata_result("0.0.0.1", 2, CLIENT_HDR + ack))   # CONFIRM echoing it: quirk Q1
    # EXPEDITED on SAP 3 (data, not P_MUL), confirmed and rejected
    t.c2s(unidata_request("0.0.0.2", 3, b"expedited", ptype=24, mode=1, confirm=1))
    t.s2c(unidata_result("0.0.0.2", 3, b"exp", ptype=26))
    t.s2c(unidata_result("0.0.0.2", 3, b"", ptype=27, reason=4))
    t.s2c(unidata_indication("0.0.0.1", "0.0.0.2", 3, b"expedited", ptype=25, mode=1))
    # non-ARQ with errors: one error block, one non-received block
    t.s2c(unidata_indication("0.0.0.1", "0.0.0.2", 3, bytes(range(64)), mode=3,
                             blocks=([(10, 4)], [(40, 8)])))
    # one primitive across two segments, two in one segment
    big = unidata_indication("0.0.0.1", "0.0.0.2", 3, b"Z" * 600, mode=1)
    t.s2c(big[:200])
    t.s2c(big[200:] + prim(17) + prim(16))


def clean_libjpmul(t):
    """libjpmul's run5 (a 200-byte message in 5 Data_PDUs of 64 bytes, its Ack) over SIS"""
    for name in ["run5_address_pdu_1"] + ["run5_data_pdu_%d" % k for k in range(1, 6)]:
        t.s2c(unidata_indication("16.0.0.1", "0.0.0.1", 2, CLIENT_HDR + hexfile(name + ".hex")))
    t.c2s(unidata_request("0.0.0.1", 2, CLIENT_HDR + hexfile("run5_ack_pdu_1.hex"), mode=1))


def zero_padding(t):
    """a short Data_PDU zero-padded beyond its Length_of_PDU, as an independent peer sends"""
    pmul_message(t, b"short message", msg=5)
    t.s2c(unidata_indication("16.0.0.1", "0.0.0.1", 2,
                             CLIENT_HDR + address_pdu(0x0A000001, 6, 1, [(0x0A000002, 2)])))
    t.s2c(unidata_indication("16.0.0.1", "0.0.0.1", 2,
                             CLIENT_HDR + data_pdu(0x0A000001, 6, 1, b"padded") + bytes(10)))


def fault_fixed_size(t):
    t.s2c(prim(17, b"\0"))                                  # KEEP_ALIVE of size 2


def fault_updu_size(t):
    t.s2c(unidata_indication("0.0.0.1", "0.0.0.2", 3, b"twelve bytes", size=10))


def fault_checksum(t):
    pdu = bytearray(data_pdu(0x0A000001, 9, 1, b"checksummed"))
    pdu[7] ^= 0x01
    t.s2c(unidata_indication("16.0.0.1", "0.0.0.1", 2, CLIENT_HDR + bytes(pdu)))


def fault_length_long(t):
    pdu = bytearray(data_pdu(0x0A000001, 9, 1, b"too long"))
    pdu[0:2] = struct.pack(">H", len(pdu) + 8)
    t.s2c(unidata_indication("16.0.0.1", "0.0.0.1", 2, CLIENT_HDR + annex_b3(bytes(pdu))))


def fault_nonzero_padding(t):
    pdu = data_pdu(0x0A000001, 9, 1, b"padded") + b"\0\0\x01"
    t.s2c(unidata_indication("16.0.0.1", "0.0.0.1", 2, CLIENT_HDR + pdu))


def fault_cdt_type(t):
    pmul_message(t, compressed_data(zlib.compress(TEXT, 9), ct=26))


def fault_cdt_algorithm(t):
    pmul_message(t, compressed_data(zlib.compress(TEXT, 9), alg=1))


def fault_cdt_not_zlib(t):
    pmul_message(t, compressed_data(raw_deflate(TEXT)))


def fault_cdt_truncated_zlib(t):
    z = zlib.compress(TEXT, 9)
    pmul_message(t, compressed_data(z[:len(z) // 2]))


def fault_truncated_primitive(t):
    t.s2c(prim(17))
    t.s2c(unidata_indication("0.0.0.1", "0.0.0.2", 3, b"cut short" * 5)[:30])


def fault_garbage(t):
    t.s2c(b"\x00\x01garbage, no preamble" + prim(17))


def fault_confirm_short_data(t):
    """CONFIRM on SAP 2 whose U_PDU size claims more than is there: Wireshark's
    exception is real here (not Q1)"""
    t.s2c(unidata_result("16.0.0.1", 2, CLIENT_HDR + b"ab", size=40))


def fault_confirm_long(t):
    """CONFIRM on SAP 2 with 6 bytes after the echoed data its size field covers:
    Wireshark finds its header there (no exception), the size is wrong, no quirk"""
    t.s2c(unidata_result("16.0.0.1", 2, CLIENT_HDR + b"abc", size=3))


def dpdu_clean(p):
    p.record(d_pdu_data_only(b"a C_PDU segment"))
    p.record(d_pdu_data_only(b"another segment", seq=6))


def dpdu_bad_crc(p):
    b = bytearray(d_pdu_data_only(b"a C_PDU segment"))
    b[-1] ^= 0x80                                           # the segment's CRC-32
    p.record(bytes(b))
    b = bytearray(d_pdu_data_only(b"a C_PDU segment"))
    b[13] ^= 0x01                                           # the header CRC
    p.record(bytes(b))


def dpdu_truncated(p):
    p.record(d_pdu_data_only(b"a C_PDU segment")[:-6])


# ---- running the judge -------------------------------------------------------------

SUMMARY = re.compile(r"^wire_judge: (frames: .*)$", re.M)


def judge(path, *opts):
    r = subprocess.run([sys.executable, JUDGE] + list(opts) + ["-p", str(PORT), path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors="replace")
    m = SUMMARY.search(out)
    counters = {}
    if m:
        for item in m.group(1).split(", "):
            k, v = item.split(": ")
            counters[k] = int(v)
    return r.returncode, counters, out


def check(what, path, rc_want, want, *opts):
    """run the judge; want maps a counter to an int (exact) or (op, int)"""
    rc, c, out = judge(path, *opts)
    bad = []
    if rc != rc_want:
        bad.append("exit %d, want %d" % (rc, rc_want))
    for k, v in want.items():
        op, n = v if isinstance(v, tuple) else ("==", v)
        got = c.get(k)
        if got is None or not {"==": got == n, ">=": got >= n}[op]:
            bad.append("%s=%s, want %s %d" % (k, got, op, n))
    if bad:
        FAILED.append(what)
        print("not ok - %s: %s" % (what, "; ".join(bad)))
        print("".join("#   " + l + "\n" for l in out.splitlines()))
    else:
        print("ok - %s: %s" % (what, " ".join("%s=%d" % (k, c[k]) for k in want)))
        for l in out.splitlines():
            if re.match(r"  frame \d+: ", l):
                print("#  " + l)


FAULTS0 = {"malformed": 0, "warnings": 0, "lint": 0, "undissected": 0}


def main():
    os.makedirs(OUT, exist_ok=True)

    # (a) clean captures pass
    full = write("clean_full", clean_full)
    check("clean SIS + P_MUL + CDT (Ethernet), Q1 recognised twice", full, 0,
          dict(FAULTS0, sis=25, pmul=9, cdt=2, pmul_msgs=1, known_quirks=2),
          "-x", "sis>=20", "-x", "pmul==9", "-x", "cdt>=1")
    lj = write("clean_libjpmul", clean_libjpmul, linktype=0)
    check("libjpmul's P_MUL PDUs over SIS (loopback framing), -m none", lj, 0,
          dict(FAULTS0, sis=9, pmul=7, pmul_msgs=1, pmul_msgs_reassembled=1, known_quirks=0),
          "-m", "none")
    check("zero padding beyond Length_of_PDU is accepted (Q2)", write("zero_padding", zero_padding), 0,
          dict(FAULTS0, known_quirks=1), "-m", "none")
    check("clean D_PDUs (link type 237)", write("dpdu_clean", dpdu_clean, linktype=237), 0,
          dict(FAULTS0, dts=2, sis=0))
    sis_only = write("clean_sis_only", lambda t: t.s2c(prim(17)))
    check("clean SIS without P_MUL", sis_only, 0, dict(FAULTS0, sis=3, pmul=0))

    # the judge's own options
    check("--no-quirks counts Q1 as malformed", full, 1, {"malformed": 2, "known_quirks": 0},
          "--no-quirks")
    check("a capture without P_MUL fails a P_MUL expectation", sis_only, 1, dict(FAULTS0, pmul=0),
          "-x", "pmul>=1")
    check("a P_MUL capture without CDT fails a CDT expectation", lj, 1, dict(FAULTS0, cdt=0),
          "-m", "none", "-x", "cdt>=1")
    check("an expectation on a counter that is too high fails", lj, 1, {"pmul": 7},
          "-m", "none", "-x", "pmul>=100")
    rc, _, out = judge(lj, "-x", "nonsense>=1")
    ok = rc == 2
    print("%s - a bad expectation is a usage error (exit %d)" % ("ok" if ok else "not ok", rc))
    rc2, _, _ = judge(os.path.join(OUT, "no-such.pcap"))
    print("%s - a missing capture is a usage error (exit %d)" % ("ok" if rc2 == 2 else "not ok", rc2))
    if not ok or rc2 != 2:
        FAILED.append("usage errors")

    # (b) each fault fails, with the right counter
    cases = [
        ("wrong fixed SIS size (KEEP_ALIVE of size 2)", fault_fixed_size, {"lint": 1}),
        ("U_PDU size field 10 with 12 bytes present", fault_updu_size, {"lint": 1}),
        ("bad P_MUL checksum", fault_checksum, {"lint": 1, "warnings": 1}),
        ("Length_of_PDU longer than the bytes", fault_length_long, {"lint": 1, "warnings": 1}),
        ("non-zero bytes beyond Length_of_PDU", fault_nonzero_padding, {"lint": 1}),
        ("CDT content type 26, not 25", fault_cdt_type, {"lint": 1, "cdt": 1}),
        ("CDT compression algorithm 1, not 0", fault_cdt_algorithm, {"lint": 1}),
        ("CDT content raw deflate, not zlib", fault_cdt_not_zlib, {"lint": 1}),
        ("CDT zlib stream cut in half", fault_cdt_truncated_zlib, {"lint": 1}),
        ("S_Primitive truncated at the end of the stream", fault_truncated_primitive,
         {"undissected": 1, "lint": 0}),
        ("bytes without a SIS preamble", fault_garbage, {"undissected": 1}),
        ("CONFIRM on SAP 2 with its data missing: malformed, not Q1", fault_confirm_short_data,
         {"malformed": 1, "known_quirks": 0, "lint": 1}),
        ("CONFIRM on SAP 2 with bytes after its U_PDU: lint, no quirk", fault_confirm_long,
         {"malformed": 0, "known_quirks": 0, "lint": 1}),
        ("D_PDU CRCs wrong (link type 237)", dpdu_bad_crc, {"lint": 2, "dts": 2}),
        ("D_PDU shorter than its header says (link type 237)", dpdu_truncated, {"lint": 1}),
    ]
    for what, build, want in cases:
        name = build.__name__
        path = write(name, build, linktype=237 if name.startswith("dpdu") else 1)
        check(what, path, 1, want)

    print("%d check(s) failed: %s" % (len(FAILED), ", ".join(FAILED)) if FAILED else "all checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
