#!/usr/bin/env python3
"""mulegw_e2e.py - the mail side of the gateway end-to-end test
(mulegw_e2e.sh starts the simulator, the sinks and the gateways).

  mulegw_e2e.py T_DIR

Reads T_DIR/{alpha,bravo,charlie}.smtp (each gateway's SMTP port) and
T_DIR/sink-{alpha,bravo,charlie}/ (what each LAN MTA received), sends mail
into alpha with smtplib (and a raw client for BDAT), and checks what
arrives.  Prints "ok - ..." per check; exits non-zero at the first failure.
"""
import email
import email.policy
import json
import os
import smtplib
import socket
import sys
import time

T = sys.argv[1]


def port(node):
    with open(os.path.join(T, node + ".smtp")) as f:
        for line in f:
            k, v = line.split()
            if k == "smtp":
                return int(v)
    raise SystemExit("no smtp port for " + node)


def fail(msg):
    print("not ok - " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok - " + msg, flush=True)


def sink_messages(node):
    d = os.path.join(T, "sink-" + node)
    out = []
    for name in sorted(os.listdir(d), key=lambda n: int(n.split(".")[0]) if n[0].isdigit() else 0):
        if name.endswith(".json"):
            n = name[:-5]
            with open(os.path.join(d, name)) as f:
                env = json.load(f)
            with open(os.path.join(d, n + ".eml"), "rb") as f:
                env["content"] = f.read()
            env["n"] = int(n)
            out.append(env)
    return sorted(out, key=lambda e: e["n"])


def wait_for(node, pred, what, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        for m in sink_messages(node):
            if pred(m):
                return m
        time.sleep(0.1)
    fail("timed out waiting at %s for %s" % (node, what))


def strip_trace(content):
    """the message as sent: drop the Received fields the gateways added"""
    lines = content.split(b"\r\n")
    i = 0
    while i < len(lines) and (lines[i].startswith(b"Received:") or (i > 0 and lines[i][:1] in (b" ", b"\t"))):
        i += 1
    return b"\r\n".join(lines[i:])


def message(subject, body, extra=""):
    return ("From: alice@alpha.example\r\nTo: bob@bravo.example, carol@charlie.example\r\n"
            "Subject: %s\r\nMessage-ID: <%s@alpha.example>\r\n%s\r\n%s" % (subject, subject.replace(" ", "."), extra, body)
            ).encode()


def main():
    a = port("alpha")

    # 1. one message to two remote nodes; every byte of it arrives at both
    body = "".join("line %03d of the first message over HF\r\n" % i for i in range(40))
    m1 = message("first", body)
    with smtplib.SMTP("127.0.0.1", a, timeout=30) as s:
        code, ext = s.ehlo("lan.alpha.example")
        for kw in ("SIZE", "8BITMIME", "DSN", "MT-PRIORITY", "DELIVERBY", "BINARYMIME", "CHUNKING", "PIPELINING",
                   "ENHANCEDSTATUSCODES"):
            if not s.has_extn(kw):
                fail("EHLO does not advertise " + kw)
        ok("EHLO advertises SIZE 8BITMIME DSN MT-PRIORITY DELIVERBY BINARYMIME CHUNKING PIPELINING ENHANCEDSTATUSCODES")
        # an unroutable recipient is refused at RCPT
        s.mail("alice@alpha.example")
        code, text = s.rcpt("nobody@nowhere.invalid")
        if code != 550:
            fail("unroutable recipient got %d %s" % (code, text))
        ok("unroutable recipient refused at RCPT: %d %s" % (code, text.decode()))
        s.rset()
        refused = s.sendmail("alice@alpha.example", ["bob@bravo.example", "carol@charlie.example"], m1)
        if refused:
            fail("recipients refused: %r" % refused)
    for node, rcpt in (("bravo", "bob@bravo.example"), ("charlie", "carol@charlie.example")):
        got = wait_for(node, lambda m: b"Subject: first" in m["content"], "the first message")
        if strip_trace(got["content"]) != m1:
            fail("%s: content differs\n%r\n%r" % (node, strip_trace(got["content"])[:200], m1[:200]))
        if got["from"] != "alice@alpha.example" or [r["addr"] for r in got["rcpts"]] != [rcpt]:
            fail("%s: envelope %r" % (node, got))
        if b"with MULE" not in got["content"]:
            fail("%s: no MULE trace field" % node)
    ok("message to two nodes delivered byte-exact at bravo and charlie (trace fields aside), each its own recipient")

    # 2. priority: a large routine message, then an urgent one, both to bravo
    big = message("routine bulk", "".join("%05d routine filler text that takes air time on HF\r\n" % i for i in range(1500)))
    urgent = message("urgent flash", "Flash traffic.\r\n")
    with smtplib.SMTP("127.0.0.1", a, timeout=30) as s:
        s.sendmail("alice@alpha.example", ["bob@bravo.example"], big)
        s.sendmail("alice@alpha.example", ["bob@bravo.example"], urgent, mail_options=["MT-PRIORITY=6"])
    u = wait_for("bravo", lambda m: b"Subject: urgent flash" in m["content"], "the urgent message", 240)
    b = wait_for("bravo", lambda m: b"Subject: routine bulk" in m["content"], "the routine message", 240)
    if u["n"] > b["n"]:
        fail("the urgent message (%d) arrived after the routine one (%d)" % (u["n"], b["n"]))
    if "MT-PRIORITY=6" not in u["mail_params"].upper():
        fail("MT-PRIORITY not carried: %r" % u["mail_params"])
    ok("MT-PRIORITY=6 message overtook the large routine one (delivered %d before %d), MT-PRIORITY carried" % (u["n"], b["n"]))

    # 3. BDAT + BINARYMIME end to end (raw client: smtplib has no BDAT)
    binary = b"From: alice@alpha.example\r\nTo: bob@bravo.example\r\nSubject: binary\r\nMIME-Version: 1.0\r\n" \
             b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) * 8 + b"\r\n.\r\n\x00\rend"
    sock = socket.create_connection(("127.0.0.1", a), timeout=30)
    f = sock.makefile("rb")

    def expect(prefix):
        while True:
            line = f.readline().decode()
            if not line:
                fail("connection closed")
            if line[3:4] != "-":
                if not line.startswith(prefix):
                    fail("expected %s, got %r" % (prefix, line))
                return line

    expect("220")
    sock.sendall(b"EHLO lan.alpha.example\r\n")
    expect("250")
    sock.sendall(b"MAIL FROM:<alice@alpha.example> BODY=BINARYMIME SIZE=%d\r\n" % len(binary))
    expect("250")
    sock.sendall(b"RCPT TO:<bob@bravo.example>\r\n")
    expect("250")
    half = len(binary) // 2
    sock.sendall(b"BDAT %d\r\n" % half + binary[:half])
    expect("250")
    sock.sendall(b"BDAT %d LAST\r\n" % (len(binary) - half) + binary[half:])
    expect("250")
    sock.sendall(b"QUIT\r\n")
    sock.close()
    got = wait_for("bravo", lambda m: b"Subject: binary" in m["content"], "the BINARYMIME message")
    if strip_trace(got["content"]) != binary:
        fail("binary content differs")
    if not got["bdat"] or "BODY=BINARYMIME" not in got["mail_params"].upper():
        fail("not delivered with BDAT/BINARYMIME: %r" % {k: got[k] for k in ("bdat", "mail_params")})
    ok("BDAT + BINARYMIME delivered byte-exact with BDAT and BODY=BINARYMIME to the far LAN MTA")

    # 4. expiry: no node acknowledges in time -> a DSN back to the sender
    with smtplib.SMTP("127.0.0.1", a, timeout=30) as s:
        s.sendmail("alice@alpha.example", ["dave@delta.example"],
                   b"From: alice@alpha.example\r\nTo: dave@delta.example\r\nSubject: to nowhere\r\n\r\nlost\r\n",
                   mail_options=["BY=120;R", "ENVID=e2e-expiry", "RET=HDRS"])
    dsn = wait_for("alpha", lambda m: m["from"] == "" and b"to nowhere" in m["content"], "the expiry DSN", 240)
    msg = email.message_from_bytes(strip_trace(dsn["content"]), policy=email.policy.default)
    if msg.get_content_type() != "multipart/report":
        fail("DSN is %s" % msg.get_content_type())
    status = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
    if not status:
        fail("no message/delivery-status part")
    text = status[0].as_string()
    for want in ("Action: failed", "Status: 4.4.7", "Final-Recipient: rfc822;dave@delta.example",
                 "Original-Envelope-Id: e2e-expiry"):
        if want.lower().replace(" ", "") not in text.lower().replace(" ", ""):
            fail("DSN lacks %r:\n%s" % (want, text))
    if [r["addr"] for r in dsn["rcpts"]] != ["alice@alpha.example"]:
        fail("DSN went to %r" % dsn["rcpts"])
    ok("expired message (BY=120;R to a silent node) produced a failed DSN 4.4.7 to the sender, with its ENVID")


main()
