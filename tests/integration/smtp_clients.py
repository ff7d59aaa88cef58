#!/usr/bin/env python3
"""smtp_clients.py - SMTP clients for the integration tests of the SMTP
server (tests/integration/smtp_server.sh, smtp_bad_input.sh): a well-behaved
smtplib session with every extension, Postfix's way of ending a message
(QUIT pipelined behind the final dot, optionally a half-close after it),
and the bad ones of the issue (10 kB lines, bare LF, 5000 RCPTs, pipelined
garbage, a client vanishing mid-BDAT, 200 idle connections, a client that
never reads).

Usage: smtp_clients.py CHECK HOST PORT [ARGS...]; exit 0 if CHECK passed,
1 with a message otherwise.  Every check has its own socket timeouts, so a
hung server fails the test instead of hanging it.
"""
import os
import smtplib
import socket
import sys
import threading
import time

TIMEOUT = 20


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Raw:
    """A raw SMTP connection: send bytes, read reply lines."""

    def __init__(self, host, port, timeout=TIMEOUT):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply: (code, [texts])."""
        lines = []
        while True:
            ln = self.line()
            lines.append(ln[4:])
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), lines

    def expect(self, code, text=None):
        c, lines = self.reply()
        if c != code or (text and not any(text in ln for ln in lines)):
            die("expected %d %s, got %d %s" % (code, text or "", c, lines))
        return lines

    def eof(self, timeout=10):
        """Whether the server closes the connection (reading what is left)."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def session(host, port):
    r = Raw(host, port)
    r.expect(220)
    r.send(b"EHLO client.test\r\n")
    r.expect(250)
    return r


# ---- smtp_server.sh -------------------------------------------------------------


def check_ehlo(host, port, utf8):
    with smtplib.SMTP(host, port, timeout=TIMEOUT) as s:
        code, _ = s.ehlo("client.test")
        if code != 250:
            die("EHLO %d" % code)
        want = ["size", "8bitmime", "dsn", "mt-priority", "deliverby", "binarymime", "chunking",
                "pipelining", "enhancedstatuscodes"]
        if utf8 == "1":
            want.append("smtputf8")
        for ext in want:
            if not s.has_extn(ext):
                die("EHLO does not advertise %s: %s" % (ext, s.esmtp_features))
        if s.esmtp_features["size"] != "102400":
            die("SIZE %r" % s.esmtp_features["size"])
        code, msg = s.verify("someone@ship.example.mil")
        if code != 252 or not msg.startswith(b"2.5.2"):
            die("VRFY %d %r" % (code, msg))
        code, msg = s.helo("client.test")
        if code != 250:
            die("HELO %d" % code)
    print("ehlo ok")


def send_data(host, port):
    msg = ("From: ops@hq.example.mil\r\nTo: a@ship.example.mil\r\nSubject: over HF\r\n\r\n"
           "first line\r\n.a line with a leading dot\r\n..two dots\r\n.\r\nlast line\r\n")
    with smtplib.SMTP(host, port, timeout=TIMEOUT) as s:
        s.ehlo("client.test")
        refused = s.sendmail("ops@hq.example.mil", ["a@ship.example.mil", "b@one.fleet.example.mil"],
                             msg, mail_options=["BODY=8BITMIME", "MT-PRIORITY=3", "BY=3600;R",
                                                "RET=HDRS", "ENVID=abc+2Bdef"],
                             rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
        if refused:
            die("refused %r" % refused)
    print("data ok")


def send_bdat(host, port):
    body = bytes(range(256)) * 4 + b"\r\n.\r\n\n.\n"
    r = session(host, port)
    r.send(b"MAIL FROM:<ops@hq.example.mil> BODY=BINARYMIME\r\nRCPT TO:<c@ship.example.mil>\r\n")
    r.expect(250, "2.1.0")
    r.expect(250, "2.1.5")
    r.send(b"DATA\r\n")
    r.expect(503, "5.5.1 BODY=BINARYMIME requires BDAT")
    half = len(body) // 2
    r.send(b"BDAT %d\r\n" % half + body[:half])
    r.expect(250, "2.0.0 %d octets received" % half)
    r.send(b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:])
    lines = r.expect(250, "2.0.0 Ok: queued as ")
    r.send(b"QUIT\r\n")
    r.expect(221)
    r.close()
    print("bdat ok %s" % lines[0].split()[-1])


