"""judge.tshark - Wireshark's dissectors (s5066sis: STANAG 5066 Annex A;
s5066dts: Annex C; p_mul: ACP 142; cdt and ber: RFC 3274 / RFC 8494) through
one tshark run: running tshark, walking its JSON, the capture's link type,
and pass 2 of the judge: what Wireshark decoded, its dissector exceptions
(malformed) and expert infos of warning severity or above, with the known
dissector quirks Q1 and Q2 told apart, and payload it did not decode.
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile

from .dts import LINKTYPE_STANAG_5066_D_PDU

SIS_PORT = 5066  # Wireshark decodes TCP port 5066 as SIS by itself
OUR_LAYERS = ("s5066sis", "s5066dts", "p_mul", "cdt", "ber")
PI_NOTE, PI_WARN = 0x00400000, 0x00600000
ZERO_PAD_EXPERTS = ("p_mul.length.invalid", "p_mul.more_data")


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


class WiresharkPass:
    """the Judge's pass 2: what Wireshark made of each frame"""

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
