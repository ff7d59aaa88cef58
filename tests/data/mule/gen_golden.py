#!/usr/bin/env python3
"""gen_golden.py - write the independent golden inputs of the mule tests.

Run from this directory: python3 gen_golden.py.  It writes
  rfc8494_example.bsmtp         the BSMTP-like payload of RFC 8494 3.1 (CRLF;
                                the RFC's "<poundsign>" placeholder written as
                                the UTF-8 pound sign the 8bit body stands for)
  rfc8494_example_explicit.cdt  that payload as CompressedData in the
                                explicit-tag form (A0 03 02 01 00 ...) with
                                long-form lengths, built here with Python's
                                zlib and a hand-written DER encoder, so the C
                                decoder is checked against a second encoder
The other golden files (*.cdt from the C encoder, dsn_*.eml, received.txt)
are written by the unit tests with MULE_UPDATE_GOLDEN=1 and reviewed by eye.
"""
import zlib

LINES = [
    "<from@example.com> MT-PRIORITY=4 BODY=8BITMIME RET=HDRS ENVID=QQ314159",
    "<to1@example.net> NOTIFY=FAILURE ORCPT=rfc822;Bob@ent.example.net",
    "<to2@example.net> NOTIFY=SUCCESS,FAILURE",
    "",
    "From: from@example.com",
    "To: To1 <to1@example.net>, To2 <to2@example.net>",
    "Date: 27 Apr 2017 16:17 +0100",
    "Subject: a test",
    "MIME-Version: 1.0",
    "Content-type: text/plain; charset=utf-8",
    "Content-transfer-encoding: 8bit",
    "",
    "This is worth \u00a3100",
]
payload = ("\r\n".join(LINES) + "\r\n").encode("utf-8")


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + body


z = zlib.compress(payload, 9)
explicit = tlv(0x30,
               tlv(0xA0, tlv(0x02, b"\x00")) +
               tlv(0x30, tlv(0xA0, tlv(0x02, b"\x19")) + tlv(0xA0, tlv(0x04, z))))
open("rfc8494_example.bsmtp", "wb").write(payload)
open("rfc8494_example_explicit.cdt", "wb").write(explicit)
