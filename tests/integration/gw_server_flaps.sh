#!/bin/sh
# gw_server_flaps.sh - issue 12 (b): the 5066 server goes away and comes
# back again and again while mail flows.  s5066sim with alpha, bravo and
# charlie at 5% loss per copy and receiver (time scale 20); a mulegw and a
# LAN sink per node.  For 5 radio minutes the simulator is killed (-9)
# every 30 radio seconds (its own clock) and started again at once on the
# same SIS ports, so every gateway loses its link and rebinds; meanwhile
# alpha takes mail to bravo, to charlie and to both (one P_MUL message to
# two nodes), and bravo takes mail to alpha.  Then the simulator stays up
# until every accepted recipient is accounted for and every spool is
# empty.  Expected: 0 lost, 0 duplicated at every sink.  Prints the counts.
#   GW_SEED (channel seed), GW_SCALE (time scale), GW_VERBOSE=1, KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
export T top_srcdir top_builddir
"$PY" - <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "integration"))
import gw_net

FLAPS = 10        # kills, one every PERIOD radio seconds
PERIOD = 30
PER_FLAP = 6      # messages sent during each period, about 40 radio seconds
SIZE = 1500       # of air time in all: the channel stays busy across the kills


def scenario():
    net = gw_net.Net(nodes=["alpha", "bravo", "charlie"], scale=20, loss=0.05, seed=5066, tag="flap")
    net.start()
    both = ("alpha", ["bob@bravo.example", "carol@charlie.example"])
    kinds = [("alpha", ["bob@bravo.example"]), both, ("alpha", ["carol@charlie.example"]), both,
             ("bravo", ["al@alpha.example"]), both]
    k = 0
    for flap in range(FLAPS):
        for _ in range(PER_FLAP):
            sender, rcpts = kinds[k % len(kinds)]
            k += 1
            rec = net.send(sender, rcpts, size=SIZE, noise=True)
            if rec["status"] != "accepted":
                raise gw_net.Failure("%s did not accept %s: %s" % (sender, rec["id"], rec["reply"]))
        net.wait_radio(PERIOD, since=0)  # this simulator run's clock
        net.kill_sim()
        net.restart_sim()
    net.note("flapping over: %d kills of the simulator" % FLAPS)
    ok = net.wait_accounted(3600 / net.scale + 30)
    net.wait_quiet(1200 / net.scale + 30)
    rows = net.counts()
    net.report(rows, "server flaps (%d kills of s5066sim, 5%% loss)" % FLAPS)
    print("# sim runs: %d; per gateway: binds, P_MUL retransmission rounds: %s" % (net.sim.runs, ", ".join(
        "%s=%d,%d" % (n, len(gw_net.re.findall(r"smtpgw bearer-up", p.text())),
                      len(gw_net.re.findall(r"pmul (retransmit|resend|round)", p.text())))
        for n, p in net.gws.items())), flush=True)
    net.check_exactly_once(rows, allow_bounce=False)


gw_net.main(scenario)
PY
exit $?
