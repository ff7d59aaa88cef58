# smtp-gw/local.mk - the mail gateway mulegw: SMTP server (engine and libev
# glue), and what the other parts add (spool, SMTP client, the daemon).
noinst_LIBRARIES += smtp-gw/libsmtpgw.a
smtp_gw_libsmtpgw_a_SOURCES = smtp-gw/smtpgw.h smtp-gw/error.c
smtp_gw_libsmtpgw_a_CPPFLAGS = $(AM_CPPFLAGS) $(ZLIB_CFLAGS)

# SMTP server: engine (no I/O) and listener glue (libev)
smtp_gw_libsmtpgw_a_SOURCES += smtp-gw/smtp_server.c smtp-gw/smtp_listen.c

# durable spool, and the SMTP client to the LAN MTA: engine (no I/O) and glue (libev)
smtp_gw_libsmtpgw_a_SOURCES += smtp-gw/spool.c smtp-gw/smtp_client.c smtp-gw/smtp_deliver.c
