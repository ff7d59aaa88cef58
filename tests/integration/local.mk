# tests/integration/local.mk - integration scripts (exit 0 pass, 77 skip)
EXTRA_DIST += tests/integration/lib.sh
# (integration tests arrive with the programs)

EXTRA_DIST += tests/integration/sis_fake_server.py
TESTS += tests/integration/s5066cat_tcp.sh tests/integration/s5066cat_serial.sh
EXTRA_DIST += tests/integration/s5066cat_tcp.sh tests/integration/s5066cat_serial.sh

# s5066sim: a three-node network driven by raw SIS clients; config errors
TESTS += tests/integration/sim_network.sh tests/integration/sim_config.sh
EXTRA_DIST += tests/integration/sim_network.sh tests/integration/sim_config.sh tests/integration/sim_sis.py
TESTS += tests/integration/sim_fuzz.sh tests/integration/sim_serial.sh
EXTRA_DIST += tests/integration/sim_fuzz.sh tests/integration/sim_serial.sh
TESTS += tests/integration/s5066_oracle.sh
EXTRA_DIST += tests/integration/s5066_oracle.sh

TESTS += tests/integration/mule_oracle.sh tests/integration/mule_dsn.sh
EXTRA_DIST += tests/integration/mule_oracle.sh tests/integration/mule_dsn.sh tests/integration/mule_dsn_check.py
TESTS += tests/integration/sim_oracle.sh
EXTRA_DIST += tests/integration/sim_oracle.sh

# P_MUL end to end with pmulcat: over s5066sim (10% loss), over UDP
# multicast on loopback, and Wireshark's verdict on a live SIS capture
TESTS += tests/integration/pmul_sim.sh tests/integration/pmul_udp.sh tests/integration/pmul_oracle.sh
EXTRA_DIST += tests/integration/pmul_sim.sh tests/integration/pmul_udp.sh tests/integration/pmul_oracle.sh
TESTS += tests/integration/pmul_config.sh
EXTRA_DIST += tests/integration/pmul_config.sh

# SMTP server (smtp-gw/smtp_listen.c) through tests/unit/smtpgw_server_tool:
# smtplib and raw clients, relay control, limits; bad input and bounded memory
TESTS += tests/integration/smtp_server.sh tests/integration/smtp_bad_input.sh
EXTRA_DIST += tests/integration/smtp_server.sh tests/integration/smtp_bad_input.sh \
	tests/integration/smtp_clients.py
TESTS += tests/integration/mulegw_e2e.sh tests/integration/mulegw_crash.sh
EXTRA_DIST += tests/integration/mulegw_e2e.sh tests/integration/mulegw_e2e.py tests/integration/readme_logs.py tests/integration/mulegw_crash.sh tests/integration/smtp_sink.py

# mulegw between two private Postfix instances (Debian's postfix; skipped
# without it or without root): A relays to mulegw by transport_maps, B
# receives from mulegw into a virtual mailbox
TESTS += tests/integration/mulegw_postfix.sh
EXTRA_DIST += tests/integration/mulegw_postfix.sh tests/integration/postfix.sh

# s5066sim + s5066cat end to end: a three-node network (ARQ, group, EMCON,
# DATAFLOW_OFF, kill and reconnect, a second bind), bad input and 1000
# connections against both, and the channel model's timing on the wall clock
TESTS += tests/integration/s5066_network.sh tests/integration/s5066_bad_input.sh tests/integration/s5066_timing.sh
EXTRA_DIST += tests/integration/s5066_network.sh tests/integration/s5066_bad_input.sh tests/integration/s5066_timing.sh tests/integration/sis_bad_peer.py
TESTS += tests/integration/configure_deps.sh
EXTRA_DIST += tests/integration/configure_deps.sh

# the event catalogue doc/events.md names every event the sources log
TESTS += tests/integration/events_doc.sh
EXTRA_DIST += tests/integration/events_doc.sh doc/events.md

# every mulectl command against running gateways (text and JSON), and the
# privilege drop after binding (as root: user nobody)
TESTS += tests/integration/mulectl.sh
EXTRA_DIST += tests/integration/mulectl.sh

# the manual pages are lint clean (mandoc, groff); make install puts every
# file where they say, keeps an edited mulegw.conf, and uninstall cleans up
TESTS += tests/integration/man_lint.sh tests/integration/install.sh
EXTRA_DIST += tests/integration/man_lint.sh tests/integration/install.sh
