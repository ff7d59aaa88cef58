#!/bin/sh
# gw_kill_random.sh - issue 12 (c): kill -9 of the sender and of each
# receiver, 15 times at random, during 300 messages over a channel with 10%
# loss.  s5066sim with alpha, bravo and charlie (time scale 60); a mulegw
# and a LAN sink per node.  A sender thread gives alpha 300 messages (to
# bravo, to charlie, to both, in turn), never more than WINDOW recipients
# ahead of what the sinks have; meanwhile, at 15 points of progress (a
# number of copies stored at the sinks, drawn from a seeded PRNG) plus a
# random radio delay, one gateway drawn at random (each at least once) is
# killed with SIGKILL and started again on its spool.  A message whose SMTP session broke is
# "uncertain": 0 or 1 copies are fine.
# Expected: 0 lost.  Duplicates are allowed only inside the documented
# LAN-delivery window (the far LAN MTA stored the copy, then the gateway
# died before committing it: RFC 1047) - each is classified from the sink
# order, the MULE id in the trace field and the killed run's log
# (gw_net.explain_duplicates) and printed; any other duplicate fails.
#   GW_SEED (kill schedule and channel seed), GW_SCALE, GW_N (messages),
#   GW_KILLS, GW_VERBOSE=1, KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
export T top_srcdir top_builddir
"$PY" - <<'PY'
import os, random, sys, threading, time
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "integration"))
import gw_net

N = gw_net.env_int("GW_N", 300)
KILLS = gw_net.env_int("GW_KILLS", 15)
WINDOW = 6        # recipients accepted but not yet at a sink
SEED = gw_net.env_int("GW_SEED", 142)


def scenario():
    net = gw_net.Net(nodes=["alpha", "bravo", "charlie"], scale=60, loss=0.10, seed=SEED, tag="kill")
    rnd = random.Random(SEED)
    net.start()
    kinds = [["bob@bravo.example"], ["carol@charlie.example"], ["bob@bravo.example", "carol@charlie.example"]]
    expected_total = sum(len(kinds[i % 3]) for i in range(N))
    points = sorted(rnd.sample(range(5, expected_total - 20), KILLS))
    # the sender and each receiver at least once, the rest drawn at random
    victims = (["alpha", "bravo", "charlie"] + [rnd.choice(["alpha", "bravo", "charlie"])
                                                for _ in range(KILLS - 3)])[:KILLS]
    rnd.shuffle(victims)
    plan = [(p, v, rnd.uniform(0, 10)) for p, v in zip(points, victims)]
    print("# seed %d: kill plan (copies at the sinks, victim, radio delay): %s" % (
        SEED, " ".join("%d:%s+%.1fs" % k for k in plan)), flush=True)

    def delivered():
        return sum(1 for s in net.sinks.values() for c in s.copies() if not c.is_dsn)

    sender_error = []

    def sender():
        try:
            for i in range(N):
                rcpts = kinds[i % 3]
                while True:
                    ahead = sum(len(r["rcpts"]) for r in list(net.sent) if r["status"] == "accepted") - delivered()
                    if ahead < WINDOW:
                        break
                    time.sleep(0.05)
                rec = net.send("alpha", rcpts, connect_retry=60, timeout=30)
                if rec["status"] == "unsent":
                    raise gw_net.Failure("alpha refused connections for 60 s: %s" % rec["reply"])
            net.note("sender: %d messages handed over" % N)
        except Exception as e:  # reported by the main thread
            sender_error.append(e)

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    for at, victim, delay in plan:
        net.wait_until(lambda: delivered() >= at or sender_error, 900 / net.scale + 60,
                       "%d copies at the sinks" % at)
        if sender_error:
            break
        net.wait_radio(delay)
        net.kill_gw_noted(victim)
        net.restart_gw(victim)
    th.join(900 / net.scale + 120)
    if sender_error:
        raise sender_error[0]
    if th.is_alive():
        raise gw_net.Failure("the sender thread did not finish")
    net.wait_accounted(3600 / net.scale + 60)
    net.wait_quiet(1800 / net.scale + 30)
    rows = net.counts()
    s = net.report(rows, "kill -9 at random (%d kills, 10%% loss, seed %d)" % (len(net.kills), SEED), detail=False)
    explained, unexplained = net.explain_duplicates(rows)
    print("# kills: %s" % ", ".join("%s(run %d, sink had %d)" % (k["node"], k["run"], k["sink_count_after"])
                                    for k in net.kills), flush=True)
    uncertain = [r for r in rows if r["rec"]["status"] != "accepted"]
    print("# uncertain (SMTP session broken by a kill): %d, copies: %s" % (
        len(uncertain), ", ".join("%s=%s" % (r["rec"]["tag"], "/".join(str(x["delivered"]) for x in r["rcpt"].values()))
                                  for r in uncertain) or "-"), flush=True)
    print("# duplicates inside the LAN-delivery window: %d" % len(explained), flush=True)
    for mid, r, why in explained:
        print("#   %s -> %s: %s" % (mid, r, why), flush=True)
    print("# duplicates NOT explained by the window: %d" % len(unexplained), flush=True)
    for mid, r, why in unexplained:
        print("#   %s -> %s: %s" % (mid, r, why), flush=True)
    lost = [(row["rec"]["id"], r) for row in rows if row["rec"]["status"] == "accepted"
            for r, x in row["rcpt"].items()
            if x["delivered"] == 0 and not any(d["action"] == "failed" for d in x["dsn"])]
    for mid, r in lost:
        print("#   LOST %s -> %s" % (mid, r), flush=True)
    bad = []
    if lost:
        bad.append("%d lost" % len(lost))
    if unexplained:
        bad.append("%d duplicates outside the LAN-delivery window" % len(unexplained))
    if s["stray"]:
        bad.append("%d stray copies" % s["stray"])
    if bad:
        raise gw_net.Failure(", ".join(bad))


gw_net.main(scenario)
PY
exit $?
