"""judge.common - network byte order fields and dotted addresses, shared by the
readers of STANAG 5066 Annex A S_Primitives (sis), ACP 142 P_MUL PDUs (pmul)
and STANAG 5066 Annex C D_PDUs (dts): every multi-byte field of those is
big-endian, every address a 32-bit number written as a dotted quad.
"""
import struct


def u16(b, i):
    return (b[i] << 8) | b[i + 1]


def u32(b, i):
    return struct.unpack_from(">I", b, i)[0]


def dotted(v):
    return "%d.%d.%d.%d" % (v >> 24 & 0xFF, v >> 16 & 0xFF, v >> 8 & 0xFF, v & 0xFF)

