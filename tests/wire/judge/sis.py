"""judge.sis - STANAG 5066 Ed.3 Annex A: SIS S_Primitives over TCP. Rebuilds
each TCP byte stream on a SIS port, cuts it into S_Primitives at the 90 EB 00
preamble and checks what the s5066sis dissector does not: the size of the
fixed-size primitives, the U_PDU size field of UNIDATA / EXPEDITED request,
indication, confirm and rejected against the bytes present; hands U_PDUs on
SAP 2/6/7 that carry the STANAG 4406 Annex E client header of ACP 142 to
the P_MUL reader.
"""
from .common import dotted, u16, u32
from .tshark import pairs_get

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


def sis_addr(b, i):
    """a 4-byte SIS address field as a dotted quad, the group bit inside"""
    return dotted(u32(b, i) & 0x1FFFFFFF)


class SisReader:
    """the Judge's own reading of the SIS byte streams (pass 1)"""

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
