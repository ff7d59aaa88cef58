#!/bin/sh
# gw_priority.sh - issue 12 (f): P_MUL messages with Priority 200 and 16
# (ACP 142's Priority is a byte; the MULE mapping uses 0..15, but every
# value 0..255 is valid on the wire) are delivered, once.  s5066sim with
# alpha, bravo and charlie (no loss, time scale 20); mulegw and a LAN sink
# on bravo and charlie; on alpha a raw SIS client of this harness
# (gw_net.RawPmul, bytes built here: SAP 2, the Annex E client header,
# Address_PDU and Data_PDU with the Annex B-3 checksum, a MULE
# CompressedData payload) sends, one at a time, waiting for bravo's
# Ack_PDU (then the Ack-Ack):
#   1. Priority 200 to bob@bravo.example
#   2. Priority 16 to bob@bravo.example
#   3. Priority 200 to bob@bravo.example and carol@charlie.example, to
#      bravo only: bravo (whose route to charlie.example has via = bravo)
#      delivers bob's copy and relays carol's to charlie, with that
#      priority on its own P_MUL message
# Expected: each recipient's sink holds each message exactly once.
#   GW_SEED, GW_SCALE, GW_VERBOSE=1, KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
export T top_srcdir top_builddir
"$PY" - <<'PY'
import os, re, sys, time
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "integration"))
import gw_net

SENDER = "origin@alpha.example"


def scenario():
    net = gw_net.Net(nodes=["alpha", "bravo", "charlie"], gateways=["bravo", "charlie"], scale=20, loss=0.0,
                     seed=142, tag="prio")
    net.route("bravo", "charlie", via="bravo")  # bravo relays charlie.example's mail
    net.start()
    raw = gw_net.RawPmul(net.sim_ports["alpha"], "0.0.0.1")
    expiry = int(time.time()) + 7 * 86400  # the gateways' clocks run ahead (scaled): a week is safe
    problems = []
    for msgid, prio, rcpts in ((1, 200, ["bob@bravo.example"]), (2, 16, ["bob@bravo.example"]),
                               (3, 200, ["bob@bravo.example", "carol@charlie.example"])):
        mid = "prio%d-%d@alpha.example" % (prio, msgid)
        message = ("From: <%s>\r\nTo: %s\r\nSubject: P_MUL priority %d\r\nMessage-ID: <%s>\r\n\r\n"
                   "Sent with P_MUL Priority %d by a foreign implementation.\r\n" %
                   (SENDER, ", ".join("<%s>" % r for r in rcpts), prio, mid, prio)).encode()
        net.expect("alpha", SENDER, rcpts, mid)
        cdt = gw_net.mule_cdt(SENDER, rcpts, message)
        ack = None
        for attempt in range(3):  # as a P_MUL sender does: again while the Ack_PDU lists missing Data_PDUs
            raw.send_message("0.0.0.2", "0.0.0.2", msgid, msgid, prio, cdt, expiry)
            ack = raw.wait_ack(msgid, 120 / net.scale + 5)
            if ack and not ack[1]:
                break
        if not ack or ack[1]:
            print("# Priority %d (msgid %d): %s after 3 transmissions" % (
                prio, msgid, "Ack_PDU still lists missing Data_PDUs %s" % ack[1].hex() if ack else "no Ack_PDU"),
                flush=True)
            problems.append("Priority %d (msgid %d) not acknowledged complete" % (prio, msgid))
            continue
        print("# Priority %d (msgid %d): acknowledged complete by bravo" % (prio, msgid), flush=True)
        raw.ack_ack("0.0.0.2", msgid, prio, expiry)
    net.wait_accounted(300 / net.scale + 10)
    net.wait_quiet(300 / net.scale + 10)
    rows = net.counts()
    net.report(rows, "P_MUL Priority 200 and 16")
    for line in re.findall(r".*(?:deliver-refused|payload-bad|pdu-bad|priority).*", net.gws["bravo"].text())[:10]:
        print("#   bravo: %s" % line.strip(), flush=True)
    if problems:
        raise gw_net.Failure("; ".join(problems))
    net.check_exactly_once(rows, allow_bounce=False)


gw_net.main(scenario)
PY
exit $?
