#!/bin/sh
# gw_far_limits.sh - issue 12 (d): what the far gateway cannot take comes
# back as a failed DSN, never a silent loss.  s5066sim with alpha and bravo
# (no loss, time scale 20); bravo's [mule] max_message_size is 32k while
# alpha's is the default 10M, and bravo's LAN sink answers 550 for
# reject@bravo.example.
#  1. a message to reject@ and bob@bravo.example: bob gets it once; the
#     failed DSN for reject@ reaches alpha's LAN sink, addressed to the
#     envelope sender, within RTT_BOUND radio seconds of alpha's 250
#     (the simulator's clock, kill -USR1), without any restart or retry
#  2. three 40 kB messages to bob@bravo.example (too big for bravo)
#  3. a zlib bomb: 1 MB of one repeated character, about 1 kB compressed,
#     inflating beyond bravo's limit
# Expected for 2 and 3: one failed DSN each at alpha's sink to the envelope
# sender, and no copy at bravo's sink.
#  4. alpha restarted with [node bravo] max_message_size = 32k: a 40 kB
#     message is refused with 552 5.3.4, at RCPT after MAIL SIZE=, and
#     after DATA without SIZE.
# Prints the counts, the DSN time and the 552 replies.
#   GW_SEED, GW_SCALE, GW_VERBOSE=1, KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
export T top_srcdir top_builddir
"$PY" - <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "integration"))
import gw_net

RTT_BOUND = 60  # radio seconds: the message out, the LAN's 550, the DSN back (about 15 s on this channel)


def failed_dsns(net, rec, rcpt):
    """failed DSNs at the sender's sink for rec's rcpt, addressed to its envelope sender"""
    out = []
    for c in net.sinks[rec["sender"]].copies():
        if c.is_dsn and c.rcpts == [rec["from"]]:
            out += [d for d in c.dsn if d[0] == rec["id"] and d[1] == rcpt and d[2] == "failed"]
    return out


def scenario():
    net = gw_net.Net(nodes=["alpha", "bravo"], scale=20, loss=0.0, seed=8494, tag="lim",
                     sink_opts={"bravo": ["--reject", "reject@bravo.example=550"]})
    net.conf["bravo"]["mule"]["max_message_size"] = "32k"
    net.start()
    problems = []

    # 1. the far LAN MTA's 550: a DSN within one radio round trip
    r0 = net.radio_s()
    rec = net.send("alpha", ["reject@bravo.example", "bob@bravo.example"], tag="lim550")
    if rec["status"] != "accepted":
        raise gw_net.Failure("alpha refused the 550 message: %s" % rec["reply"])
    end = time.monotonic() + 4 * RTT_BOUND / net.scale + 5
    while not failed_dsns(net, rec, "reject@bravo.example") and time.monotonic() < end:
        time.sleep(0.05)
    r1 = net.radio_s()
    if failed_dsns(net, rec, "reject@bravo.example"):
        print("# 550 at the far LAN MTA: failed DSN at alpha's sink %.1f radio seconds after alpha's 250 "
              "(bound %d)" % (r1 - r0, RTT_BOUND), flush=True)
        if r1 - r0 > RTT_BOUND:
            problems.append("the DSN for the far 550 took %.1f radio seconds (bound %d)" % (r1 - r0, RTT_BOUND))
    else:
        print("# 550 at the far LAN MTA: NO failed DSN at alpha's sink after %.1f radio seconds" % (r1 - r0),
              flush=True)
        problems.append("no DSN for the far 550 within %.0f radio seconds" % (r1 - r0))

    # 2. three 40 kB messages, 3. the zlib bomb
    big = [net.send("alpha", ["bob@bravo.example"], tag="lim40k-%d" % i, size=40 * 1024) for i in range(3)]
    bomb_body = ("A" * 998 + "\r\n") * 1050  # 1 MB of one character
    bomb = net.send("alpha", ["bob@bravo.example"], tag="limbomb", body=bomb_body)
    for r in big + [bomb]:
        if r["status"] != "accepted":
            raise gw_net.Failure("alpha refused %s: %s" % (r["id"], r["reply"]))
    net.wait_accounted(400 / net.scale + 10)  # about 100 radio seconds needed
    net.wait_quiet(200 / net.scale + 5)
    rows = net.counts()
    net.report(rows, "far limits (bravo max_message_size 32k, a 550 recipient)")
    for r in big + [bomb]:
        n_dsn = len(failed_dsns(net, r, "bob@bravo.example"))
        n_del = next(row for row in rows if row["rec"] is r)["rcpt"]["bob@bravo.example"]["delivered"]
        print("#   %s (%s): failed DSNs to the sender %d, copies at bravo %d" % (
            r["id"], "zlib bomb" if r is bomb else "40 kB", n_dsn, n_del), flush=True)
        if n_dsn != 1 or n_del != 0:
            problems.append("%s: %d failed DSNs, %d copies (want 1 and 0)" % (r["id"], n_dsn, n_del))
    row = next(row for row in rows if row["rec"] is rec)
    if row["rcpt"]["bob@bravo.example"]["delivered"] != 1:
        problems.append("bob got the 550 message %d times" % row["rcpt"]["bob@bravo.example"]["delivered"])
    n = len(failed_dsns(net, rec, "reject@bravo.example"))
    if n != 1:
        problems.append("%d failed DSNs for reject@bravo.example (want 1)" % n)
    # 4. alpha told bravo's limit ([node bravo] max_message_size): refused
    #    at SMTP time with 552 5.3.4, at RCPT with SIZE= and after DATA without
    net.conf["alpha"]["node bravo"]["max_message_size"] = "32k"
    net.kill_gw("alpha", gw_net.signal.SIGTERM)
    net.restart_gw("alpha")
    big = ("From: <a@alpha.example>\r\nSubject: big\r\nMessage-ID: <lim552@alpha.example>\r\n\r\n" +
           ("x" * 76 + "\r\n") * 520)  # about 40 kB
    with gw_net.smtplib.SMTP("127.0.0.1", net.gws["alpha"].smtp_port, timeout=30) as c:
        c.ehlo()
        code, _ = c.mail("a@alpha.example", ["SIZE=%d" % len(big)])
        rcode, rtext = c.rcpt("bob@bravo.example")
        c.rset()
        code2, _ = c.mail("a@alpha.example")  # no SIZE: the size is known after DATA
        rcode2, _ = c.rcpt("bob@bravo.example")
        dcode, dtext = c.data(big.encode())
    print("# alpha with [node bravo] max_message_size = 32k: RCPT after SIZE=%d: %d %s; DATA of %d bytes: %d %s"
          % (len(big), rcode, rtext.decode(), len(big), dcode, dtext.decode()), flush=True)
    if code != 250 or rcode != 552 or b"5.3.4" not in rtext:
        problems.append("RCPT after MAIL SIZE= over the far limit: %d %s (want 552 5.3.4)" % (rcode, rtext))
    if code2 != 250 or rcode2 != 250 or dcode != 552 or b"5.3.4" not in dtext:
        problems.append("DATA over the far limit: %d %s (want 552 5.3.4)" % (dcode, dtext))
    if problems:
        raise gw_net.Failure("; ".join(problems))


gw_net.main(scenario)
PY
exit $?
