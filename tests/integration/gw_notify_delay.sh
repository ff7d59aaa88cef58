#!/bin/sh
# gw_notify_delay.sh - issue 12 (g), second half: NOTIFY=DELAY with the far
# node offline long enough: one "delayed" DSN, once.  s5066sim with alpha
# and bravo (no loss, time scale 40); alpha has [mulegw] delay_warning_time
# = 5m (radio time: the gateway's clock is scaled).  bravo's gateway is
# stopped; alpha takes four messages to bob@bravo.example:
#   NOTIFY=DELAY,FAILURE / no NOTIFY / NOTIFY=FAILURE / NOTIFY=NEVER
# The first two must each get one delayed DSN at alpha's sink (RFC 3461:
# DELAY asked for, or NOTIFY absent), the other two none.  alpha is then
# killed (-9) and restarted, and 2.5 delay_warning_times of radio pass:
# still one each ("once per message, also across restarts").  bravo comes
# back: every message delivered once, no failed DSN.
# EXPECTATION MARKER: the key delay_warning_time belongs to the new
# gateway engine; a mulegw that does not know it fails this test with
# "delay_warning_time unknown" before anything runs.
#   GW_SEED, GW_SCALE, GW_VERBOSE=1, KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
export T top_srcdir top_builddir
"$PY" - <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "integration"))
import gw_net

DELAY = 300  # radio seconds: delay_warning_time = 5m


def scenario():
    net = gw_net.Net(nodes=["alpha", "bravo"], scale=40, loss=0.0, seed=3464, tag="delay")
    net.conf["alpha"]["mulegw"]["delay_warning_time"] = "%ds" % DELAY
    net.start_sim(fixed=False)
    for s in net.sinks.values():
        s.start()
    ok, out = net.check_conf("alpha")
    if not ok:
        print("# EXPECTATION NOT CHECKED: [mulegw] delay_warning_time unknown to this mulegw: %s" % out, flush=True)
        raise gw_net.Failure("delay_warning_time unknown (%s)" % out)
    net.start_gw("alpha")
    net.gws["alpha"].wait_for(r"smtpgw bearer-up", 30)
    cases = [("NOTIFY=DELAY,FAILURE", 1), (None, 1), ("NOTIFY=FAILURE", 0), ("NOTIFY=NEVER", 0)]
    recs = []
    for notify, want in cases:
        rec = net.send("alpha", ["bob@bravo.example"], rcpt_options=[notify] if notify else [],
                       mail_options=["ENVID=%s" % ("delay-" + (notify or "none").replace("=", "-").replace(",", "-"))])
        if rec["status"] != "accepted":
            raise gw_net.Failure("alpha refused %s: %s" % (rec["id"], rec["reply"]))
        rec["notify"], rec["want_delayed"] = notify or "(absent)", want
        recs.append(rec)
    t0 = net.radio_s()

    def delayed(rec):
        return [d for c in net.sinks["alpha"].copies() if c.is_dsn and c.rcpts == [rec["from"]]
                for d in c.dsn if d[0] == rec["id"] and d[2] == "delayed"]

    end = time.monotonic() + 3 * DELAY / net.scale + 10
    while sum(1 for r in recs if delayed(r)) < 2 and time.monotonic() < end:
        time.sleep(0.1)
    t1 = net.radio_s()
    print("# after %.0f radio seconds with bravo offline: delayed DSNs %s" % (
        t1 - t0, ", ".join("%s=%d" % (r["notify"], len(delayed(r))) for r in recs)), flush=True)
    net.kill_gw("alpha")
    net.restart_gw("alpha")
    # alpha's clock restarts from the real clock (it ran ahead, scaled): 2.5
    # delay times of radio from now put it past twice the delay in any case
    net.wait_radio(2.5 * DELAY)
    print("# after alpha's kill -9 and restart and %.0f more radio seconds: delayed DSNs %s" % (
        2.5 * DELAY, ", ".join("%s=%d" % (r["notify"], len(delayed(r))) for r in recs)), flush=True)
    net.start_gw("bravo")
    net.gws["bravo"].wait_for(r"smtpgw bearer-up", 30)
    net.note("bravo's gateway up")
    net.wait_accounted(1800 / net.scale + 10)
    net.wait_quiet(600 / net.scale + 10)
    rows = net.counts()
    net.report(rows, "NOTIFY=DELAY with bravo offline")
    problems = []
    for rec in recs:
        n = len(delayed(rec))
        print("#   %s %s: delayed DSNs %d (want %d)" % (rec["id"], rec["notify"], n, rec["want_delayed"]), flush=True)
        if n != rec["want_delayed"]:
            problems.append("%s with %s: %d delayed DSNs, want %d" % (rec["id"], rec["notify"], n, rec["want_delayed"]))
    try:
        net.check_exactly_once(rows, allow_bounce=False)
    except gw_net.Failure as e:
        problems.append(str(e))
    if problems:
        raise gw_net.Failure("; ".join(problems))


gw_net.main(scenario)
PY
exit $?
