"""judge - the modules of the wire judge (tests/wire/wire_judge.py, its entry
point: arguments, main, summary and expectations).

  tshark  Wireshark's dissectors through one tshark run (its JSON, the link
          type) and pass 2: malformed, expert infos, known quirks Q1 and Q2
  sis     STANAG 5066 Ed.3 Annex A: SIS streams rebuilt, S_Primitives checked
  pmul    ACP 142 P_MUL: PDU layouts, Length_of_PDU, the Annex B-3 checksum,
          reassembly
  cdt     RFC 8494 / RFC 3274 CompressedData: content type 25, algorithm 0,
          an RFC 1950 zlib stream that inflates
  dts     STANAG 5066 Annex C D_PDUs (link type 237): lengths and CRCs
  common  big-endian fields and dotted addresses the readers share
  core    the Judge built from those readers: counters, problems, verdict

Python's standard library only. wire_judge.py imports it with
sys.dont_write_bytecode set, so a read-only source tree (make distcheck)
needs no __pycache__.
"""
from .core import COUNTERS, Judge
from .tshark import OUR_LAYERS, SystemExit2, pcap_linktype, run_tshark

__all__ = ("COUNTERS", "Judge", "OUR_LAYERS", "SystemExit2", "pcap_linktype", "run_tshark")
