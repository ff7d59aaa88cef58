#!/usr/bin/env python3
"""mule_dsn_check.py DIR - parse the DSNs mule_dsn_tool wrote into DIR with
Python's email package and check them against RFC 3464 / RFC 6522 and the
RFC 8494 example envelope they answer:

  <from@example.com> MT-PRIORITY=4 BODY=8BITMIME RET=HDRS ENVID=QQ314159
  <to1@example.net> NOTIFY=FAILURE ORCPT=rfc822;Bob@ent.example.net
  <to2@example.net> NOTIFY=SUCCESS,FAILURE
  <to3@example.net>                          (added by the tool: no NOTIFY)
"""
import email
import email.policy
import os
import sys

DIR = sys.argv[1]


def load(name):
    with open(os.path.join(DIR, name), "rb") as f:
        raw = f.read()
    assert b"\n" not in raw.replace(b"\r\n", b""), "%s: bare LF" % name
    return email.message_from_bytes(raw, policy=email.policy.default)


def check(name, action, status, rcpts, orig_type, envid="QQ314159"):
    msg = load(name)
    assert not msg.defects, "%s: %r" % (name, msg.defects)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["To"].addresses[0].addr_spec == "from@example.com", msg["To"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Date"].datetime is not None
    parts = list(msg.iter_parts())
    types = [p.get_content_type() for p in parts]
    assert types == ["text/plain", "message/delivery-status", orig_type], types
    for p in parts:
        assert not p.defects, "%s part %s: %r" % (name, p.get_content_type(), p.defects)
    blocks = parts[1].get_payload()
    per_msg, per_rcpt = blocks[0], blocks[1:]
    assert per_msg["Reporting-MTA"] == "dns; gw-b.example.mil", per_msg["Reporting-MTA"]
    assert per_msg["Original-Envelope-Id"] == envid, per_msg["Original-Envelope-Id"]
    assert per_msg["Arrival-Date"], "no Arrival-Date"
    got = [(b["Final-Recipient"], b["Action"], b["Status"]) for b in per_rcpt]
    want = [("rfc822; " + r, action, status) for r in rcpts]
    assert got == want, "%s: %r != %r" % (name, got, want)
    for b in per_rcpt:
        if b["Final-Recipient"] == "rfc822; to1@example.net":
            assert b["Original-Recipient"] == "rfc822; Bob@ent.example.net", b["Original-Recipient"]
    orig = parts[2]
    if orig_type == "message/rfc822":
        inner = orig.get_payload()[0]
        assert inner["Subject"] == "a test", inner["Subject"]
        assert "worth" in inner.get_content(), "body not returned"
    else:
        text = orig.get_payload(decode=True).decode("utf-8")
        assert "Subject: a test" in text and "worth" not in text, "RET=HDRS returns headers only"
    print("%s: multipart/report, %s" % (name, "; ".join("%s %s %s" % g for g in got)))


# to1 asked for failures, to2 for successes and failures, to3 (no NOTIFY) for failures and delays
check("failed.eml", "failed", "5.4.7", ["to1@example.net", "to2@example.net", "to3@example.net"],
      "text/rfc822-headers")
check("delayed.eml", "delayed", "4.4.7", ["to3@example.net"], "text/rfc822-headers")
check("relayed.eml", "relayed", "2.0.0", ["to2@example.net"], "message/rfc822")
assert not os.path.exists(os.path.join(DIR, "null")), "DSN for the null return path"
print("ok")
