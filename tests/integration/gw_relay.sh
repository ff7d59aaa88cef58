#!/bin/sh
# gw_relay.sh - issue 12 (e): relay through an intermediate node, with the
# relay's spool failing once.  s5066sim with alpha, bravo and charlie (no
# loss, time scale 20); alpha routes charlie.example via bravo (route
# via=), charlie routes alpha.example via bravo, and bravo's routes to both
# name bravo itself as via (what makes a relay forward, mulegw.conf(5)).  Phase 1: alpha takes a message to carol@charlie.example and
# one to bob@bravo.example + carol@charlie.example; both go alpha -> bravo
# -> charlie.  Phase 2, once every spool is empty: bravo's spool directory
# outgoing/ (smtp-gw/spool.c: the queue of messages to send over HF) is
# made unwritable (chattr +i as root, chmod 0500 otherwise; skipped if
# neither holds), alpha takes 4 more such messages (the first to bob and
# carol: bravo can spool bob's copy but not the relay of carol's), and as
# soon as bravo has logged one spool failure the directory is writable
# again.  Expected: every recipient delivered exactly
# once, or bounced with a failed DSN at alpha's sink - never lost, never
# twice.  Prints the counts.
#   GW_SEED, GW_SCALE, GW_VERBOSE=1, KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
export T top_srcdir top_builddir
"$PY" - <<'PY'
import os, re, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "integration"))
import gw_net


def scenario():
    net = gw_net.Net(nodes=["alpha", "bravo", "charlie"], scale=20, loss=0.0, seed=2852, tag="relay")
    net.relay("alpha", "bravo", "charlie")
    net.start()
    kinds = [["carol@charlie.example"], ["bob@bravo.example", "carol@charlie.example"]]

    # phase 1: the relay works
    for k in kinds:
        if net.send("alpha", k)["status"] != "accepted":
            raise gw_net.Failure("alpha refused a message: %r" % net.sent[-1])
    if not net.wait_accounted(600 / net.scale + 10, "phase 1 (plain relay)"):
        print("# phase 1: the plain relay did not deliver everything", flush=True)
    relayed = len(re.findall(r"smtpgw relay qid=", net.gws["bravo"].text()))
    print("# phase 1: bravo relayed %d message(s)" % relayed, flush=True)

    # phase 2: bravo's outgoing queue refuses new entries until it has failed
    # once (for a message with a recipient of its own and one to relay)
    net.wait_quiet(300 / net.scale + 10)
    outgoing = os.path.join(net.conf["bravo"]["mulegw"]["spool"], "outgoing")
    since = net.gws["bravo"].size()
    net.make_unwritable(outgoing)
    for i in range(4):
        if net.send("alpha", kinds[1 - i % 2])["status"] != "accepted":
            raise gw_net.Failure("alpha refused a message: %r" % net.sent[-1])
    m = net.gws["bravo"].wait_for(r"smtpgw spool-io .*/outgoing/.*", 600 / net.scale + 10, since=since,
                                  what="bravo failing to write into outgoing/")
    net.make_writable(outgoing)
    print("# phase 2: bravo's spool failed once: %s" % m.group(0).strip(), flush=True)
    net.wait_accounted(600 / net.scale + 10)  # a retransmission round is 20-30 radio seconds
    net.wait_quiet(300 / net.scale + 10)
    rows = net.counts()
    net.report(rows, "relay alpha -> bravo -> charlie, bravo's spool failing once")
    net.check_exactly_once(rows, allow_bounce=True)


gw_net.main(scenario)
PY
exit $?
