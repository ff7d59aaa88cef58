#!/bin/sh
# gw_node_returns.sh - issue 12 (a): a node offline while the others
# acknowledge, then back.  s5066sim with alpha, bravo and charlie (no loss,
# time scale 20), a mulegw and a LAN sink per node.  bravo's gateway is
# stopped; alpha takes 3 messages, each to one recipient at bravo and one
# at charlie (one P_MUL message to both nodes); charlie acknowledges and
# delivers them; then bravo's gateway starts again on its spool and alpha's
# retransmissions reach it.  Each recipient's sink must hold each message
# exactly once: bravo delivers bob's copy, and must not relay carol's,
# which charlie already has (RFC 8494 3: a receiver serves the recipients
# its routes give it, however few destinations a retransmission's
# Address_PDU lists).  Prints the counts per message and sink.
#   GW_SEED (channel seed), GW_SCALE (time scale), GW_VERBOSE=1, KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
export T top_srcdir top_builddir
"$PY" - <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "integration"))
import gw_net

N = 3


def scenario():
    net = gw_net.Net(nodes=["alpha", "bravo", "charlie"], scale=20, loss=0.0, seed=12, tag="ret")
    net.start()
    net.kill_gw("bravo", gw_net.signal.SIGTERM)
    for i in range(N):
        rec = net.send("alpha", ["bob@bravo.example", "carol@charlie.example"])
        if rec["status"] != "accepted":
            raise gw_net.Failure("alpha did not accept message %d: %s" % (i, rec["reply"]))
    # charlie has acknowledged every message (alpha's engine says so) and delivered it
    alpha = net.gws["alpha"]
    end = gw_net.time.monotonic() + 120
    while True:
        acked = len(gw_net.re.findall(r"smtpgw dest-done .*dest=0\.0\.0\.3 result=acked", alpha.text()))
        at_charlie = sum(1 for c in net.sinks["charlie"].copies() if not c.is_dsn)
        if acked >= N and at_charlie >= N:
            break
        if gw_net.time.monotonic() > end:
            raise gw_net.Failure("charlie did not acknowledge and deliver the %d messages (acked %d, sink %d)"
                                 % (N, acked, at_charlie))
        gw_net.time.sleep(0.1)
    net.note("charlie acked and delivered %d messages while bravo was down" % N)
    net.restart_gw("bravo")
    # alpha's retransmission rounds back off from 20 radio seconds: allow ~15 radio minutes
    net.wait_accounted(900 / net.scale + 30)
    net.wait_quiet(600 / net.scale + 30)
    rows = net.counts()
    net.report(rows, "node returns (bravo down while charlie acks)")
    net.check_exactly_once(rows, allow_bounce=False)


gw_net.main(scenario)
PY
exit $?