def check_refusals(host, port):
    with smtplib.SMTP(host, port, timeout=TIMEOUT) as s:
        s.ehlo("client.test")
        s.mail("ops@hq.example.mil")
        for rcpt, code, esc in [("x@gmail.example", 550, b"5.7.1"),
                                ("y@hq.example.mil", 550, b"5.1.2"),
                                ("Postmaster", 550, b"5.7.1")]:
            c, m = s.rcpt(rcpt)
            if c != code or not m.startswith(esc):
                die("RCPT %s: %d %r" % (rcpt, c, m))
        for i in range(5):
            c, m = s.rcpt("r%d@ship.example.mil" % i)
            if c != 250:
                die("RCPT %d: %d %r" % (i, c, m))
        c, m = s.rcpt("r5@ship.example.mil")
        if c != 452 or not m.startswith(b"4.5.3"):
            die("6th RCPT: %d %r" % (c, m))
        s.rset()
        c, m = s.mail("ops@hq.example.mil", ["SIZE=200000"])
        if c != 552 or not m.startswith(b"5.3.4"):
            die("SIZE=200000: %d %r" % (c, m))
        for bad, esc in [("MT-PRIORITY=10", b"5.5.4"), ("BY=0;R", b"5.5.4"), ("RET=ALL", b"5.5.4"),
                         ("ENVID=+zz", b"5.5.4"), ("BODY=9BIT", b"5.5.4"), ("AUTH=<>", b"5.5.4")]:
            c, m = s.mail("ops@hq.example.mil", [bad])
            if c not in (501, 555) or not m.startswith(esc):
                die("MAIL %s: %d %r" % (bad, c, m))
        s.mail("ops@hq.example.mil")
        for bad in ["NOTIFY=NEVER,SUCCESS", "ORCPT=rfc822", "FOO=1"]:
            c, m = s.rcpt("a@ship.example.mil", [bad])
            if c not in (501, 555):
                die("RCPT %s: %d %r" % (bad, c, m))
        s.rset()
        # a message over the size limit without SIZE: refused at the end of DATA
        s.mail("ops@hq.example.mil")
        s.rcpt("a@ship.example.mil")
        c, m = s.data("x" * 900 + "\r\n" + ("y" * 998 + "\r\n") * 110)
        if c != 552 or not m.startswith(b"5.3.4"):
            die("oversized: %d %r" % (c, m))
        # the spool refuses
        try:
            s.sendmail("tempfail@hq.example.mil", ["a@ship.example.mil"], "Subject: t\r\n\r\nx\r\n")
            die("tempfail accepted")
        except smtplib.SMTPDataError as e:
            if e.smtp_code != 451 or not e.smtp_error.startswith(b"4.3.0"):
                die("tempfail: %r" % (e,))
        # every recipient refused
        try:
            s.sendmail("ops@hq.example.mil", ["x@gmail.example"], "Subject: t\r\n\r\nx\r\n")
            die("relayed to an unrouted domain")
        except smtplib.SMTPRecipientsRefused:
            pass
    print("refusals ok")


