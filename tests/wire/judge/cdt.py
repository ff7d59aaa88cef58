"""judge.cdt - RFC 8494 (MULE) CompressedData as RFC 3274 defines it and
STANAG 4406 Annex E tags it: compressionAlgorithm algorithmID-ShortForm 0
(zlib), contentType-ShortForm 25, compressedContent a real RFC 1950 zlib
stream that inflates completely (Python's zlib). Just enough BER (X.690,
definite lengths) to read it.
"""
import zlib

INFLATE_LIMIT = 64 << 20


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


def ber_whole(b, i, end, tag, what):
    """(content_start, content_end) of the TLV at b[i], which must have this
    tag and fill b[i:end] exactly"""
    t, s, e = ber_tlv(b, i, end)
    if t != tag:
        raise BerError("%s (tag 0x%02x, want 0x%02x)" % (what, t, tag))
    if e != end:
        raise BerError("%d bytes after %s" % (end - e, what))
    return s, e


def parse_compressed_data(m):
    """RFC 3274 CompressedData as STANAG 4406 Annex E tags it (RFC 8494):
    SEQUENCE { compressionAlgorithm, compressedContentInfo SEQUENCE {
    contentType, compressedContent [0] EXPLICIT OCTET STRING } }"""
    s, e = ber_whole(m, 0, len(m), 0x30, "the CompressedData SEQUENCE")
    alg, i = ber_small_choice(m, s, e, "compressionAlgorithm")
    s2, e2 = ber_whole(m, i, e, 0x30, "the compressedContentInfo SEQUENCE")
    ct, j = ber_small_choice(m, s2, e2, "contentType")
    s3, e3 = ber_whole(m, j, e2, 0xA0, "compressedContent [0] EXPLICIT")
    s4, e4 = ber_whole(m, s3, e3, 0x04, "the compressedContent primitive OCTET STRING")
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


class CdtReader:
    """the Judge's reading of a reassembled P_MUL message as MULE CompressedData"""

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
