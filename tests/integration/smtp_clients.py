#!/usr/bin/env python3
"""smtp_clients.py - SMTP clients for the integration tests of the SMTP
server (tests/integration/smtp_server.sh, smtp_bad_input.sh,
smtp_slowloris.sh): a well-behaved smtplib session with every extension,
Postfix's way of ending a message (QUIT pipelined behind the final dot,
optionally a half-close after it), and the bad ones of the issue (10 kB
lines, bare LF, 5000 RCPTs, pipelined garbage, a client vanishing
mid-BDAT, 200 idle connections, a client that never reads, slowloris
clients sending a byte a second, a flood from a network not allowed).

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
    if not r.eof():
        die("not disconnected after the 554")
    r.close()
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


# ---- smtp_slowloris.sh ---------------------------------------------------------------


def connect_from(host, port, src, timeout=TIMEOUT):
    """A TCP connection to (host, port) from the local address src ("" = any)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect((host, port))
    return s


class Attacker(threading.Thread):
    """One slowloris client: connects from src, and once greeted with 220
    sends one byte a second - of a command line that never ends, or (data)
    of a message after a quick EHLO/MAIL/RCPT/DATA - until the server closes
    the connection; greeted with 421 it tries again a second later.  The
    one-second pace is the attack itself (a recv timeout), not a wait for
    the server."""

    def __init__(self, host, port, src, data, stop, greeted):
        threading.Thread.__init__(self, daemon=True)
        self.host, self.port, self.src, self.data = host, port, src, data
        self.stop, self.greeted = stop, greeted
        self.first = True
        self.admitted = 0   # sessions greeted with 220
        self.refused = 0    # greetings with 421
        self.lives = []     # seconds from connect to the server's close, of admitted sessions
        self.open_ages = [] # ages of the admitted sessions still open when the attack ended
        self.reasons = {}   # the server's 421 texts when it closed one
        self.open_now = False

    def greet(self):
        self.s = connect_from(self.host, self.port, self.src, 10)
        buf = b""
        while b"\r\n" not in buf:
            d = self.s.recv(4096)
            if not d:
                break
            buf += d
        return buf

    def one(self):
        t0 = time.monotonic()
        try:
            g = self.greet()
        except OSError:
            g = b""
        if self.first:
            self.first = False
            self.greeted.release()
        if not g.startswith(b"220"):
            self.refused += 1
            self.s.close()
            self.stop.wait(1.0)  # the attack's pace: reconnect once a second
            return
        self.admitted += 1
        self.open_now = True
        payload = b"EHLO " + b"x" * 100000
        if self.data:
            self.s.sendall(b"EHLO slow.test\r\nMAIL FROM:<s@hq.example.mil>\r\n"
                           b"RCPT TO:<t@ship.example.mil>\r\nDATA\r\n")
            payload = b"Subject: slow\r\n\r\n" + b"y" * 100000
        self.s.settimeout(1.0)
        i = 0
        closed = False
        got = b""
        while not self.stop.is_set():
            try:
                self.s.send(payload[i:i + 1])
                i += 1
                d = self.s.recv(4096)  # at most a second: the pace of the attack
                if not d:
                    closed = True
                    break
                got += d
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        self.open_now = False
        if closed:
            self.lives.append(time.monotonic() - t0)
            for ln in got.split(b"\r\n"):
                if ln.startswith(b"421 "):
                    why = ln.decode("ascii", "replace").split(" ", 3)[-1].split(",")[0]
                    self.reasons[why] = self.reasons.get(why, 0) + 1
        else:
            self.open_ages.append(time.monotonic() - t0)
        self.s.close()

    def run(self):
        while not self.stop.is_set():
            self.one()


def normal_message(host, port, deadline_s):
    """A normal client from 127.0.0.1 sends one message, retrying a refused
    connection (421) every half second: (seconds to its 250, 421s seen)."""
    t0 = time.monotonic()
    refusals = 0
    msg = "From: ops@hq.example.mil\r\nTo: a@ship.example.mil\r\nSubject: beside slowloris\r\n\r\nhi\r\n"
    while True:
        try:
            with smtplib.SMTP(host, port, timeout=TIMEOUT, source_address=("127.0.0.1", 0)) as s:
                s.ehlo("client.test")
                refused = s.sendmail("ops@hq.example.mil", ["a@ship.example.mil"], msg)
                if refused:
                    die("refused %r" % refused)
                return time.monotonic() - t0, refusals
        except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, ConnectionError) as e:
            if isinstance(e, smtplib.SMTPConnectError) and e.smtp_code != 421:
                die("normal client: %r" % (e,))
            refusals += 1
        if time.monotonic() - t0 > deadline_s:
            return None, refusals
        time.sleep(0.5)  # a client's retry interval, not a synchronisation


