"""judge.pmul - ACP 142 (P_MUL) PDUs carried in SIS U_PDUs behind the STANAG
4406 Annex E client header: the PDU layouts (the common header, Data, Ack,
Address), Length_of_PDU against the bytes present (more only as zero
padding), the Annex B-3 checksum recomputed here, and the judge's own
reassembly of P_MUL messages from their Data_PDUs.
"""
import os
import struct

from .common import dotted, u16, u32

PMUL_NAMES = {0: "Data", 1: "Ack", 2: "Address", 3: "Discard_Message", 4: "Announce",
              5: "Request", 6: "Reject", 7: "Release", 8: "FEC_Address",
              0x12: "Extra_Address", 0x18: "Extra_FEC_Address"}
PMUL_MIN_LEN = {0: 16, 1: 14, 2: 24, 3: 16, 4: 24, 5: 20, 6: 20, 7: 20}
PMUL_CKSUM_OFF = 6
PMUL_TYPE_COUNTER = {0: "pmul_data", 1: "pmul_ack", 2: "pmul_address"}


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


class PmulReader:
    """the Judge's reading of P_MUL PDUs and its reassembly of P_MUL messages"""

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
