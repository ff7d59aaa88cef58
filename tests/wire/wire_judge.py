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

The checks live in the package judge/ next to this script (tshark, sis,
pmul, cdt, dts; judge/__init__.py names them); this script parses the
arguments, runs them and prints the summary and the expectations.
"""
import argparse
import os
import re
import sys

# no __pycache__ next to the package: the source tree may be read-only
# (make distcheck); the package is found next to this script from any cwd
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from judge import COUNTERS, OUR_LAYERS, Judge, SystemExit2, pcap_linktype, run_tshark  # noqa: E402


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