def source_range(src):
    """"A.B.C.D" -> [it]; "A.B.C.D+K" -> K addresses from A.B.C.D up"""
    if "+" not in src:
        return [src]
    first, k = src.split("+")
    base = int.from_bytes(socket.inet_aton(first), "big")
    return [socket.inet_ntoa((base + i).to_bytes(4, "big")) for i in range(int(k))]


def slowloris(host, port, n, src, attack_s, need_s, max_life_s):
    """N slowloris clients from src ("A.B.C.D", or "A.B.C.D+K": K addresses,
    the clients spread over them; a fifth of them in DATA); once every one
    has been answered, a normal client sends a message.  need_s > 0: its 250
    must come within need_s seconds; max_life_s > 0: every slowloris session
    must be closed by the server within max_life_s of its connect."""
    n, attack_s, need_s, max_life_s = int(n), float(attack_s), float(need_s), float(max_life_s)
    stop = threading.Event()
    greeted = threading.Semaphore(0)
    srcs = source_range(src)
    att = [Attacker(host, port, srcs[i % len(srcs)], i % 5 == 4, stop, greeted) for i in range(n)]
    t_start = time.monotonic()
    for a in att:
        a.start()
    for _ in att:
        if not greeted.acquire(timeout=TIMEOUT):
            die("the slowloris clients were not all answered")
    holding = sum(1 for a in att if a.open_now)
    took, refusals = normal_message(host, port, attack_s)
    # the attack goes on to its end: the server must close what it admitted
    stop.wait(max(0.0, attack_s - (time.monotonic() - t_start)))
    stop.set()
    for a in att:
        a.join(TIMEOUT)
    lives = sorted(x for a in att for x in a.lives)
    admitted = sum(a.admitted for a in att)
    ages = sorted(x for a in att for x in a.open_ages)
    survived = len(ages)
    reasons = {}
    for a in att:
        for k, v in a.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    refused = sum(a.refused for a in att)
    print("slowloris: %d clients from %s for %.0f s: %d sessions admitted (%d holding when the normal "
          "client came), %d greetings refused with 421, %d closed by the server after %s s "
          "(min/median/max), %d still open at the end (the oldest %s s)"
          % (n, src, attack_s, admitted, holding, refused, len(lives),
             "%.1f/%.1f/%.1f" % (lives[0], lives[len(lives) // 2], lives[-1]) if lives else "-",
             survived, "%.1f" % ages[-1] if ages else "-"))
    print("slowloris sessions closed by the server with 421: %s"
          % (", ".join("%d %s" % (v, k) for k, v in sorted(reasons.items())) or "none"))
    print("normal client: %s, %d connections refused with 421 before"
          % ("250 after %.2f s" % took if took is not None else "no 250 within %.0f s" % attack_s,
             refusals))
    if need_s and (took is None or took > need_s):
        die("the normal client's message took %s s, want <= %.0f s" % (took, need_s))
    longest = max(lives[-1] if lives else 0, ages[-1] if ages else 0)
    if max_life_s and (not lives or longest > max_life_s):
        die("slowloris sessions lived up to %.1f s (%d closed by the server), want <= %.0f s"
            % (longest, len(lives), max_life_s))
    if max_life_s and (not reasons.get("Command timeout") or not reasons.get("Data transfer too slow")):
        die("closed for %r, want both command and data deadlines" % reasons)
    print("slowloris ok")


def refused_flood(host, port, src, n):
    """N clients from a network that is not allowed: each gets 554 5.7.1 and
    is disconnected at once (without sending QUIT); they hold no session
    slot, so even more of them than max_sessions all get 554, never 421."""
    conns = []
    for _ in range(int(n)):
        s = connect_from(host, port, src)
        r = Raw.__new__(Raw)
        r.s, r.buf = s, b""
        c, lines = r.reply()
        if c != 554 or "5.7.1" not in lines[0]:
            die("refused client got %d %r" % (c, lines))
        if not r.eof(TIMEOUT):
            die("refused client not disconnected after its 554")
        conns.append(r)  # kept open on our side
    send_data(host, port)
    for r in conns:
        r.close()
    print("refused flood ok: %s clients got 554 and were disconnected" % n)


def main():
    check, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    args = sys.argv[4:]
    fn = {"ehlo": check_ehlo, "data": send_data, "bdat": send_bdat, "refusals": check_refusals,
          "utf8": send_utf8, "dot_quit": dot_quit, "outsider": check_outsider,
          "long_lines": long_lines, "bare_lf": bare_lf, "many_rcpts": many_rcpts, "garbage": garbage,
          "vanish": vanish_mid_bdat, "never_reads": never_reads, "idle": idle,
          "max_sessions": too_many_sessions, "slowloris": slowloris,
          "refused_flood": refused_flood}[check]
    fn(host, port, *args)


if __name__ == "__main__":
    main()
