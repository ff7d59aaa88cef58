#!/usr/bin/env python3
"""wire_judge.py - the wire judge of mule5066: Wireshark's dissectors (through
tshark) and a byte-level re-reading of our own judge a capture of our bytes.

Specifications judged:
  STANAG 5066 Ed.3 Annex A    SIS S_Primitives over TCP (dissector s5066sis)
  STANAG 5066 Annex C         D_PDUs in pcaps of link type 237 (s5066dts)
  ACP 142 (P_MUL) and its     PDU layouts, Length_of_PDU, the Annex B-3
    Annex B-3 checksum        checksum (p_mul), carried behind the STANAG 4406
                              Annex E client header (app id 0x2000, SAP 2/6/7)
  RFC 8494 (MULE) with        CompressedData: algorithmID-ShortForm 0 (zlib),
    RFC 3274 / RFC 1950       contentType-ShortForm 25, a zlib stream that
                              inflates (cdt, ber; Python's zlib)

    python3 wire_judge.py [-p PORT]... [-m cdt|none] [-x EXPR]... [-q] FILE.pcap

tshark runs once (-2, JSON with raw bytes); this script then
  - counts what Wireshark decoded (sis, pmul, cdt, dts layers) and fails on
    dissector exceptions (malformed), on expert infos of warning severity or
    above (warnings; TCP's own are tcp_warnings, fatal only with --tcp-fatal)
    and on TCP payload on a SIS port that Wireshark did not decode as SIS
    (undissected);
  - rebuilds every TCP byte stream on a SIS port itself, cuts it into
    S_Primitives and checks what the dissectors do not (lint): fixed-size
    primitives have their size, the U_PDU size field of UNIDATA / EXPEDITED
    request, indication, confirm and rejected equals the bytes present; in
    every U_PDU that carries P_MUL it checks Length_of_PDU against the bytes
    present (more is accepted only as zero padding, fewer is an error), the
    Annex B-3 checksum (recomputed here), the Address/Ack PDU layouts; it
    reassembles P_MUL messages itself and (with -m cdt) parses each
    CompressedData, wants contentType 25 and algorithm 0 in short form and a
    real RFC 1950 zlib stream, and inflates it;
  - checks that Wireshark decoded every primitive and P_MUL PDU it found.
Known dissector quirks are reported, not counted as failures:
  Q1  S_UNIDATA_REQUEST_CONFIRM/_REJECTED (and EXPEDITED) on SAP 2/6/7: the
      s5066sis dissector reads a 6-byte client header after the echoed
      U_PDU data and throws (malformed) when those bytes are not there;
  Q2  a P_MUL PDU zero-padded beyond Length_of_PDU (as some peers send):
      p_mul warns "Incorrect length field" / "More data in packet".

Exit status: 0 clean, 1 problems found or an expectation failed, 2 usage
or tshark error.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

# ---- STANAG 5066 Annex A ---------------------------------------------------

SIS_PORT = 5066  # Wireshark decodes TCP port 5066 as SIS by itself
SIS_NAMES = {
    1: "BIND_REQUEST", 2: "UNBIND_REQUEST", 3: "BIND_ACCEPTED", 4: "BIND_REJECTED",
    5: "UNBIND_INDICATION", 6: "HARD_LINK_ESTABLISH", 7: "HARD_LINK_TERMINATE",
    8: "HARD_LINK_ESTABLISHED", 9: "HARD_LINK_REJECTED", 10: "HARD_LINK_TERMINATED",
    11: "HARD_LINK_INDICATION", 12: "HARD_LINK_ACCEPT", 13: "HARD_LINK_REJECT",
    14: "SUBNET_AVAILABILITY", 15: "DATAFLOW_ON", 16: "DATAFLOW_OFF", 17: "KEEP_ALIVE",
    18: "MANAGEMENT_MESSAGE_REQUEST", 19: "MANAGEMENT_MESSAGE_INDICATION",
    20: "UNIDATA_REQUEST", 21: "UNIDATA_INDICATION", 22: "UNIDATA_REQUEST_CONFIRM",
    23: "UNIDATA_REQUEST_REJECTED", 24: "EXPEDITED_UNIDATA_REQUEST",
    25: "EXPEDITED_UNIDATA_INDICATION", 26: "EXPEDITED_UNIDATA_REQUEST_CONFIRM",
    27: "EXPEDITED_UNIDATA_REQUEST_REJECTED",
}
# the size field (bytes after it: type byte and body) of fixed-size primitives
SIS_FIXED_SIZE = {1: 4, 2: 1, 3: 4, 4: 2, 5: 2, 6: 6, 7: 5, 8: 7, 9: 7, 10: 7, 11: 7,
                  12: 6, 13: 7, 14: 3, 15: 1, 16: 1, 17: 1}
SIS_REQUEST = (20, 24)          # type | prio:4 sap:4 | addr:4 | service:2 | ttl:2 | size:2
SIS_INDICATION = (21, 25)       # type | prio sap | dest:4 | mode:4 sap:4 | src:4 | size:2
SIS_RESULT = (22, 23, 26, 27)   # type | reason:4 sap:4 | addr:4 | size:2 | U_PDU (echo)
PMUL_SAPS = (2, 6, 7)           # where Wireshark 4.0 looks for the client header
CTL_LEN = 6                     # STANAG 4406 Annex E client transport header
APP_ID_ACP142 = 0x2000          # ... application identifier of ACP 142 (TMI-1)

# ---- ACP 142 -----------------------------------------------------------------

PMUL_NAMES = {0: "Data", 1: "Ack", 2: "Address", 3: "Discard_Message", 4: "Announce",
              5: "Request", 6: "Reject", 7: "Release", 8: "FEC_Address",
              0x12: "Extra_Address", 0x18: "Extra_FEC_Address"}
PMUL_MIN_LEN = {0: 16, 1: 14, 2: 24, 3: 16, 4: 24, 5: 20, 6: 20, 7: 20}
PMUL_CKSUM_OFF = 6

# ---- Wireshark ---------------------------------------------------------------

OUR_LAYERS = ("s5066sis", "s5066dts", "p_mul", "cdt", "ber")
PI_NOTE, PI_WARN = 0x00400000, 0x00600000
ZERO_PAD_EXPERTS = ("p_mul.length.invalid", "p_mul.more_data")
LINKTYPE_STANAG_5066_D_PDU = 237
INFLATE_LIMIT = 64 << 20

COUNTERS = ("frames", "sis", "pmul", "cdt", "dts", "malformed", "warnings", "lint",
            "undissected", "known_quirks", "tcp_warnings", "pmul_msgs_reassembled", "pmul_msgs",
            "pmul_address", "pmul_data", "pmul_ack")
PMUL_TYPE_COUNTER = {0: "pmul_data", 1: "pmul_ack", 2: "pmul_address"}


def u16(b, i):
    return (b[i] << 8) | b[i + 1]


def u32(b, i):
    return struct.unpack_from(">I", b, i)[0]


def dotted(v):
    return "%d.%d.%d.%d" % (v >> 24 & 0xFF, v >> 16 & 0xFF, v >> 8 & 0xFF, v & 0xFF)


def sis_addr(b, i):
    """a 4-byte SIS address field as a dotted quad, the group bit inside"""
    return dotted(u32(b, i) & 0x1FFFFFFF)


def acp142_checksum(pdu):
    """ACP 142 Annex B-3: Fletcher sums mod 255 over the PDU with bytes 6-7
    taken as zero, then the two check bytes that bring both sums to zero
    when placed at offsets 6 and 7"""
    s0 = s1 = 0
    for i, x in enumerate(pdu):
        if i in (PMUL_CKSUM_OFF, PMUL_CKSUM_OFF + 1):
            x = 0
        s0 = (s0 + x) % 255
        s1 = (s1 + s0) % 255
    k = len(pdu) - PMUL_CKSUM_OFF - 1   # bytes after the first check byte
    return ((k * s0 - s1) % 255) << 8 | ((s1 - (k + 1) * s0) % 255)


def rfc1071_checksum(pdu):
    b = bytearray(pdu)
    b[PMUL_CKSUM_OFF:PMUL_CKSUM_OFF + 2] = b"\0\0"
    if len(b) % 2:
        b.append(0)
    s = sum(struct.unpack(">%dH" % (len(b) // 2), bytes(b)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# ---- BER (just enough for CompressedData) ----------------------------------

class BerError(Exception):
    pass


def ber_tlv(b, i, end):
    """(tag, content_start, content_end) of the TLV at b[i]; definite lengths only"""
    if i + 2 > end:
        raise BerError("truncated tag/length at offset %d" % i)
    tag = b[i]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte tag at offset %d" % i)
    n = b[i + 1]
    j = i + 2
    if n == 0x80:
        raise BerError("indefinite length at offset %d" % i)
    if n & 0x80:
        k = n & 0x7F
        if k > 4 or j + k > end:
            raise BerError("bad long-form length at offset %d" % i)
        n = int.from_bytes(b[j:j + k], "big")
        j += k
    if j + n > end:
        raise BerError("length %d at offset %d runs past the end (%d)" % (n, i, end))
    return tag, j, j + n


def ber_small_choice(b, i, end, what):
    """a CHOICE { [0] INTEGER short form, [1] OBJECT IDENTIFIER }: ('short', n) or
    ('oid', hex); [0] either IMPLICIT (80 01 nn) or EXPLICIT (A0 03 02 01 nn)"""
    tag, s, e = ber_tlv(b, i, end)
    if tag == 0xA0:  # explicit tagging: the INTEGER inside
        tag2, s2, e2 = ber_tlv(b, s, e)
        if tag2 != 0x02 or e2 != e:
            raise BerError("%s: [0] EXPLICIT does not hold one INTEGER" % what)
        s, e, tag = s2, e2, 0x80
    if tag == 0x80:
        if e - s < 1 or e - s > 4:
            raise BerError("%s: short form of %d bytes" % (what, e - s))
        return ("short", int.from_bytes(b[s:e], "big", signed=True)), e
    if tag in (0x81, 0xA1):
        return ("oid", b[s:e].hex()), e
    raise BerError("%s: tag 0x%02x is neither [0] short form nor [1] OID" % (what, tag))


def parse_compressed_data(m):
    """RFC 3274 CompressedData as STANAG 4406 Annex E tags it (RFC 8494):
    SEQUENCE { compressionAlgorithm, compressedContentInfo SEQUENCE {
    contentType, compressedContent [0] EXPLICIT OCTET STRING } }"""
    tag, s, e = ber_tlv(m, 0, len(m))
    if tag != 0x30:
        raise BerError("CompressedData does not start with a SEQUENCE (tag 0x%02x)" % tag)
    if e != len(m):
        raise BerError("%d bytes after the CompressedData SEQUENCE" % (len(m) - e))
    alg, i = ber_small_choice(m, s, e, "compressionAlgorithm")
    tag, s2, e2 = ber_tlv(m, i, e)
    if tag != 0x30:
        raise BerError("compressedContentInfo is not a SEQUENCE (tag 0x%02x)" % tag)
    if e2 != e:
        raise BerError("%d bytes after compressedContentInfo" % (e - e2))
    ct, j = ber_small_choice(m, s2, e2, "contentType")
    tag, s3, e3 = ber_tlv(m, j, e2)
    if tag != 0xA0:
        raise BerError("compressedContent is not [0] EXPLICIT (tag 0x%02x)" % tag)
    if e3 != e2:
        raise BerError("%d bytes after compressedContent" % (e2 - e3))
    tag, s4, e4 = ber_tlv(m, s3, e3)
    if tag != 0x04:
        raise BerError("compressedContent does not hold a primitive OCTET STRING (tag 0x%02x)" % tag)
    if e4 != e3:
        raise BerError("%d bytes after the OCTET STRING" % (e3 - e4))
    return alg, ct, m[s4:e4]


def zlib_problems(z):
    """the ways z is not an RFC 1950 stream that inflates completely; (problems, inflated)"""
    if len(z) < 2:
        return ["compressedContent of %d bytes is no zlib stream" % len(z)], None
    cmf, flg = z[0], z[1]
    why = []
    if cmf & 0x0F != 8 or cmf >> 4 > 7:
        why.append("CMF 0x%02x is not deflate with a window <= 32K" % cmf)
    if (cmf << 8 | flg) % 31:
        why.append("FCHECK fails")
    if flg & 0x20:
        why.append("FDICT asks for a preset dictionary")
    if why:
        return ["compressedContent does not start with an RFC 1950 zlib header (%02x %02x: %s; "
                "raw deflate or gzip is not MULE)" % (cmf, flg, ", ".join(why))], None
    d = zlib.decompressobj()
    try:
        out = d.decompress(z, INFLATE_LIMIT)
        if d.unconsumed_tail:
            return ["zlib stream inflates beyond %d bytes" % INFLATE_LIMIT], None
        out += d.flush()
    except zlib.error as e:
        return ["zlib stream does not inflate: %s" % e], None
    if not d.eof:
        return ["zlib stream is truncated (no end of stream after %d bytes)" % len(out)], None
    if d.unused_data:
        return ["%d bytes after the end of the zlib stream" % len(d.unused_data)], None
    return [], out


# ---- tshark JSON -------------------------------------------------------------

def pairs_get(pairs, key, default=None):
    if isinstance(pairs, list):
        for k, v in pairs:
            if k == key:
                return v
    return default


def pairs_find(node, key):
    """first value of `key` anywhere below node (pairs lists as json.loads gives them)"""
    if isinstance(node, list):
        for item in node:
            if isinstance(item, tuple):
                k, v = item
                if k == key:
                    return v
                r = pairs_find(v, key)
                if r is not None:
                    return r
            else:
                r = pairs_find(item, key)
                if r is not None:
                    return r
    return None


def experts_in(node, out):
    """every expert info below node: (abbrev, severity, message)"""
    if isinstance(node, list):
        for item in node:
            if isinstance(item, tuple):
                k, v = item
                if k == "_ws.expert" and isinstance(v, list):
                    abbrev = next((kk for kk, _ in v if not kk.startswith("_ws.expert")), "?")
                    sev = pairs_get(v, "_ws.expert.severity", "0")
                    msg = pairs_get(v, "_ws.expert.message", "?")
                    try:
                        sev = int(sev)
                    except (TypeError, ValueError):
                        sev = 0
                    out.append((abbrev, sev, msg))
                else:
                    experts_in(v, out)
            else:
                experts_in(item, out)
    return out


class Frame:
    """one packet of the tshark output, its layers in tree order"""

    def __init__(self, pkt):
        src = pairs_get(pkt, "_source")
        layers = pairs_get(src, "layers") or []
        self.layers = []       # (name, value, raw) in order
        raw = {}
        for k, v in layers:
            if k.endswith("_raw") and isinstance(v, list) and v and isinstance(v[0], str):
                raw[k[:-4]] = v
                continue
            self.layers.append((k, v, raw.pop(k, None)))
        fr = self.layer("frame")
        self.number = int(pairs_get(fr, "frame.number", "0"))
        fraw = raw.get("frame") or next((r for n, _, r in self.layers if n == "frame"), None)
        self.bytes = bytes.fromhex(fraw[0]) if fraw else b""

    def layer(self, name):
        return next((v for n, v, _ in self.layers if n == name), None)


def run_tshark(args, pcap, ports):
    tshark = args.tshark or os.environ.get("TSHARK") or "tshark"
    if not shutil.which(tshark):
        raise SystemExit2("tshark not found (%s); install Wireshark's tshark" % tshark)
    cmd = [tshark, "-2", "-n", "-r", pcap,
           "-o", "s5066sis.desegment_pdus:TRUE", "-o", "s5066sis.edition_one:FALSE",
           "-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tcp.analyze_sequence_numbers:TRUE",
           "-o", "p_mul.reassemble:TRUE", "-o", "p_mul.relative_msgid:FALSE",
           "-o", "p_mul.decode:" + args.payload]
    for p in sorted(ports):
        if p != SIS_PORT:
            cmd += ["-d", "tcp.port==%d,s5066sis" % p]
    cmd += ["-T", "json", "-x"]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="wire_judge.") as cfg:
        env["WIRESHARK_CONFIG_DIR"] = cfg  # no personal preferences or Decode As
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    err = "\n".join(l for l in r.stderr.decode(errors="replace").splitlines()
                    if "Running as user" not in l and l.strip())
    if r.returncode != 0:
        raise SystemExit2("tshark failed (exit %d): %s\n  %s" % (r.returncode, err, " ".join(cmd)))
    try:
        pkts = json.loads(r.stdout.decode(errors="replace") or "[]", object_pairs_hook=lambda p: p)
    except ValueError as e:
        raise SystemExit2("cannot read tshark's JSON: %s" % e)
    return [Frame(p) for p in pkts]


class SystemExit2(Exception):
    pass


def pcap_linktype(path):
    """the link type of a classic pcap file, None for pcapng or anything else"""
    try:
        with open(path, "rb") as f:
            h = f.read(24)
    except OSError:
        return None
    if len(h) < 24:
        return None
    magic = h[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return struct.unpack("<I", h[20:24])[0] & 0x0FFFFFFF
    if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        return struct.unpack(">I", h[20:24])[0] & 0x0FFFFFFF
    return None


# ---- the judge -----------------------------------------------------------------

class Judge:
    def __init__(self, args):
        self.args = args
        self.ports = {SIS_PORT} | set(args.port or [])
        self.st = dict.fromkeys(COUNTERS, 0)
        self.problems = []              # (frame, kind, text)
        self.undissected_frames = set()
        self.desc = {}                  # frame -> [text] (our own reading)
        self.sis_by_frame = {}          # frame -> [primitive info dict]
        self.pmul_by_frame = {}         # frame -> [P_MUL info dict]
        self.streams = {}               # (stream, srcport) -> Stream
        self.duplicate_frames = set()   # frames whose payload was all seen before
        self.frag = {}                  # (source, msgid) -> {"n": int, "parts": {seq: bytes}, ...}
        self.messages = {}              # (source, msgid) -> bytes

    # -- reporting
    def problem(self, frame, kind, text, counter=None):
        self.problems.append((frame, kind, text))
        if counter:
            self.st[counter] += 1

    def lint(self, frame, text):
        self.problem(frame, "LINT", text, "lint")

    def undissected(self, frame, text):
        self.problems.append((frame, "UNDISSECTED", text))
        self.undissected_frames.add(frame)

    def note(self, frame, text):
        self.desc.setdefault(frame, []).append(text)

    # -- pass 1: our own reading of the bytes
    def feed_tcp(self, fr):
        tcp = fr.layer("tcp")
        traw = next((r for n, _, r in fr.layers if n == "tcp"), None)
        if tcp is None or traw is None:
            return
        try:
            tlen = int(pairs_get(tcp, "tcp.len", "0"))
            stream = int(pairs_get(tcp, "tcp.stream", "-1"))
        except ValueError:
            return
        hdr = bytes.fromhex(traw[0])
        if len(hdr) < 20 or tlen <= 0:
            return
        sport, dport, seq = u16(hdr, 0), u16(hdr, 2), u32(hdr, 4)
        if sport not in self.ports and dport not in self.ports:
            return
        start = traw[1] + traw[2]
        data = fr.bytes[start:start + tlen]
        if len(data) < tlen:
            self.problem(fr.number, "TCP", "frame holds %d of %d TCP payload bytes (snap length)"
                         % (len(data), tlen), "tcp_warnings")
        key = (stream, sport)
        st = self.streams.get(key)
        if st is None:
            st = self.streams[key] = Stream(self, "TCP stream %d (%d->%d)" % (stream, sport, dport), seq)
        if st.segment(seq, data, fr.number) == 0:
            self.duplicate_frames.add(fr.number)

    def finish_streams(self):
        for st in self.streams.values():
            st.finish()

    # -- S_Primitives
    def primitive(self, frame, p):
        """one whole S_Primitive (preamble to end) from a SIS stream"""
        t = p[5]
        size = u16(p, 3)
        body = p[5:]  # type byte and body: `size` bytes
        name = SIS_NAMES.get(t, "type %d" % t)
        info = {"type": t, "name": name, "bytes": p, "quirk_ok": False}
        self.sis_by_frame.setdefault(frame, []).append(info)
        notes = self.desc.setdefault(frame, [])
        slot = len(notes)   # this primitive's note goes before those of what it carries
        notes.append("sis[%s]" % name)
        d = name
        if t not in SIS_NAMES:
            self.lint(frame, "unknown S_Primitive type %d (size %d)" % (t, size))
            return
        if t in SIS_FIXED_SIZE:
            if size != SIS_FIXED_SIZE[t]:
                self.lint(frame, "%s: size field %d, Annex A fixes it at %d"
                          % (name, size, SIS_FIXED_SIZE[t]))
        elif t in SIS_REQUEST + SIS_INDICATION + SIS_RESULT:
            d = self.unidata(frame, t, name, body, info)
        elif size < 2:
            self.lint(frame, "%s: size field %d, shorter than its header" % (name, size))
        notes[slot] = "sis[%s]" % d

    def unidata(self, frame, t, name, b, info):
        hdr = 12 if t in SIS_REQUEST else 13 if t in SIS_INDICATION else 8
        if len(b) < hdr:
            self.lint(frame, "%s: size field %d, shorter than its %d-byte header" % (name, len(b), hdr))
            return name
        sap = b[1] & 0x0F
        if t in SIS_REQUEST:
            us = u16(b, 10)
            updu = b[12:]
            d = "%s sap=%d to=%s" % (name, sap, sis_addr(b, 2))
        elif t in SIS_INDICATION:
            us = u16(b, 11)
            mode = b[6] >> 4
            d = "%s sap=%d to=%s from=%s mode=%d" % (name, sap, sis_addr(b, 2), sis_addr(b, 7), mode)
            off = 13
            if mode == 3:  # non-ARQ with errors: the two block lists
                blocks = []
                for what in ("error", "non-received"):
                    if off + 2 > len(b):
                        self.lint(frame, "%s: tx mode 3 without its %s block count" % (name, what))
                        return d
                    n = u16(b, off)
                    off += 2
                    if off + 4 * n > len(b):
                        self.lint(frame, "%s: %d %s blocks run past the primitive" % (name, n, what))
                        return d
                    blocks += [(what, u16(b, off + 4 * k), u16(b, off + 4 * k + 2)) for k in range(n)]
                    off += 4 * n
                for what, pos, sz in blocks:
                    if pos + sz > us:
                        self.lint(frame, "%s: %s block %d+%d outside the %d-byte U_PDU"
                                  % (name, what, pos, sz, us))
                d += " errors=%d" % len(blocks)
            elif len(b) - off == us + 4:
                self.lint(frame, "%s: 4 bytes between the U_PDU size and the U_PDU (Rockwell "
                                 "Collins <= 2.1 layout, not Annex A)" % name)
                off += 4
            updu = b[off:]
        else:
            us = u16(b, 6)
            updu = b[8:]
            d = "%s sap=%d to=%s" % (name, sap, sis_addr(b, 2))
            if t in (23, 27):
                d += " reason=%d" % (b[1] >> 4)
        d += " u_pdu=%d" % us
        if len(updu) != us:
            self.lint(frame, "%s: U_PDU size field %d but %d bytes present" % (name, us, len(updu)))
        if t in SIS_RESULT:
            # Q1 applies only where the bytes really end before a 6-byte header
            # could follow the echoed data
            info["quirk_ok"] = sap in PMUL_SAPS and us <= len(updu) < us + CTL_LEN
            return d
        if sap in PMUL_SAPS and len(updu) >= CTL_LEN and len(updu) == us:
            app = u16(updu, 4)
            d += " app=0x%04x" % app
            if app == APP_ID_ACP142:
                d += " " + self.pmul(frame, updu[CTL_LEN:])
        return d

    # -- P_MUL
    def pmul(self, frame, b):
        info = {"padding": False}
        self.pmul_by_frame.setdefault(frame, []).append(info)
        if len(b) < 8:
            self.lint(frame, "P_MUL PDU of %d bytes, shorter than the common header" % len(b))
            return "p_mul[short]"
        length, typ, x = u16(b, 0), b[3] & 0x3F, u16(b, 4)
        name = PMUL_NAMES.get(typ, "type %d" % typ)
        if typ in PMUL_TYPE_COUNTER:
            self.st[PMUL_TYPE_COUNTER[typ]] += 1
        pdu = b
        if length > len(b):
            self.lint(frame, "P_MUL %s_PDU: Length_of_PDU %d but only %d bytes present"
                      % (name, length, len(b)))
        elif length < len(b):
            extra = b[length:]
            if any(extra):
                self.lint(frame, "P_MUL %s_PDU: %d bytes after Length_of_PDU %d, not zero padding"
                          % (name, len(extra), length))
            else:
                info["padding"] = True
            pdu = b[:length]
        if len(pdu) < 8:
            self.lint(frame, "P_MUL %s_PDU: Length_of_PDU %d, shorter than the common header" % (name, length))
            return "p_mul[%s]" % name
        found = u16(pdu, PMUL_CKSUM_OFF)
        want = acp142_checksum(pdu)
        if found != want:
            how = " (that is the RFC 1071 sum)" if found == rfc1071_checksum(pdu) else ""
            self.lint(frame, "P_MUL %s_PDU: checksum 0x%04x%s, ACP 142 Annex B-3 gives 0x%04x"
                      % (name, found, how, want))
        d = "p_mul[%s len=%d" % (name, length)
        minlen = PMUL_MIN_LEN.get(typ)
        if minlen is None:
            self.lint(frame, "P_MUL %s_PDU (type %d): mule5066 neither sends nor accepts it"
                      % (name, typ))
        elif len(pdu) < minlen:
            self.lint(frame, "P_MUL %s_PDU of %d bytes, its header takes %d" % (name, len(pdu), minlen))
        elif typ == 1:
            d += self.pmul_ack(frame, pdu)
        else:
            src, msg = u32(pdu, 8), u32(pdu, 12)
            d += " src=%s msg=%d" % (dotted(src), msg)
            if typ == 2:
                d += self.pmul_address(frame, pdu, src, msg, x)
            elif typ == 0:
                d += " seq=%d" % x
                if x == 0:
                    self.lint(frame, "P_MUL Data_PDU with sequence number 0 (they count from 1)")
                elif length <= len(b):
                    self.fragment(frame, src, msg, x, pdu[16:])
        return d + "]"

    def pmul_address(self, frame, pdu, src, msg, n):
        count, reslen = u16(pdu, 20), u16(pdu, 22)
        want = 24 + count * (8 + reslen)
        if want != len(pdu):
            self.lint(frame, "P_MUL Address_PDU: %d destination entries of %d bytes need %d bytes, "
                             "Length_of_PDU is %d" % (count, 8 + reslen, want, len(pdu)))
        if n > 0:
            f = self.frag.setdefault((src, msg), {"n": n, "parts": {}})
            if f["n"] != n:
                self.lint(frame, "P_MUL message %s/%d: Address_PDU says %d Data_PDUs, earlier %d"
                          % (dotted(src), msg, n, f["n"]))
            self.try_complete(frame, src, msg)
        return " n=%d dests=%d" % (n, count) if count else " n=%d ack-ack" % n

    def pmul_ack(self, frame, pdu):
        count = u16(pdu, 12)
        off = 14
        for k in range(count):
            if off + 2 > len(pdu):
                self.lint(frame, "P_MUL Ack_PDU: entry %d of %d missing" % (k + 1, count))
                return " acks=%d" % count
            n = u16(pdu, off)
            if n < 10 or n % 2 or off + n > len(pdu):
                self.lint(frame, "P_MUL Ack_PDU: Ack_Info_Entry %d has length %d (%d bytes left)"
                          % (k + 1, n, len(pdu) - off))
                return " acks=%d" % count
            off += n
        if len(pdu) - off not in (0, 8):  # the optional timestamp
            self.lint(frame, "P_MUL Ack_PDU: %d bytes after the %d Ack_Info_Entries"
                      % (len(pdu) - off, count))
        return " from=%s acks=%d" % (dotted(u32(pdu, 8)), count)

    def fragment(self, frame, src, msg, seq, data):
        f = self.frag.setdefault((src, msg), {"n": 0, "parts": {}})
        old = f["parts"].get(seq)
        if old is not None and old != data:
            self.lint(frame, "P_MUL message %s/%d: Data_PDU %d sent again with other content"
                      % (dotted(src), msg, seq))
        f["parts"][seq] = data
        self.try_complete(frame, src, msg)

    def try_complete(self, frame, src, msg):
        f = self.frag[(src, msg)]
        n = f["n"]
        if not n or any(s not in f["parts"] for s in range(1, n + 1)):
            return
        m = b"".join(f["parts"][s] for s in range(1, n + 1))
        key = (src, msg)
        if key in self.messages:
            if self.messages[key] != m:
                self.lint(frame, "P_MUL message %s/%d reassembled again with other content"
                          % (dotted(src), msg))
            return
        self.messages[key] = m
        self.st["pmul_msgs"] += 1
        self.note(frame, "msg[%s/%d %dB]" % (dotted(src), msg, len(m)))
        out = None
        if self.args.payload == "cdt":
            out = self.judge_cdt(frame, "P_MUL message %s/%d" % (dotted(src), msg), m)
        if self.args.save_messages:
            base = os.path.join(self.args.save_messages, "%s-%d" % (dotted(src), msg))
            with open(base + ".bin", "wb") as f:
                f.write(m)
            if out is not None:
                with open(base + ".inflated", "wb") as f:
                    f.write(out)

    # -- CompressedData
    def judge_cdt(self, frame, what, m):
        try:
            alg, ct, z = parse_compressed_data(m)
        except BerError as e:
            self.lint(frame, "%s is not a CompressedData: %s" % (what, e))
            return None
        if alg != ("short", 0):
            self.lint(frame, "%s: compressionAlgorithm %s, RFC 8494 wants algorithmID-ShortForm 0 "
                             "(zlib)" % (what, "%s %s" % alg))
        if ct != ("short", 25):
            self.lint(frame, "%s: contentType %s, RFC 8494 wants contentType-ShortForm 25"
                      % (what, "%s %s" % ct))
        probs, out = zlib_problems(z)
        for p in probs:
            self.lint(frame, "%s: %s" % (what, p))
        if out is not None:
            self.note(frame, "cdt[alg=%s ct=%s zlib %dB -> %dB]" % (alg[1], ct[1], len(z), len(out)))
        return out

    # -- D_PDUs (link type 237)
    def dpdu(self, fr):
        b = fr.bytes
        if len(b) < 6 or b[0:2] != b"\x90\xeb":
            self.lint(fr.number, "link-type 237 frame of %d bytes does not start with the D_PDU "
                                 "sync 90 EB" % len(b))
            return
        typ = b[2] >> 4
        asz, hsz = b[5] >> 5, b[5] & 0x1F
        hdr_end = 2 + hsz + asz   # sync, header (its CRC included), address
        want = hdr_end
        seg = None
        if typ in (0, 2, 4, 7, 8):
            if len(b) < 8 + asz:
                self.lint(fr.number, "D_PDU type %d of %d bytes, too short for its header" % (typ, len(b)))
                return
            seg = u16(b, 6 + asz) & 0x3FF
            want += seg + 4
        self.note(fr.number, "d_pdu[type=%d hdr=%d addr=%d%s]"
                  % (typ, hsz, asz, " seg=%d" % seg if seg is not None else ""))
        if len(b) != want:
            self.lint(fr.number, "D_PDU type %d: header says %d bytes, frame has %d" % (typ, want, len(b)))
            return
        crc = crc16_dpdu(b[2:hdr_end - 2])
        got = b[hdr_end - 2] | b[hdr_end - 1] << 8
        if crc != got:
            self.lint(fr.number, "D_PDU header CRC 0x%04x, the Annex C CRC-16 (as s5066dts computes "
                                 "it) is 0x%04x" % (got, crc))
        if seg is not None:
            crc = crc32_dpdu(b[hdr_end:hdr_end + seg])
            got = struct.unpack_from("<I", b, hdr_end + seg)[0]
            if crc != got:
                self.lint(fr.number, "D_PDU C_PDU segment CRC 0x%08x, the Annex C CRC-32 (as s5066dts "
                                     "computes it) is 0x%08x" % (got, crc))

    # -- pass 2: what Wireshark made of it
    def wireshark(self, fr, linktype):
        n = fr.number
        st = self.st
        names = [name for name, _, _ in fr.layers]
        st["sis"] += names.count("s5066sis")
        st["pmul"] += names.count("p_mul")
        st["cdt"] += names.count("cdt")
        st["dts"] += names.count("s5066dts")
        st["pmul_msgs_reassembled"] += names.count("p_mul.fragments")
        # our primitives and P_MUL PDUs of this frame, in Wireshark's order when
        # both found as many (only then can a Wireshark layer be matched to ours)
        mine_sis = self.sis_by_frame.get(n, [])
        mine_pmul = self.pmul_by_frame.get(n, [])
        sis_match = mine_sis if len(mine_sis) == names.count("s5066sis") else []
        pmul_match = mine_pmul if len(mine_pmul) == names.count("p_mul") else []

        # dissector exceptions and expert infos, each with the layer it belongs to
        last, ordinal, seen = None, -1, {}
        for name, value, raw in fr.layers:
            if name == "_ws.malformed":
                self.malformed(n, last, ordinal, sis_match, value)
                continue
            if not name.startswith("_ws."):
                last = name
                ordinal = seen[name] = seen.get(name, -1) + 1
            for abbrev, sev, msg in experts_in([(name, value)], []):
                if sev < PI_WARN:
                    continue
                self.expert(n, last, ordinal, pmul_match, abbrev, msg)
            if name == "cdt" and raw:
                m = bytes.fromhex(raw[0])
                if m not in self.messages.values():
                    self.lint(n, "Wireshark decoded a CompressedData of %d bytes that is not a P_MUL "
                                 "message the judge reassembled" % len(m))

        # what we found must have been decoded
        if len(mine_sis) > names.count("s5066sis"):
            self.undissected(n, "Wireshark decoded %d of the %d S_Primitives that end in this frame"
                             % (names.count("s5066sis"), len(mine_sis)))
        elif len(mine_sis) < names.count("s5066sis"):
            self.lint(n, "Wireshark decoded %d S_Primitives where the judge found %d"
                      % (names.count("s5066sis"), len(mine_sis)))
        if len(mine_pmul) > names.count("p_mul"):
            self.undissected(n, "Wireshark decoded %d of the %d P_MUL PDUs in this frame"
                             % (names.count("p_mul"), len(mine_pmul)))
        elif len(mine_pmul) < names.count("p_mul"):
            self.lint(n, "Wireshark decoded %d P_MUL PDUs where the judge found %d"
                      % (names.count("p_mul"), len(mine_pmul)))

        # TCP payload on a SIS port that Wireshark did not decode as SIS
        tcp = fr.layer("tcp")
        if tcp is not None and "s5066sis" not in names and n not in self.duplicate_frames:
            try:
                tlen = int(pairs_get(tcp, "tcp.len", "0"))
                sport = int(pairs_get(tcp, "tcp.srcport", "0"))
                dport = int(pairs_get(tcp, "tcp.dstport", "0"))
            except ValueError:
                tlen = sport = dport = 0
            if tlen > 0 and (sport in self.ports or dport in self.ports) \
                    and pairs_find(tcp, "tcp.reassembled_in") is None:
                self.undissected(n, "%d TCP payload bytes on a SIS port not decoded as SIS" % tlen)

        if linktype == LINKTYPE_STANAG_5066_D_PDU:
            if "s5066dts" not in names:
                self.undissected(n, "link-type 237 frame not decoded as a D_PDU")
            self.dpdu(fr)

    def malformed(self, n, layer, ordinal, mine_sis, value):
        label = json.dumps(value)
        if "Dissector bug" in label:
            self.problem(n, "MALFORMED", "dissector bug after %s: %s" % (layer, label), "malformed")
            return
        if layer == "s5066sis" and 0 <= ordinal < len(mine_sis) and mine_sis[ordinal]["quirk_ok"] \
                and not self.args.no_quirks:
            p = mine_sis[ordinal]
            self.problem(n, "quirk", "Q1: Malformed Packet in %s on SAP %d: the s5066sis dissector "
                                     "reads a client header after the echoed U_PDU (not counted)"
                         % (p["name"], p["bytes"][6] & 0x0F), "known_quirks")
            return
        self.problem(n, "MALFORMED", "dissector exception (Malformed Packet) in %s" % layer, "malformed")

    def expert(self, n, layer, ordinal, mine_pmul, abbrev, msg):
        proto = abbrev.split(".")[0] if not abbrev.startswith("_ws.") else layer
        if abbrev in ZERO_PAD_EXPERTS and layer == "p_mul" and 0 <= ordinal < len(mine_pmul) \
                and mine_pmul[ordinal]["padding"] and not self.args.no_quirks:
            self.problem(n, "quirk", "Q2: p_mul warns \"%s\" on a PDU zero-padded beyond its "
                                     "Length_of_PDU (accepted, not counted)" % msg, "known_quirks")
            return
        if proto == "tcp" or layer == "tcp":
            self.problem(n, "TCP" if self.args.tcp_fatal else "tcp-info", "%s [%s]" % (msg, abbrev),
                         "tcp_warnings")
            return
        self.problem(n, "WARNING", "%s: %s [%s]" % (proto, msg, abbrev), "warnings")

    def verdict(self):
        self.st["undissected"] = len(self.undissected_frames)
        st = self.st
        bad = st["malformed"] + st["warnings"] + st["lint"] + st["undissected"]
        if self.args.tcp_fatal:
            bad += st["tcp_warnings"]
        return bad


class Stream:
    """one direction of a TCP connection on a SIS port, cut into S_Primitives"""

    def __init__(self, judge, name, isn):
        self.j = judge
        self.name = name
        self.base = isn
        self.next = 0           # next stream offset expected
        self.buf = bytearray()  # bytes not yet consumed as primitives
        self.buf_off = 0        # stream offset of buf[0]
        self.owner = []         # (end offset, frame) of appended data
        self.pending = {}       # offset -> (data, frame): beyond a gap
        self.in_garbage = False # bytes skipped looking for a preamble, reported

    def segment(self, seq, data, frame):
        """add a segment; returns the number of new bytes"""
        off = (seq - self.base) & 0xFFFFFFFF
        if off >= 0x80000000:   # before the first segment seen: old data
            return 0
        end = off + len(data)
        if end <= self.next:
            return 0
        if off > self.next:
            self.pending[off] = (data, frame)
            return len(data)
        new = data[self.next - off:]
        self.append(new, frame)
        while True:
            nxt = [o for o in self.pending if o <= self.next]
            if not nxt:
                break
            for o in nxt:
                d, f = self.pending.pop(o)
                if o + len(d) > self.next:
                    self.append(d[self.next - o:], f)
        return len(new)

    def append(self, data, frame):
        self.next += len(data)
        self.buf += data
        self.owner.append((self.next, frame))
        self.parse(final=False)

    def frame_at(self, off):
        for end, f in self.owner:
            if off < end:
                return f
        return self.owner[-1][1] if self.owner else 0

    def consume(self, n):
        del self.buf[:n]
        self.buf_off += n
        while len(self.owner) > 1 and self.owner[0][0] <= self.buf_off:
            self.owner.pop(0)

    def parse(self, final):
        j = self.j
        pre = b"\x90\xeb\x00"
        while self.buf:
            if not self.buf.startswith(pre[:len(self.buf)]):
                k = self.buf.find(pre, 1)
                if k < 0:  # keep what could be the start of a preamble
                    k = len(self.buf) if final else max(len(self.buf) - 2, 1)
                if not self.in_garbage:
                    j.undissected(self.frame_at(self.buf_off + k - 1),
                                  "bytes in %s that are not an S_Primitive (no 90 EB 00 preamble)"
                                  % self.name)
                    self.in_garbage = True
                self.consume(k)
                continue
            if len(self.buf) < 5:
                break
            size = u16(self.buf, 3)
            if size == 0:
                j.lint(self.frame_at(self.buf_off + 4), "S_Primitive of size 0 in %s" % self.name)
                self.consume(5)
                continue
            if len(self.buf) < 5 + size:
                break
            self.in_garbage = False
            j.primitive(self.frame_at(self.buf_off + 4 + size), bytes(self.buf[:5 + size]))
            self.consume(5 + size)
        if final and self.buf:
            f = self.frame_at(self.buf_off + len(self.buf) - 1)
            want = "%d" % (5 + u16(self.buf, 3)) if len(self.buf) >= 5 else "at least 5"
            j.undissected(f, "%s ends inside an S_Primitive: %d of its %s bytes"
                          % (self.name, len(self.buf), want))
            self.consume(len(self.buf))

    def finish(self):
        if self.pending:
            gap = min(self.pending) - self.next
            f = self.pending[min(self.pending)][1]
            self.j.problem(f, "TCP" if self.j.args.tcp_fatal else "tcp-info",
                           "%d bytes of %s missing from the capture before this frame" % (gap, self.name),
                           "tcp_warnings")
            self.parse(final=True)      # what was before the gap ends there
            self.buf = bytearray()
            self.buf_off = min(self.pending)
            self.next = self.buf_off
            self.owner = [(self.next, f)]
            self.in_garbage = True      # look for the next preamble quietly
            pend, self.pending = self.pending, {}
            for o in sorted(pend):
                d, fr = pend[o]
                if o + len(d) > self.next:
                    self.append(d[max(self.next - o, 0):], fr)
        self.parse(final=True)


# ---- D_PDU CRCs (Annex C, as Wireshark's s5066dts computes them) ------------

def _crc_reflected(data, poly_reflected, width):
    crc = 0
    for x in data:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ poly_reflected if crc & 1 else crc >> 1
    return crc & ((1 << width) - 1)


def _reflect(v, width):
    return int(format(v, "0%db" % width)[::-1], 2)


def crc16_dpdu(data):
    """header CRC: x^16+x^15+x^12+x^11+x^8+x^6+x^3+1 (0x9949), reflected, initial 0"""
    return _crc_reflected(data, _reflect(0x9949, 16), 16)


def crc32_dpdu(data):
    """C_PDU segment CRC: polynomial 0x0AA725CF, reflected, initial 0"""
    return _crc_reflected(data, _reflect(0x0AA725CF, 32), 32)


# ---- main ------------------------------------------------------------------------

EXPECT_RE = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|==|!=|>|<)\s*(\d+)\s*$")


def check_expectations(exprs, st):
    failed = []
    for e in exprs:
        m = EXPECT_RE.match(e)
        k, op, v = m.group(1), m.group(2), int(m.group(3))
        ok = {">=": st[k] >= v, "<=": st[k] <= v, "==": st[k] == v, "!=": st[k] != v,
              ">": st[k] > v, "<": st[k] < v}[op]
        print("wire_judge: expect %s %s %d: %s (%d)" % (k, op, v, "ok" if ok else "FAILED", st[k]))
        if not ok:
            failed.append(e)
    return failed


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="wire_judge.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Judge a pcap of mule5066 traffic (STANAG 5066 SIS over TCP, ACP 142 P_MUL, "
                    "RFC 8494 MULE CompressedData; or STANAG 5066 D_PDUs, link type 237) with "
                    "Wireshark's dissectors through tshark and byte-level checks of our own.",
        epilog="counters: " + ", ".join(COUNTERS) + "\n"
               "  sis/pmul/cdt/dts: layers Wireshark decoded; pmul_msgs_reassembled: P_MUL "
               "messages Wireshark\n  reassembled; pmul_msgs: distinct P_MUL messages the judge "
               "reassembled itself;\n  pmul_address/data/ack: P_MUL PDUs of that type the judge "
               "found in SIS U_PDUs.\n"
               "fails on: malformed, warnings, lint, undissected (and tcp_warnings with "
               "--tcp-fatal).\n"
               "exit status: 0 clean, 1 problems or a failed expectation, 2 usage or tshark error.\n"
               "example: wire_judge.py -p 15066 -x 'sis>=10' -x 'pmul>=5' run.pcap")
    ap.add_argument("pcap", help="capture file (pcap or pcapng)")
    ap.add_argument("-p", "--port", type=int, action="append", metavar="PORT",
                    help="TCP port carrying SIS (repeatable; 5066 always is)")
    ap.add_argument("-m", "--payload", choices=("cdt", "none"), default="cdt",
                    help="what a reassembled P_MUL message holds: cdt = MULE CompressedData "
                         "(default, judged), none = opaque bytes")
    ap.add_argument("-x", "--expect", action="append", default=[], metavar="EXPR",
                    help="expectation on a counter, e.g. 'pmul>=5' or 'cdt==1' (repeatable; "
                         "operators >= <= == != > <)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only problems and the summary")
    ap.add_argument("--tcp-fatal", action="store_true",
                    help="TCP expert warnings and gaps in a SIS stream fail the capture")
    ap.add_argument("--no-quirks", action="store_true",
                    help="count the known dissector quirks (Q1, Q2) as failures")
    ap.add_argument("--save-messages", metavar="DIR",
                    help="write each P_MUL message the judge reassembled to DIR/SOURCE-MSGID.bin "
                         "and, with -m cdt, its inflated content to DIR/SOURCE-MSGID.inflated")
    ap.add_argument("--tshark", metavar="PATH", help="tshark to run (default: $TSHARK or tshark)")
    args = ap.parse_args(argv)
    for e in args.expect:
        m = EXPECT_RE.match(e)
        if not m or m.group(1) not in COUNTERS:
            ap.error("bad expectation %r (NAME OP NUMBER; names: %s)" % (e, ", ".join(COUNTERS)))
    for p in args.port or []:
        if not 0 < p < 65536:
            ap.error("bad port %d" % p)
    if not os.path.isfile(args.pcap) or not os.access(args.pcap, os.R_OK):
        ap.error("cannot read %s" % args.pcap)
    if args.save_messages and not os.path.isdir(args.save_messages):
        ap.error("no directory %s" % args.save_messages)
    return args


def main(argv):
    args = parse_args(argv)
    j = Judge(args)
    try:
        frames = run_tshark(args, args.pcap, j.ports)
    except SystemExit2 as e:
        print("wire_judge: %s" % e, file=sys.stderr)
        return 2
    linktype = pcap_linktype(args.pcap)
    j.st["frames"] = len(frames)
    for fr in frames:
        j.feed_tcp(fr)
    j.finish_streams()
    for fr in frames:
        j.wireshark(fr, linktype)
    bad = j.verdict()

    if not args.quiet:
        for fr in frames:
            ours = [n for n, _, _ in fr.layers if n in OUR_LAYERS]
            if ours or fr.number in j.desc:
                print("%6d  %-28s %s" % (fr.number, ":".join(ours), "  ".join(j.desc.get(fr.number, []))))
    for n, kind, text in sorted(j.problems, key=lambda p: p[0]):
        print("  frame %d: %s: %s" % (n, kind, text))
    print("wire_judge: " + ", ".join("%s: %d" % (k, j.st[k]) for k in COUNTERS))
    failed = check_expectations(args.expect, j.st)
    if bad or failed:
        why = ["%d problem%s" % (bad, "" if bad == 1 else "s")] if bad else []
        why += ["expectation %s failed" % e for e in failed]
        print("wire_judge: FAIL %s (%s)" % (args.pcap, "; ".join(why)))
        return 1
    print("wire_judge: PASS %s" % args.pcap)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
