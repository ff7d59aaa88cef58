"""judge.dts - STANAG 5066 Annex C D_PDUs in pcaps of link type 237 (as
Wireshark's s5066dts reads them): the 90 EB sync, the header and address
sizes, the C_PDU segment size of the data-carrying types, the header CRC-16
and the segment CRC-32.
"""
import struct

from .common import u16

LINKTYPE_STANAG_5066_D_PDU = 237


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


class DtsReader:
    """the Judge's reading of a link-type 237 frame as one D_PDU"""

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
