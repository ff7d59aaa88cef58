# doc/local.mk - what `make install` puts beside the programs: the manual
# pages, the event catalogue, the example configurations (and mulegw.conf in
# $(sysconfdir)/mule5066 unless one is there), the systemd unit and the
# sysusers.d entry.  The pages and the unit are made from their .in files by
# make, not configure, so that `make prefix=... install` gets its own paths.

mule5066_subst = $(SED) \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@docdir[@]|$(docdir)|g' \
	-e 's|@systemdsystemunitdir[@]|$(systemdsystemunitdir)|g' \
	-e 's|@sysusersdir[@]|$(sysusersdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g'

# manual pages (mandoc -T lint clean: tests/integration/man_lint.sh)
MULE5066_MANS = doc/mulegw.8 doc/mulegw.conf.5 doc/mulectl.8 doc/s5066sim.8 \
	doc/s5066cat.1 doc/pmulcat.1
nodist_man_MANS = $(MULE5066_MANS)
EXTRA_DIST += doc/mulegw.8.in doc/mulegw.conf.5.in doc/mulectl.8.in doc/s5066sim.8.in \
	doc/s5066cat.1.in doc/pmulcat.1.in
CLEANFILES += $(MULE5066_MANS) conf/mulegw.service

$(MULE5066_MANS) conf/mulegw.service: Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && rm -f $@ $@.tmp && \
	$(mule5066_subst) $(srcdir)/$@.in > $@.tmp && mv $@.tmp $@
doc/mulegw.8: doc/mulegw.8.in
doc/mulegw.conf.5: doc/mulegw.conf.5.in
doc/mulectl.8: doc/mulectl.8.in
doc/s5066sim.8: doc/s5066sim.8.in
doc/s5066cat.1: doc/s5066cat.1.in
doc/pmulcat.1: doc/pmulcat.1.in
conf/mulegw.service: conf/mulegw.service.in

# the event catalogue, and the example configurations
dist_doc_DATA = doc/events.md
exampledir = $(docdir)/examples
dist_example_DATA = conf/mulegw.conf conf/s5066sim.conf conf/pmulcat-sis.conf conf/pmulcat-udp.conf

# the systemd unit (--with-systemdsystemunitdir, default PREFIX/lib/systemd/system)
EXTRA_DIST += conf/mulegw.service.in
if INSTALL_SYSTEMD_UNIT
nodist_systemdsystemunit_DATA = conf/mulegw.service
endif

# the sysusers.d entry, installed as mulegw.conf (--with-sysusersdir,
# default PREFIX/lib/sysusers.d), and mulegw.conf: installed only if absent,
# removed at uninstall only if unchanged (an operator's edits stay)
EXTRA_DIST += conf/mulegw.sysusers
mule5066_confdir = $(sysconfdir)/mule5066
install-data-hook: mule5066-install-data
uninstall-hook: mule5066-uninstall-data
mule5066-install-data:
	$(MKDIR_P) '$(DESTDIR)$(sysusersdir)'
	$(INSTALL_DATA) $(srcdir)/conf/mulegw.sysusers '$(DESTDIR)$(sysusersdir)/mulegw.conf'
	$(MKDIR_P) '$(DESTDIR)$(mule5066_confdir)'
	@if test -f '$(DESTDIR)$(mule5066_confdir)/mulegw.conf'; then \
	  echo "keeping $(DESTDIR)$(mule5066_confdir)/mulegw.conf"; \
	else \
	  echo " $(INSTALL_DATA) $(srcdir)/conf/mulegw.conf '$(DESTDIR)$(mule5066_confdir)/mulegw.conf'"; \
	  $(INSTALL_DATA) $(srcdir)/conf/mulegw.conf '$(DESTDIR)$(mule5066_confdir)/mulegw.conf'; \
	fi
mule5066-uninstall-data:
	rm -f '$(DESTDIR)$(sysusersdir)/mulegw.conf'
	@if cmp -s $(srcdir)/conf/mulegw.conf '$(DESTDIR)$(mule5066_confdir)/mulegw.conf'; then \
	  echo " rm -f '$(DESTDIR)$(mule5066_confdir)/mulegw.conf'"; \
	  rm -f '$(DESTDIR)$(mule5066_confdir)/mulegw.conf'; \
	elif test -f '$(DESTDIR)$(mule5066_confdir)/mulegw.conf'; then \
	  echo "keeping $(DESTDIR)$(mule5066_confdir)/mulegw.conf (changed)"; \
	fi
.PHONY: mule5066-install-data mule5066-uninstall-data mule5066-installdirs

# the installation directories and programs, for tests/integration/install.sh
mule5066-installdirs:
	@echo "prefix='$(prefix)'"; echo "bindir='$(bindir)'"; echo "sbindir='$(sbindir)'"; \
	echo "sysconfdir='$(sysconfdir)'"; echo "localstatedir='$(localstatedir)'"; \
	echo "mandir='$(mandir)'"; echo "docdir='$(docdir)'"; \
	echo "systemdsystemunitdir='$(systemdsystemunitdir)'"; echo "sysusersdir='$(sysusersdir)'"; \
	echo "bin_programs='$(bin_PROGRAMS)'"; echo "sbin_programs='$(sbin_PROGRAMS)'"; \
	echo "mans='$(MULE5066_MANS)'"
