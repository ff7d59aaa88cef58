#!/bin/sh
# gw_notify_success.sh - issue 12 (g), first half: NOTIFY=SUCCESS through
# a relay.  s5066sim with alpha, bravo and charlie (no loss, time scale
# 20); alpha routes charlie.example via bravo, charlie routes alpha.example
# via bravo, bravo names itself as via for both (gw_net.Net.relay).  charlie's LAN sink does not offer DSN (smtp_sink.py
# --no-dsn), bravo's does.  alpha takes, with NOTIFY=SUCCESS,FAILURE on
# every recipient and an ENVID:
#   1. to carol@ and chuck@charlie.example and bob@bravo.example
#   2. to carol@charlie.example
# Expected (RFC 3461, mulegw(8)): each recipient delivered once; the DSN
# chain ends at charlie's gateway for carol and chuck (its LAN MTA has no
# DSN): exactly one success-type DSN ("relayed" or "delivered") per
# recipient at alpha's sink, reported by gw-charlie.example, none by alpha
# or bravo (no "relayed" when the next HF hop acknowledges); for bob the
# chain goes on into bravo's LAN MTA, which gets NOTIFY=SUCCESS with the
# recipient and reports itself: no success DSN from any gateway.
# Prints every DSN per recipient.
#   GW_SEED, GW_SCALE, GW_VERBOSE=1, KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
export T top_srcdir top_builddir
"$PY" - <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "integration"))
import gw_net

SUCCESS = ("relayed", "delivered")


def scenario():
    net = gw_net.Net(nodes=["alpha", "bravo", "charlie"], scale=20, loss=0.0, seed=3461, tag="notify",
                     sink_opts={"charlie": ["--no-dsn"]})
    net.relay("alpha", "bravo", "charlie")
    net.start()
    msgs = []
    for i, rcpts in enumerate((["carol@charlie.example", "chuck@charlie.example", "bob@bravo.example"],
                               ["carol@charlie.example"])):
        rec = net.send("alpha", rcpts, mail_options=["ENVID=notify-success-%d" % i, "RET=HDRS"],
                       rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
        if rec["status"] != "accepted":
            raise gw_net.Failure("alpha refused %s: %s" % (rec["id"], rec["reply"]))
        msgs.append(rec)
    net.wait_accounted(600 / net.scale + 10)
    # the success DSNs for charlie's recipients travel back charlie -> bravo -> alpha
    want = sum(1 for rec in msgs for r in rec["rcpts"] if r.endswith("@charlie.example"))

    def success_dsns():
        return sum(1 for c in net.sinks["alpha"].copies() if c.is_dsn for d in c.dsn if d[2] in SUCCESS)

    end = time.monotonic() + 600 / net.scale + 10
    while success_dsns() < want and time.monotonic() < end:
        time.sleep(0.1)
    net.wait_quiet(300 / net.scale + 10)
    rows = net.counts()
    net.report(rows, "NOTIFY=SUCCESS through the relay bravo")
    problems = []
    for row in rows:
        rec = row["rec"]
        for r, x in row["rcpt"].items():
            succ = [d for d in x["dsn"] if d["action"] in SUCCESS]
            other = [d for d in x["dsn"] if d["action"] not in SUCCESS]
            passed_on = [c for c in x["copies"]
                         if any(p["addr"].lower() == r and "NOTIFY=SUCCESS" in p["params"].upper()
                                for p in c.env.get("rcpts", []))]
            print("#   %s -> %s: delivered %d; success DSNs %s; other DSNs %s; NOTIFY passed to the LAN MTA: %s" % (
                rec["id"], r, x["delivered"],
                ", ".join("%s by %s" % (d["action"], d["mta"]) for d in succ) or "none",
                ", ".join("%s by %s" % (d["action"], d["mta"]) for d in other) or "none",
                "yes" if passed_on else "no"), flush=True)
            if r.endswith("@charlie.example"):
                if len(succ) != 1 or succ[0]["mta"] != "gw-charlie.example":
                    problems.append("%s -> %s: %d success DSNs (%s), want one by gw-charlie.example" % (
                        rec["id"], r, len(succ), ", ".join(d["mta"] for d in succ)))
            else:
                if succ:
                    problems.append("%s -> %s: %d success DSNs by a gateway (%s); bravo's LAN MTA has DSN" % (
                        rec["id"], r, len(succ), ", ".join(d["mta"] for d in succ)))
                if x["delivered"] and not passed_on:
                    problems.append("%s -> %s: NOTIFY=SUCCESS not passed to bravo's LAN MTA" % (rec["id"], r))
            if other:
                problems.append("%s -> %s: unexpected DSNs %s" % (rec["id"], r, ", ".join(d["action"] for d in other)))
    try:
        net.check_exactly_once(rows, allow_bounce=False)
    except gw_net.Failure as e:
        problems.append(str(e))
    if problems:
        raise gw_net.Failure("; ".join(problems))


gw_net.main(scenario)
PY
exit $?
