"""judge.core - the Judge: its counters, problem list and verdict, composed
of the readers of STANAG 5066 Annex A (sis), ACP 142 (pmul), RFC 8494
CompressedData (cdt), STANAG 5066 Annex C (dts) and of Wireshark's verdict
(tshark).
"""
from .cdt import CdtReader
from .dts import DtsReader
from .pmul import PmulReader
from .sis import SisReader
from .tshark import SIS_PORT, WiresharkPass

COUNTERS = ("frames", "sis", "pmul", "cdt", "dts", "malformed", "warnings", "lint",
            "undissected", "known_quirks", "tcp_warnings", "pmul_msgs_reassembled", "pmul_msgs",
            "pmul_address", "pmul_data", "pmul_ack")


class Judge(SisReader, PmulReader, CdtReader, DtsReader, WiresharkPass):
    """one capture judged: pass 1 (SisReader.feed_tcp, finish_streams; the SIS
    reader hands P_MUL to PmulReader, a reassembled message goes to
    CdtReader) and pass 2 (WiresharkPass.wireshark, which reads link-type 237
    frames with DtsReader.dpdu) report here"""

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

    def verdict(self):
        self.st["undissected"] = len(self.undissected_frames)
        st = self.st
        bad = st["malformed"] + st["warnings"] + st["lint"] + st["undissected"]
        if self.args.tcp_fatal:
            bad += st["tcp_warnings"]
        return bad
