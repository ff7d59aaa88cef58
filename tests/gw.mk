# tests/gw.mk - the gateway's exactly-once tests: integration scenarios over
# s5066sim with several gateways and independent LAN sinks (issue 12)
#
# Each gw_*.sh runs one scenario with tests/integration/gw_net.py (the
# harness: simulator, one mulegw and one smtp_sink.py per node, mail in by
# SMTP, kills and restarts, counts per Message-ID at every sink) and
# prints its counts.  Radio time is scaled; seeds are fixed (GW_SEED
# overrides).  By hand, from the build directory:
#   make check TESTS=tests/integration/gw_relay.sh
#   top_srcdir=.. top_builddir=. GW_VERBOSE=1 sh ../tests/integration/gw_relay.sh
EXTRA_DIST += tests/integration/gw_net.py

# (a) a node offline while the others acknowledge, then back
TESTS += tests/integration/gw_node_returns.sh
EXTRA_DIST += tests/integration/gw_node_returns.sh
# (b) s5066sim killed every 30 radio seconds while mail flows, 5% loss
TESTS += tests/integration/gw_server_flaps.sh
EXTRA_DIST += tests/integration/gw_server_flaps.sh
# (c) kill -9 of the sender and the receivers, 15 times, 300 messages, 10% loss
TESTS += tests/integration/gw_kill_random.sh
EXTRA_DIST += tests/integration/gw_kill_random.sh
# (d) the far gateway's limits and its LAN's 550: failed DSNs, in time
TESTS += tests/integration/gw_far_limits.sh
EXTRA_DIST += tests/integration/gw_far_limits.sh
# (e) relay alpha -> bravo -> charlie, bravo's spool failing once
TESTS += tests/integration/gw_relay.sh
EXTRA_DIST += tests/integration/gw_relay.sh
# (f) P_MUL Priority 200 and 16 from a raw P_MUL sender
TESTS += tests/integration/gw_priority.sh
EXTRA_DIST += tests/integration/gw_priority.sh
# (g) NOTIFY=SUCCESS through a relay; NOTIFY=DELAY (delay_warning_time)
TESTS += tests/integration/gw_notify_success.sh tests/integration/gw_notify_delay.sh
EXTRA_DIST += tests/integration/gw_notify_success.sh tests/integration/gw_notify_delay.sh
