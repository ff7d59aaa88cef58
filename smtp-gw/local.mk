# smtp-gw/local.mk - the mail gateway mulegw: SMTP server (engine and libev
# glue), and what the other parts add (spool, SMTP client, the daemon).
noinst_LIBRARIES += smtp-gw/libsmtpgw.a
smtp_gw_libsmtpgw_a_SOURCES = smtp-gw/smtpgw.h smtp-gw/error.c
smtp_gw_libsmtpgw_a_CPPFLAGS = $(AM_CPPFLAGS) $(ZLIB_CFLAGS)

# SMTP server: engine (no I/O) and listener glue (libev)
smtp_gw_libsmtpgw_a_SOURCES += smtp-gw/smtp_server_priv.h smtp-gw/smtp_server.c \
	smtp-gw/smtp_server_cmd.c smtp-gw/smtp_listen.c

# the daemon (installed in sbin)
sbin_PROGRAMS += smtp-gw/mulegw
smtp_gw_mulegw_SOURCES = smtp-gw/mulegw.h smtp-gw/mulegw.c smtp-gw/mulegw_conf.c smtp-gw/mulegw_ctl.c
smtp_gw_mulegw_LDADD = smtp-gw/libsmtpgw.a pmul/libpmul.a mule/libmule.a s5066/libs5066.a util/libutil.a \
	$(ZLIB_LIBS) $(EV_LIBS) $(SERIALPORT_LIBS) $(LIBM)

# durable spool, and the SMTP client to the LAN MTA: engine (no I/O) and glue (libev)
smtp_gw_libsmtpgw_a_SOURCES += smtp-gw/spool_priv.h smtp-gw/spool.c smtp-gw/spool_file.c \
	smtp-gw/spool_envelope.c smtp-gw/spool_state.c smtp-gw/spool_recover.c \
	smtp-gw/smtp_client.c smtp-gw/smtp_deliver.c

# the gateway engine: what to do with each message (policy, no I/O)
smtp_gw_libsmtpgw_a_SOURCES += smtp-gw/gateway.h smtp-gw/gateway_priv.h smtp-gw/gateway.c \
	smtp-gw/gateway_dsn.c smtp-gw/gateway_rx.c

# control channel: engine (control.c) and libev glue (control_listen.c); mulectl, the operator's client
smtp_gw_libsmtpgw_a_SOURCES += smtp-gw/control.c smtp-gw/control_listen.c
smtp_gw_libsmtpgw_a_CPPFLAGS += -DMULEGW_DEFAULT_SOCKET='"$(localstatedir)/run/mulegw/mulegw.sock"'
sbin_PROGRAMS += smtp-gw/mulectl
smtp_gw_mulectl_SOURCES = smtp-gw/mulectl.c
smtp_gw_mulectl_LDADD = smtp-gw/libsmtpgw.a mule/libmule.a util/libutil.a $(ZLIB_LIBS) $(EV_LIBS)
