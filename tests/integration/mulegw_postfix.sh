#!/bin/sh
# mulegw_postfix.sh - mulegw between two real MTAs: Debian's Postfix, run as
# two private instances on loopback ports (postfix -c DIR start, each with
# its own main.cf/master.cf, queue and maillog in the test's directory).
#   Postfix A (alpha's LAN) --transport_maps--> mulegw alpha --s5066sim-->
#   mulegw bravo --[lan] relay--> Postfix B (bravo's LAN) --> virtual mailbox
# A message goes into Postfix A with smtplib for user@bravo.example; it must
# land in B's virtual mailbox (Maildir) with its body intact and a
# "Received: ... with MULE" trace field, and A's maillog must show the relay
# to mulegw alpha with status=sent.  Postfix's SMTP client pipelines QUIT
# behind the final dot: mulegw answers the message 250 after its group
# commit, then the QUIT 221, and must not take Postfix for a client that
# left before its 250 (no "queued-client-gone" in any gateway log).  Needs
# root (postfix start) and the postfix package: otherwise it is skipped (77).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
[ -x /usr/sbin/postfix ] || { echo "SKIP: /usr/sbin/postfix not installed"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: postfix start needs root"; exit 77; }
getent passwd postfix >/dev/null && getent group postdrop >/dev/null ||
    { echo "SKIP: no postfix user or postdrop group"; exit 77; }
SIM="$top_builddir/s5066/s5066sim"
GW="$top_builddir/smtp-gw/mulegw"
SCALE=20
NOBODY=$(id -u nobody 2>/dev/null || echo 65534)
NOGROUP=$(getent group nogroup | cut -d: -f3)
: "${NOGROUP:=65534}"

# Postfix's daemons run as postfix and (virtual) as nobody: they must reach
# paths below the test directory.
chmod 755 "$T"

. "$top_srcdir/tests/integration/postfix.sh"

PA=$(free_port)
PB=$(free_port)
[ "$PA" != "$PB" ] || PB=$(free_port)

# Postfix B: bravo's LAN, delivers bravo.example into a virtual Maildir
pf_setup "$T/pfb" bravo "$PB"
cat >> "$T/pfb/etc/main.cf" <<EOF
virtual_mailbox_domains = bravo.example
virtual_mailbox_base = $T/pfb/vmail
virtual_mailbox_maps = texthash:$T/pfb/vmailbox
virtual_uid_maps = static:$NOBODY
virtual_gid_maps = static:$NOGROUP
EOF
mkdir -p "$T/pfb/vmail"
chown "$NOBODY:$NOGROUP" "$T/pfb/vmail"
echo "user@bravo.example user/" > "$T/pfb/vmailbox"
ln -s "$T/pfb/maillog" "$T/postfix_b.log"
pf_start "$T/pfb"

cat > "$T/net.conf" <<EOF
[channel]
rate = 2400
turnaround = 500ms
loss = 0
seed = 7
time_scale = $SCALE
max_queue = 16k

[node alpha]
address = 0.0.0.1
port = 0

[node bravo]
address = 0.0.0.2
port = 0
EOF
start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=2'
simport() { awk -v n="$1" '$1 == n { print $2 }' "$T/ports"; }

# gwconf NODE ID LANPORT - a gateway config for one node (lib.sh's)
gwconf() {
    gw_conf "$1" "$2" "$3" "$(simport "$1")" "$SCALE" "log_level = info"
}

gwconf alpha 1 "$PA"
gwconf bravo 2 "$PB"
for n in alpha bravo; do
    "$GW" -n -c "$T/$n.conf" > "$T/check-$n.log" 2>&1 || fail "config check failed for $n: $(cat "$T/check-$n.log")"
    start "gw_$n" "$GW" -f -c "$T/$n.conf" -p "$T/$n.smtp"
done
for n in alpha bravo; do
    wait_for "gw_$n" 'smtpgw bearer-up'
done
GWA=$(awk '$1 == "smtp" { print $2; exit }' "$T/alpha.smtp")
[ -n "$GWA" ] || fail "no smtp port in $T/alpha.smtp"

# Postfix A: alpha's LAN, relays bravo.example to mulegw alpha
pf_setup "$T/pfa" alpha "$PA"
cat >> "$T/pfa/etc/main.cf" <<EOF
transport_maps = texthash:$T/pfa/transport
EOF
echo "bravo.example smtp:[127.0.0.1]:$GWA" > "$T/pfa/transport"
ln -s "$T/pfa/maillog" "$T/postfix_a.log"
pf_start "$T/pfa"

# One message into Postfix A.  Its body has long lines, a line starting
# with a dot and trailing spaces, so "intact" means something.
"$PY" - "$PA" "$T/sent.eml" <<'EOF' > "$T/send.log" 2>&1 || fail "smtplib into Postfix A: $(cat "$T/send.log")"
import smtplib, sys
port, out = int(sys.argv[1]), sys.argv[2]
body = "".join("line %03d of the body: %s\r\n" % (i, "x" * (i % 70)) for i in range(200))
body += ".a line that starts with a dot\r\ntrailing spaces   \r\nlast line\r\n"
msg = ("From: sender@alpha.example\r\nTo: user@bravo.example\r\n"
       "Subject: over HF through Postfix and mulegw\r\n"
       "Message-ID: <mulegw-postfix-1@alpha.example>\r\n\r\n" + body).encode()
with open(out, "wb") as f:
    f.write(body.encode())
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.sendmail("sender@alpha.example", ["user@bravo.example"], msg)
s.quit()
print("sent")
EOF

# It arrives in B's virtual mailbox (Maildir new/)
i=0
while [ $i -lt 1200 ]; do
    f=$(ls "$T/pfb/vmail/user/new/" 2>/dev/null | head -n 1)
    [ -n "$f" ] && break
    sleep 0.1; i=$((i + 1))
done
[ -n "$f" ] || fail "nothing in Postfix B's virtual mailbox after 120 s"
got="$T/pfb/vmail/user/new/$f"
cp "$got" "$T/received.eml"

"$PY" - "$T/received.eml" "$T/sent.eml" <<'EOF' > "$T/check.log" 2>&1 || fail "$(cat "$T/check.log")"
import sys
got = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
want = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
head, sep, body = got.partition(b"\n\n")
if not sep:
    sys.exit("no header/body separator in the delivered message")
if body != want:
    sys.exit("body differs: got %d bytes, want %d" % (len(body), len(want)))
# unfold the header section and look for the MULE trace field
fields = head.replace(b"\n\t", b" ").replace(b"\n ", b" ").split(b"\n")
mule = [f for f in fields if f.startswith(b"Received:") and b" with MULE" in f]
if not mule:
    sys.exit("no Received ... with MULE field in:\n" + head.decode("latin-1"))
for name in (b"Message-ID: <mulegw-postfix-1@alpha.example>", b"Subject: over HF through Postfix and mulegw"):
    if name not in fields:
        sys.exit("missing header %r" % name)
print("ok - body intact (%d bytes), %s" % (len(body), mule[0].decode("latin-1")))
EOF
cat "$T/check.log"

# Postfix A relayed to mulegw alpha; Postfix B delivered it to the mailbox
assert_grep postfix_a "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$GWA, .*status=sent"
assert_grep postfix_b 'to=<user@bravo\.example>, relay=virtual, .*status=sent'
assert_grep gw_alpha 'smtpgw queued qid=[0-9A-F]+ from=<sender@alpha\.example>'
assert_grep gw_bravo 'smtpgw received qid=[0-9A-F]+ src=0\.0\.0\.1 '
# Postfix got its 250 and then its 221: no message counted as left before its answer
assert_grep gw_alpha 'smtpgw smtpd-close session=[0-9]+ peer=127\.0\.0\.1 state=helo reason=quit'
for n in alpha bravo; do
    if grep -q 'queued-client-gone' "$T/gw_$n.log"; then
        fail "mulegw $n: $(grep 'queued-client-gone' "$T/gw_$n.log")"
    fi
done
for n in alpha bravo; do
    kill -0 "$(eval echo \$gw_${n}_pid)" || fail "mulegw $n died"
done
echo "ok - Postfix A -> mulegw alpha -> s5066sim -> mulegw bravo -> Postfix B"
exit 0