def send_utf8(host, port):
    with smtplib.SMTP(host, port, timeout=TIMEOUT) as s:
        s.ehlo("client.test")
        msg = "Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n".encode("utf-8")
        refused = s.sendmail("j\u00f6rg@hq.example.mil", ["z\u00fc@ship.example.mil"], msg,
                             mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        if refused:
            die("refused %r" % refused)
    print("utf8 ok")


def dot_quit(host, port, shut="0"):
    """As Postfix's SMTP client: QUIT in the same send as the final dot, then
    (shut=1) shutdown(SHUT_WR).  The server must answer the message with 250
    and only then the QUIT with 221, and close."""
    r = session(host, port)
    r.send(b"MAIL FROM:<ops@hq.example.mil>\r\nRCPT TO:<a@ship.example.mil>\r\nDATA\r\n")
    r.expect(250, "2.1.0")
    r.expect(250, "2.1.5")
    r.expect(354)
    r.send(b"Subject: dot and QUIT in one segment\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    if shut == "1":
        r.s.shutdown(socket.SHUT_WR)
    c, lines = r.reply()
    if c != 250 or "2.0.0 Ok: queued as " not in lines[0]:
        die("after the dot: expected 250 first, got %d %r" % (c, lines))
    c, rest = r.reply()
    if c != 221:
        die("after the 250: expected 221, got %d %r" % (c, rest))
    if not r.eof():
        die("not closed after QUIT")
    if r.buf:
        die("more after the 221: %r" % r.buf)
    r.close()
    print("dot quit%s ok qid=%s" % (" shut" if shut == "1" else "", lines[0].split()[-1]))


def check_outsider(host, port):
    r = Raw(host, port)
    r.expect(554, "5.7.1")
    r.send(b"EHLO client.test\r\nMAIL FROM:<a@hq.example.mil>\r\nQUIT\r\n")
    r.expect(503, "5.7.1")
    r.expect(503, "5.7.1")
    r.expect(221)
    if not r.eof():
        die("not closed after QUIT")
    try:
        smtplib.SMTP(host, port, timeout=TIMEOUT)
        die("smtplib connected to a refusing server")
    except smtplib.SMTPConnectError as e:
        if e.smtp_code != 554:
            die("connect error %r" % (e,))
    print("outsider ok")


# ---- smtp_bad_input.sh -------------------------------------------------------------


def long_lines(host, port):
    r = session(host, port)
    big = b"A" * 10240
    r.send((b"NOOP " + big + b"\r\n") * 5 + b"NOOP\r\n")
    for _ in range(5):
        r.expect(500, "5.5.2 Line too long")
    r.expect(250, "2.0.0")
    r.send(b"MAIL FROM:<a@hq.example.mil>\r\nRCPT TO:<b@ship.example.mil>\r\nDATA\r\n")
    r.expect(250)
    r.expect(250)
    r.expect(354)
    r.send(b"Subject: long\r\n\r\n" + big + b"\r\n.\r\n")
    r.expect(554, "5.6.0")
    r.send(b"MAIL FROM:<a@hq.example.mil> " + b"X" * 10240 + b"\r\nQUIT\r\n")
    r.expect(500, "5.5.2 Line too long")
    r.expect(221)
    r.close()
    print("long lines ok")


def bare_lf(host, port):
    r = Raw(host, port)
    r.expect(220)
    r.send(b"EHLO client.test\nNOOP\n")
    r.expect(500, "5.5.2")
    r.expect(500, "5.5.2")
    r.send(b"EHLO client.test\r\nMAIL FROM:<a@hq.example.mil>\r\nRCPT TO:<b@ship.example.mil>\r\nDATA\r\n")
    r.expect(250)
    r.expect(250)
    r.expect(250)
    r.expect(354)
    # a smuggling attempt: "\n.\n" is not the end of the data
    r.send(b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@hq.example.mil>\r\nRCPT TO:<v@ship.example.mil>\r\n"
           b"DATA\r\nsmuggled\r\n.\r\n")
    r.expect(554, "5.6.0")
    r.send(b"NOOP\r\nQUIT\r\n")
    r.expect(250)
    r.expect(221)
    r.close()
    print("bare lf ok")


def many_rcpts(host, port, n):
    n = int(n)
    r = session(host, port)
    r.send(b"MAIL FROM:<a@hq.example.mil>\r\n")
    r.expect(250)
    data = b"".join(b"RCPT TO:<user%d@ship.example.mil>\r\n" % i for i in range(n))
    # send from a thread while reading here: neither side may block the other
    t = threading.Thread(target=r.send, args=(data,))
    t.start()
    codes = {}
    for _ in range(n):
        c, _ = r.reply()
        codes[c] = codes.get(c, 0) + 1
    t.join()
    if codes != {250: 100, 452: n - 100}:
        die("RCPT replies %r" % codes)
    r.send(b"DATA\r\nSubject: many\r\n\r\nx\r\n.\r\nQUIT\r\n")
    r.expect(354)
    r.expect(250, "queued as")
    r.expect(221)
    r.close()
    print("%d rcpts ok" % n)


def garbage(host, port, seed):
    import random
    rnd = random.Random(int(seed))
    junk = bytes(rnd.getrandbits(8) for _ in range(200000))
    r = Raw(host, port)
    r.expect(220)

    def blast():
        try:
            r.send(junk)
        except OSError:
            pass
    t = threading.Thread(target=blast)
    t.start()
    got421 = False
    try:
        while True:
            c, lines = r.reply()
            if c == 421:
                got421 = True
                break
    except (EOFError, OSError):
        pass
    if not r.eof():
        die("not closed after garbage")
    t.join()
    r.close()
    if not got421:
        die("no 421 for garbage")
    print("garbage ok")


def vanish_mid_bdat(host, port, times):
    for i in range(int(times)):
        r = session(host, port)
        r.send(b"MAIL FROM:<a@hq.example.mil> BODY=BINARYMIME\r\nRCPT TO:<b@ship.example.mil>\r\n")
        r.expect(250)
        r.expect(250)
        r.send(b"BDAT 60000\r\n" + os.urandom(30000))
        if i % 2:
            r.send(b"BDAT 99999 LAST\r\n" + b"z" * 500)
        r.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        r.close()  # a reset, mid-chunk
    print("vanish ok")


def never_reads(host, port, secs):
    """Pipelines NOOPs and never reads a reply: the server must stop reading."""
    r = Raw(host, port, timeout=float(secs))
    sent = 0
    chunk = b"NOOP\r\n" * 10000
    try:
        end = time.time() + float(secs)
        while time.time() < end:
            r.send(chunk)
            sent += len(chunk)
    except (socket.timeout, OSError):
        pass
    r.close()
    if sent > 50 * 1024 * 1024:
        die("server kept reading %d bytes without its replies being read" % sent)
    print("never reads ok sent=%d" % sent)


def idle(host, port, n, timeout_s):
    n = int(n)
    conns = []
    for _ in range(n):
        r = Raw(host, port)
        conns.append(r)
    for r in conns:
        r.expect(220)
    # the server still serves a normal client while they idle
    send_data(host, port)
    # and each idle one gets 421 4.4.2 after the timeout, then the close
    time.sleep(float(timeout_s))
    for r in conns:
        r.s.settimeout(TIMEOUT)
        r.expect(421, "4.4.2")
        if not r.eof():
            die("idle connection not closed")
        r.close()
    print("%d idle ok" % n)


def too_many_sessions(host, port, n_ok, n_more):
    conns = []
    for _ in range(int(n_ok)):
        r = Raw(host, port)
        r.expect(220)
        conns.append(r)
    refused = 0
    for _ in range(int(n_more)):
        r = Raw(host, port)
        c, lines = r.reply()
        if c == 421 and "4.7.0" in lines[0]:
            refused += 1
        elif c != 220:
            die("unexpected greeting %d %r" % (c, lines))
        conns.append(r)
    for r in conns:
        r.close()
    if refused != int(n_more):
        die("%d of %s extra sessions refused" % (refused, n_more))
    print("max sessions ok")


def main():
    check, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    args = sys.argv[4:]
    fn = {"ehlo": check_ehlo, "data": send_data, "bdat": send_bdat, "refusals": check_refusals,
          "utf8": send_utf8, "dot_quit": dot_quit, "outsider": check_outsider,
          "long_lines": long_lines, "bare_lf": bare_lf, "many_rcpts": many_rcpts, "garbage": garbage,
          "vanish": vanish_mid_bdat, "never_reads": never_reads, "idle": idle,
          "max_sessions": too_many_sessions}[check]
    fn(host, port, *args)


if __name__ == "__main__":
    main()
