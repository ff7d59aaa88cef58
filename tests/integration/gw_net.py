#!/usr/bin/env python3
"""gw_net.py - a harness for the gateway's exactly-once scenarios (issue 12):
an s5066sim network of N nodes (alpha, bravo, charlie, ... at 0.0.0.1,
0.0.0.2, ...), one mulegw per node with its own spool, and one SMTP sink
(smtp_sink.py) per gateway standing for that node's LAN MTA.  Mail goes in
by SMTP with a unique Message-ID per message; at the end every accepted
message is counted, per Message-ID and recipient, at the sink of the
recipient's node (and DSNs at the sender's sink).

A scenario is a gw_*.sh script that sources lib.sh (for $T, the paths and
the cleanup) and runs Python that imports this module:

    net = gw_net.Net(nodes=["alpha", "bravo"], scale=20, loss=0.05, seed=3)
    net.start()                      # sim, sinks, gateways; all bound
    rec = net.send("alpha", ["bob@bravo.example"])
    net.kill_gw("bravo"); net.restart_gw("bravo")
    net.kill_sim(); net.restart_sim()  # same SIS ports: gateways reconnect
    net.wait_accounted(timeout)      # each accepted rcpt delivered or bounced
    net.wait_quiet(timeout)          # every gateway: nothing spooled
    c = net.counts(); net.report(c)  # per message and recipient
    net.check_exactly_once(c)        # raises Failure: lost, duplicated

Processes run on loopback ports the kernel picks (the simulator restarts
on the ports it had), are stopped by PID, and their output goes to
$T/NAME.log (sim, gw_NODE, sink_NODE); a restart keeps the old log as
$T/NAME.K.log.  Synchronisation is by polling logs and sink directories
with a timeout, never by a fixed sleep.  Radio time is the simulator's
clock (`kill -USR1` -> `sim stats ... elapsed_s=`), which is the wall
clock times the time scale.

Gateway configs are lib.sh's gw_conf (routes to every node, [pmul] with
ack_retransmission_time 20s, ack_delay_max 2s, ack_pdu_time 20s, the
bearer's time_scale) plus: a 5066 group of all nodes, [pmul]
pdu_overhead 16 and turnaround 500ms (the simulator's bytes and time per
burst, as pmul_sim.sh) and a different [pmul] seed per node, and
[bearer] reconnect_min 100ms / reconnect_max 1s (the link's reconnect
timers run on the real clock).  A scenario edits net.conf[node] (a dict
of sections) or calls net.route() before net.start().  Each run of the
simulator gets seed, seed+1, ... so a restart does not replay its losses.

Run one scenario by hand from the build directory:

    make check TESTS=tests/integration/gw_relay.sh
    top_srcdir=.. top_builddir=. GW_VERBOSE=1 KEEP_TEST_DIR=1 \
        sh ../tests/integration/gw_relay.sh

Environment: T (scratch dir), top_srcdir, top_builddir (as lib.sh sets),
MULEGW / S5066SIM (other binaries), GW_SCALE (time scale override),
GW_SEED (seed override for the channel and a scenario's random choices),
GW_VERBOSE=1 (progress lines with the wall time), GW_LOGS=0 (no log dump
on failure), KEEP_TEST_DIR=1 (lib.sh: keep $T with every log, sink and
spool).
"""
import email
import email.policy
import json
import os
import random
import re
import signal
import smtplib
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
T = os.environ.get("T") or "/tmp"
SRC = os.environ.get("top_srcdir") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("top_builddir") or os.getcwd()
MULEGW = os.environ.get("MULEGW") or os.path.join(BUILD, "smtp-gw", "mulegw")
S5066SIM = os.environ.get("S5066SIM") or os.path.join(BUILD, "s5066", "s5066sim")
SINK = os.path.join(SRC, "tests", "integration", "smtp_sink.py")
GROUP = "16.0.0.1"
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


class Failure(Exception):
    """a scenario's expectation not met (exit 1, with the logs)"""


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


def node_id(i):
    """0.0.0.(i+1) for the i-th name"""
    return "0.0.0.%d" % (i + 1)


def domain_node(addr):
    """the node whose domain an address is in: bob@bravo.example -> bravo"""
    dom = addr.rsplit("@", 1)[-1].lower()
    return dom.split(".")[0]


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ---- processes ------------------------------------------------------------------

class Proc:
    """one program, restartable; output in $T/NAME.log (older runs NAME.K.log)"""

    def __init__(self, name, argv):
        self.name, self.argv, self.p, self.runs = name, argv, None, 0
        self.log = os.path.join(T, name + ".log")

    def start(self):
        if self.runs and os.path.exists(self.log):
            os.rename(self.log, os.path.join(T, "%s.%d.log" % (self.name, self.runs)))
        self.runs += 1
        out = open(self.log, "wb")
        self.p = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        return self

    def log_of(self, run):
        """the log file of run number `run` (1 = the first start)"""
        return self.log if run == self.runs else os.path.join(T, "%s.%d.log" % (self.name, run))

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill(self, sig=signal.SIGKILL, timeout=20):
        """signal it and wait for it to be gone; its exit status"""
        if not self.alive():
            return self.p.returncode if self.p else None
        os.kill(self.p.pid, sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.p.pid, signal.SIGKILL)
            return self.p.wait(timeout)

    def text(self, since=0):
        try:
            with open(self.log, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def wait_for(self, pattern, timeout=30, since=0, what=None):
        """poll the current log (from byte `since`) until a line matches; the match"""
        rx = re.compile(pattern, re.M)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.text(since))
            if m:
                return m
            if self.p is not None and self.p.poll() is not None:
                m = rx.search(self.text(since))
                if m:
                    return m
                raise Failure("%s exited (status %s) before /%s/" % (self.name, self.p.returncode, pattern))
            if time.monotonic() > end:
                raise Failure("timed out after %gs waiting for /%s/ in %s.log%s" %
                              (timeout, pattern, self.name, " (" + what + ")" if what else ""))
            time.sleep(0.05)


# ---- sinks ----------------------------------------------------------------------

class Copy:
    """one message as a sink stored it"""

    def __init__(self, n, env, content):
        self.n, self.env, self.content = n, env, content
        self.sender = env.get("from", "")
        self.rcpts = [r["addr"].lower() for r in env.get("rcpts", [])]
        head = content.split(b"\r\n\r\n", 1)[0]
        m = re.search(rb"^Message-ID:\s*<([^>]*)>", head, re.M | re.I)
        self.msgid = m.group(1).decode() if m else None
        # the trace the delivering gateway added: with MULE id <msgid@src>
        m = re.search(rb"with MULE id <(\d+)@([0-9.]+)>", head)
        self.mule_id = (m.group(2).decode(), int(m.group(1))) if m else None
        self.is_dsn = self.sender == "" and b"multipart/report" in head.lower()
        self.dsn = self.parse_dsn() if self.is_dsn else []

    def parse_dsn(self):
        """[(original Message-ID, recipient, action, status, reporting MTA)]"""
        msg = email.message_from_bytes(self.content, policy=email.policy.compat32)
        orig, fields = None, []
        for part in msg.walk():
            ct = part.get_content_type()
            if ct == "message/delivery-status":
                payload = part.get_payload()
                blocks = [b for b in payload] if isinstance(payload, list) else []
                if not blocks:  # some parsers leave it as text
                    text = part.get_payload(decode=True) or b""
                    blocks = [email.message_from_bytes(b) for b in text.split(b"\r\n\r\n") if b.strip()]
                mta = blocks[0].get("Reporting-MTA", "") if blocks else ""
                for b in blocks[1:]:
                    fr = (b.get("Final-Recipient") or "").split(";", 1)[-1].strip().lower()
                    if fr:
                        fields.append([fr, (b.get("Action") or "").strip().lower(), (b.get("Status") or "").strip(),
                                       mta.split(";", 1)[-1].strip()])
            elif ct in ("text/rfc822-headers", "message/rfc822"):
                raw = part.get_payload(decode=True)
                if raw is None and isinstance(part.get_payload(), list):
                    raw = part.get_payload()[0].as_bytes()
                m = re.search(rb"^Message-ID:\s*<([^>]*)>", raw or b"", re.M | re.I)
                if m:
                    orig = m.group(1).decode()
        return [tuple([orig] + f) for f in fields]


class Sink:
    """a node's LAN MTA (smtp_sink.py) and what it stored"""

    def __init__(self, node, opts):
        self.node = node
        self.dir = os.path.join(T, "sink-" + node)
        self.portfile = os.path.join(T, "sink-%s.port" % node)
        self.proc = Proc("sink_" + node, [sys.executable, SINK, "--portfile", self.portfile, "--dir", self.dir] + opts)
        self.cache = {}
        self.lock = threading.Lock()

    def start(self):
        self.proc.start()
        self.proc.wait_for(r"^READY", 20)
        with open(self.portfile) as f:
            self.port = int(f.read())

    def copies(self):
        """every message stored so far, in order"""
        with self.lock:
            return self._copies()

    def _copies(self):
        try:
            names = os.listdir(self.dir)
        except OSError:
            return []
        for name in names:
            if not name.endswith(".json"):
                continue
            n = int(name[:-5])
            if n in self.cache:
                continue
            try:
                with open(os.path.join(self.dir, name)) as f:
                    env = json.load(f)
                with open(os.path.join(self.dir, "%d.eml" % n), "rb") as f:
                    content = f.read()
            except (OSError, ValueError):
                continue  # being written: the next poll
            self.cache[n] = Copy(n, env, content)
        return [self.cache[n] for n in sorted(self.cache)]

    def count(self):
        return len(self.copies())


# ---- the network ---------------------------------------------------------------

class Net:
    """s5066sim + one mulegw and one sink per node"""

    def __init__(self, nodes=("alpha", "bravo", "charlie"), gateways=None, scale=20, loss=0.0, seed=1,
                 sink_opts=None, group=True, sim_extra="", tag="m"):
        self.nodes = list(nodes)
        self.ids = {n: node_id(NAMES.index(n)) for n in self.nodes}
        self.gateways = list(gateways if gateways is not None else self.nodes)
        self.scale = env_float("GW_SCALE", scale)
        self.loss = loss
        self.seed = env_int("GW_SEED", seed)
        self.group = group
        self.sim_extra = sim_extra
        self.tag = tag
        self.sinks = {n: Sink(n, (sink_opts or {}).get(n, [])) for n in self.gateways}
        self.gws = {}
        self.sim = None
        self.sim_ports = {}
        self.sent = []
        self.seq = 0
        self.t0 = time.monotonic()
        self.conf = {n: self.default_conf(n) for n in self.gateways}
        self.immutable = []
        self.events = []  # (wall s, what) for the report
        self.kills = []   # kill_gw_noted
        self.not_quiet = []  # the last wait_quiet's busy gateways
        NETS.append(self)

    # -- configuration --

    def default_conf(self, n):
        """lib.sh's gw_conf for node n, as sections of key -> value (edit before start)"""
        i = self.nodes.index(n)
        c = {
            "mulegw": {"hostname": "gw-%s.example" % n, "spool": os.path.join(T, "spool-" + n), "log_level": "info"},
            "smtp": {"listen": "127.0.0.1:0"},
            "lan": {"relay": None, "retry_first": "2s"},
            "mule": {"local_domains": "%s.example" % n},
        }
        for m in self.nodes:
            c["route %s.example" % m] = {"node": self.ids[m]}
        # pdu_overhead and turnaround: the simulator's 16 bytes per copy and
        # its 500 ms turnaround, as pmul_sim.sh: the engine paces at what the
        # channel carries instead of flooding its queue
        c["pmul"] = {"node_id": self.ids[n], "rate": "2400", "pdu_overhead": "16", "turnaround": "500ms",
                     "ack_retransmission_time": "20s", "ack_delay_max": "2s", "ack_pdu_time": "20s",
                     "seed": str(i + 1)}
        # the link's reconnect timers run on the real clock: short, so that a
        # restarted simulator is found again within a fraction of a radio minute
        c["bearer"] = {"kind": "sis", "target": None, "time_scale": "%g" % self.scale,
                       "reconnect_min": "100ms", "reconnect_max": "1s"}
        for m in self.nodes:
            c["node %s" % m] = {"id": self.ids[m], "address": self.ids[m]}
        if self.group:
            c["group all"] = {"address": GROUP, "members": ", ".join(self.nodes)}
        return c

    def route(self, n, domain_node, via=None):
        """on n's gateway, send mail for domain_node.example to that node through via"""
        r = {"node": self.ids[domain_node]}
        if via:
            r["via"] = self.ids[via]
        self.conf[n]["route %s.example" % domain_node] = r

    def relay(self, a, r, b):
        """mail between a and b goes through r both ways: a and b route each
        other's domain via r, and r names itself as the relay (via = r) for
        both, which is what makes a relay forward (mulegw.conf(5) [route])"""
        self.route(a, b, via=r)
        self.route(b, a, via=r)
        self.route(r, b, via=r)
        self.route(r, a, via=r)

    def write_conf(self, n):
        c = self.conf[n]
        c["lan"]["relay"] = "127.0.0.1:%d" % self.sinks[n].port
        c["bearer"]["target"] = "127.0.0.1:%d" % self.sim_ports[n]
        path = os.path.join(T, n + ".conf")
        with open(path, "w") as f:
            for sec, kv in c.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    if v is not None:
                        f.write("%s = %s\n" % (k, v))
        return path

    def check_conf(self, n):
        """mulegw -n on n's config: (ok, output)"""
        path = self.write_conf(n)
        r = subprocess.run([MULEGW, "-n", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return r.returncode == 0, r.stdout.decode("utf-8", "replace").strip()

    def sim_conf(self, fixed):
        path = os.path.join(T, "net.conf")
        with open(path, "w") as f:
            # each run of the simulator its own seed (seed, seed+1, ...): a
            # restarted channel does not repeat the same losses
            runs = self.sim.runs if self.sim else 0
            f.write("[channel]\nrate = 2400\nturnaround = 500ms\nloss = %g\nseed = %d\ntime_scale = %g\n%s\n" %
                    (self.loss, self.seed + runs, self.scale, self.sim_extra))
            if self.group:
                f.write("[group all]\naddress = %s\n" % GROUP)
            for n in self.nodes:
                f.write("[node %s]\naddress = %s\nport = %d\n" % (n, self.ids[n], self.sim_ports[n] if fixed else 0))
                if self.group:
                    f.write("groups = all\n")
        return path

    # -- running --

    def note(self, what):
        self.events.append((self.wall(), what))
        if os.environ.get("GW_VERBOSE"):
            print("# %7.2fs %s" % (self.wall(), what), flush=True)

    def wall(self):
        return time.monotonic() - self.t0

    def start(self, gateways=None):
        """simulator, sinks, then the gateways (each bound to its node)"""
        self.start_sim(fixed=False)
        for s in self.sinks.values():
            s.start()
        for n in self.gateways if gateways is None else gateways:
            self.start_gw(n)
        for n in self.gateways if gateways is None else gateways:
            self.gws[n].wait_for(r"smtpgw bearer-up", 30, what="bound to the simulator")
        self.note("network up: %s" % ", ".join(self.gateways))

    def start_sim(self, fixed=True):
        portfile = os.path.join(T, "sim.ports")
        if self.sim is None:
            self.sim = Proc("sim", [S5066SIM, "-f", "-c", os.path.join(T, "net.conf"), "-p", portfile])
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.sim_conf(fixed)
        self.sim.start()
        self.sim.wait_for(r"sim ready nodes=%d" % len(self.nodes), 30)
        ports = {}
        with open(portfile) as f:
            for line in f:
                k, v = line.split()
                ports[k] = int(v)
        if fixed and ports != self.sim_ports:
            raise Failure("the simulator came back on other ports: %r, was %r" % (ports, self.sim_ports))
        self.sim_ports = ports

    def kill_sim(self, sig=signal.SIGKILL):
        self.sim.kill(sig)
        self.note("sim killed (signal %d)" % sig)

    def restart_sim(self):
        self.start_sim(fixed=True)
        self.note("sim restarted on the same ports")

    def start_gw(self, n):
        path = self.write_conf(n)
        ok, out = self.check_conf(n)
        if not ok:
            raise Failure("mulegw -n rejects %s's configuration: %s" % (n, out))
        if n not in self.gws:
            self.gws[n] = Proc("gw_" + n, [MULEGW, "-f", "-c", path, "-p", os.path.join(T, n + ".smtp")])
        pf = os.path.join(T, n + ".smtp")
        if os.path.exists(pf):
            os.unlink(pf)
        self.gws[n].start()
        self.gws[n].wait_for(r"main ready", 30)
        with open(pf) as f:
            self.gws[n].smtp_port = int(f.read().split()[1])

    def kill_gw(self, n, sig=signal.SIGKILL):
        st = self.gws[n].kill(sig)
        self.note("gateway %s stopped (signal %d, status %s)" % (n, sig, st))

    def restart_gw(self, n, wait_bearer=True):
        self.start_gw(n)
        if wait_bearer:
            self.gws[n].wait_for(r"smtpgw bearer-up", 30, what="bound after the restart")
        self.note("gateway %s restarted" % n)

    def stop_all(self):
        for p in list(self.gws.values()) + [s.proc for s in self.sinks.values()] + ([self.sim] if self.sim else []):
            try:
                p.kill(signal.SIGTERM, 10)
            except Exception:
                pass
        for path in list(self.immutable):
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", path], stderr=subprocess.DEVNULL)
            try:
                os.chmod(path, 0o700)
            except OSError:
                pass

    # -- radio time --

    def radio_s(self):
        """the simulator's clock now (radio seconds since it started), from its own stats"""
        since = self.sim.size()
        os.kill(self.sim.pid, signal.SIGUSR1)
        m = self.sim.wait_for(r"sim stats why=\S+ .*elapsed_s=([0-9.]+)", 20, since=since)
        return float(m.group(1))

    def wait_radio(self, seconds, since=None, poll=0.25):
        """poll the simulator's clock until `seconds` of radio time have passed
        since `since` (default: now); the clock reading reached"""
        start = self.radio_s() if since is None else since
        end = time.monotonic() + seconds / self.scale * 5 + 30
        while True:
            now = self.radio_s()
            if now >= start + seconds:
                return now
            if time.monotonic() > end:
                raise Failure("the simulator's clock did not advance %gs (at %g)" % (seconds, now))
            time.sleep(poll)

    def wait_until(self, pred, timeout, what):
        """poll pred() until true; raises Failure at the timeout"""
        end = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() > end:
                raise Failure("timed out after %gs waiting for %s" % (timeout, what))
            time.sleep(0.1)

    # -- mail in --

    def send(self, sender, rcpts, tag=None, body=None, size=0, mail_options=(), rcpt_options=(), headers="",
             frm=None, timeout=60, noise=False, connect_retry=0):
        """one message into sender's gateway; its record (status accepted/refused/error)"""
        self.seq += 1
        tag = tag or "%s%d" % (self.tag, self.seq)
        frm = frm or "%s-user@%s.example" % (sender, sender)
        mid = "%s@%s.example" % (tag, sender)
        if body is None:
            body = "".join("%s line %d: a message over the simulated HF network\r\n" % (tag, j) for j in range(4))
            rnd = random.Random(tag)
            while len(body) < size:
                if noise:  # words at random: compresses to about half, as text does
                    body += " ".join(rnd.choice(WORDS) + str(rnd.randrange(100)) for _ in range(9)) + "\r\n"
                else:
                    body += "%s filler %06d: the quick brown fox jumps over the lazy dog\r\n" % (tag, len(body))
        msg = ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n%s\r\n" %
               (frm, ", ".join("<%s>" % r for r in rcpts), tag, mid, headers)).encode() + \
            (body.encode() if isinstance(body, str) else body)
        rec = {"id": mid, "tag": tag, "sender": sender, "from": frm, "rcpts": [r.lower() for r in rcpts],
               "status": "error", "reply": "", "t": self.wall()}
        connect_end = time.monotonic() + connect_retry
        while True:
            try:
                s = smtplib.SMTP("127.0.0.1", self.gws[sender].smtp_port, timeout=timeout)
                break
            except (OSError, smtplib.SMTPException) as e:
                # refused, reset or closed before the greeting: nothing was
                # sent, try again while the gateway restarts
                if time.monotonic() > connect_end:
                    rec["reply"] = "connect: %r" % e
                    rec["status"] = "unsent"
                    return rec
                time.sleep(0.1)
        try:
            with s:
                refused = s.sendmail(frm, rcpts, msg, mail_options=list(mail_options),
                                     rcpt_options=list(rcpt_options))
                rec["status"] = "accepted"
                if refused:
                    rec["refused"] = {k.lower(): v for k, v in refused.items()}
                    rec["rcpts"] = [r for r in rec["rcpts"] if r not in rec["refused"]]
        except smtplib.SMTPResponseException as e:
            rec["status"], rec["reply"] = "refused", "%d %s" % (e.smtp_code, e.smtp_error)
        except smtplib.SMTPRecipientsRefused as e:
            rec["status"], rec["reply"] = "refused", repr(e.recipients)
        except (OSError, smtplib.SMTPException) as e:
            # the session broke: the message may or may not be spooled
            rec["status"], rec["reply"] = "error", repr(e)
        self.sent.append(rec)
        return rec

    def expect(self, sender, frm, rcpts, mid, tag=None):
        """count a message that entered another way (a raw P_MUL sender) as accepted"""
        rec = {"id": mid, "tag": tag or mid, "sender": sender, "from": frm, "rcpts": [r.lower() for r in rcpts],
               "status": "accepted", "reply": "", "t": self.wall()}
        self.sent.append(rec)
        return rec

    def accepted(self):
        return [r for r in self.sent if r["status"] == "accepted"]

    # -- mail out: counting --

    def all_copies(self):
        return {n: s.copies() for n, s in self.sinks.items()}

    def counts(self):
        """per accepted (or uncertain) message: deliveries per recipient at its
        node's sink, DSNs per recipient at the sender's sink, strays"""
        copies = self.all_copies()
        by_id = {}
        dsns = {}
        for node, cs in copies.items():
            for c in cs:
                if c.is_dsn:
                    for orig, rcpt, action, status, mta in c.dsn:
                        dsns.setdefault((orig, rcpt), []).append(
                            {"action": action, "status": status, "mta": mta, "sink": node, "n": c.n,
                             "to": c.rcpts})
                elif c.msgid:
                    by_id.setdefault(c.msgid, []).append((node, c))
        out = []
        for rec in self.sent:
            if rec["status"] == "refused":
                continue
            row = {"rec": rec, "rcpt": {}, "stray": []}
            got = by_id.get(rec["id"], [])
            for r in rec["rcpts"]:
                home = domain_node(r)
                n = sum(1 for node, c in got if node == home and r in c.rcpts)
                row["rcpt"][r] = {"delivered": n, "copies": [c for node, c in got if node == home and r in c.rcpts],
                                  "dsn": dsns.get((rec["id"], r), [])}
            for node, c in got:
                for r in c.rcpts:
                    if r not in rec["rcpts"] or domain_node(r) != node:
                        row["stray"].append((node, r, c.n))
            out.append(row)
        return out

    def accounted(self, rows=None):
        """(done, pending): recipients delivered, or bounced with a failed DSN"""
        rows = rows if rows is not None else self.counts()
        pending = []
        for row in rows:
            if row["rec"]["status"] != "accepted":
                continue
            for r, x in row["rcpt"].items():
                if x["delivered"] == 0 and not any(d["action"] == "failed" for d in x["dsn"]):
                    pending.append((row["rec"]["id"], r))
        return not pending, pending

    def wait_accounted(self, timeout, what="every accepted recipient delivered or bounced"):
        """poll the sinks until every accepted recipient is accounted for; True,
        or False at the timeout (the report shows what is missing)"""
        end = time.monotonic() + timeout
        while True:
            done, pending = self.accounted()
            if done:
                self.note("all accounted: %s" % what)
                return True
            if time.monotonic() > end:
                self.note("timed out (%gs) waiting for %s: %d pending" % (timeout, what, len(pending)))
                return False
            time.sleep(0.2)

    def status(self, n, timeout=20):
        """a gateway's queue counts from SIGUSR1 (dict of the key=value fields)"""
        p = self.gws[n]
        since = p.size()
        os.kill(p.pid, signal.SIGUSR1)
        m = p.wait_for(r"smtpgw status (.*)$", timeout, since=since)
        return dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)

    def wait_quiet(self, timeout, nodes=None):
        """poll until every running gateway has nothing spooled and no delivery
        running; True, or False at the timeout"""
        end = time.monotonic() + timeout
        while True:
            busy = []
            for n in nodes or self.gws:
                if not self.gws[n].alive():
                    continue
                st = self.status(n)
                if st.get("outgoing") != "0" or st.get("incoming") != "0" or st.get("deliveries", "0") != "0":
                    busy.append("%s(out=%s in=%s dl=%s)" % (n, st.get("outgoing"), st.get("incoming"),
                                                            st.get("deliveries")))
            if not busy:
                self.note("quiet: every gateway's spool is empty")
                self.not_quiet = []
                return True
            if time.monotonic() > end:
                self.note("not quiet after %gs: %s" % (timeout, " ".join(busy)))
                self.not_quiet = busy
                for n in nodes or self.gws:
                    for line in self.spool_listing(n):
                        print("#   left in %s's spool: %s" % (n, line), flush=True)
                return False
            time.sleep(0.25)

    def spool_listing(self, n):
        """one line per envelope in n's spool (queue qid from= rcpts= flags=)"""
        out = []
        spool = self.conf[n]["mulegw"]["spool"]
        for q in ("outgoing", "incoming"):
            try:
                names = sorted(os.listdir(os.path.join(spool, q)))
            except OSError:
                continue
            for name in names:
                kv = {}
                rcpts = []
                for line in read_text(os.path.join(spool, q, name)).splitlines():
                    k, _, v = line.partition("=")
                    if k == "rcpt":
                        rcpts.append(v)
                    elif k in ("from", "flags", "src", "src_msgid") or k.endswith(".state"):
                        kv.setdefault(k, []).append(v)
                out.append("%s/%s from=<%s> rcpts=%s %s" % (
                    q, name, ",".join(kv.get("from", [""])), ",".join(rcpts),
                    " ".join("%s=%s" % (k, ",".join(v)) for k, v in kv.items() if k != "from")))
        return out

    # -- the verdict --

    def summary(self, rows):
        s = {"accepted": 0, "uncertain": 0, "rcpts": 0, "once": 0, "lost": 0, "dup": 0, "bounced": 0,
             "bounced_and_delivered": 0, "extra_copies": 0, "stray": 0, "dsn_dup": 0}
        for row in rows:
            st = row["rec"]["status"]
            if st != "accepted":
                s["uncertain"] += 1
                continue
            s["accepted"] += 1
            s["stray"] += len(row["stray"])
            for r, x in row["rcpt"].items():
                s["rcpts"] += 1
                failed = [d for d in x["dsn"] if d["action"] == "failed"]
                if x["delivered"] == 1 and not failed:
                    s["once"] += 1
                elif x["delivered"] == 0 and failed:
                    s["bounced"] += 1
                elif x["delivered"] == 0:
                    s["lost"] += 1
                if x["delivered"] > 1:
                    s["dup"] += 1
                    s["extra_copies"] += x["delivered"] - 1
                if x["delivered"] >= 1 and failed:
                    s["bounced_and_delivered"] += 1
                if len(failed) > 1:
                    s["dsn_dup"] += 1
        return s

    def report(self, rows, title="counts", detail=True):
        """print the per-sink and per-message counts"""
        s = self.summary(rows)
        print("# %s: messages accepted=%d (not accepted but maybe spooled=%d), recipients=%d: "
              "once=%d lost=%d duplicated=%d (extra copies %d) bounced=%d bounced-and-delivered=%d "
              "multiple-failed-DSNs=%d stray=%d" %
              (title, s["accepted"], s["uncertain"], s["rcpts"], s["once"], s["lost"], s["dup"], s["extra_copies"],
               s["bounced"], s["bounced_and_delivered"], s["dsn_dup"], s["stray"]), flush=True)
        for n, sk in self.sinks.items():
            cs = sk.copies()
            ids = [c.msgid for c in cs if not c.is_dsn]
            print("#   sink %-8s copies=%d distinct=%d DSNs=%d" %
                  (n, len(ids), len(set(ids)), sum(1 for c in cs if c.is_dsn)), flush=True)
        if detail:
            for row in rows:
                rec = row["rec"]
                for r, x in row["rcpt"].items():
                    failed = [d for d in x["dsn"] if d["action"] == "failed"]
                    if x["delivered"] == 1 and not failed and rec["status"] == "accepted":
                        continue
                    print("#   %s %s -> %s: delivered %d time(s)%s%s" %
                          (rec["status"], rec["id"], r, x["delivered"],
                           " (sink #%s, MULE ids %s)" % (",".join(str(c.n) for c in x["copies"]),
                                                          ",".join("%s/%s" % c.mule_id if c.mule_id else "-"
                                                                   for c in x["copies"]))
                           if x["copies"] else "",
                           "; DSNs: " + ", ".join("%s %s by %s" % (d["action"], d["status"], d["mta"])
                                                  for d in x["dsn"]) if x["dsn"] else ""), flush=True)
                for node, r, n in row["stray"]:
                    print("#   stray copy of %s for %s at %s's sink (#%d)" % (rec["id"], r, node, n), flush=True)
        return s

    def check_exactly_once(self, rows, allow_bounce=True):
        """every accepted recipient delivered exactly once (or, if allowed,
        bounced with one failed DSN and not delivered); raises Failure"""
        s = self.summary(rows)
        bad = []
        if s["lost"]:
            bad.append("%d lost" % s["lost"])
        if s["dup"]:
            bad.append("%d duplicated" % s["dup"])
        if s["stray"]:
            bad.append("%d stray copies" % s["stray"])
        if s["bounced"] and not allow_bounce:
            bad.append("%d bounced" % s["bounced"])
        if s["bounced_and_delivered"]:
            bad.append("%d both delivered and bounced" % s["bounced_and_delivered"])
        if s["dsn_dup"]:
            bad.append("%d with several failed DSNs" % s["dsn_dup"])
        if self.not_quiet:
            bad.append("left in a spool at the end: %s" % " ".join(self.not_quiet))
        if bad:
            raise Failure("not exactly once: " + ", ".join(bad))

    def kill_gw_noted(self, n):
        """kill -9 a gateway, remembering which run died and how many copies
        its sink held then (for explain_duplicates)"""
        k = {"node": n, "run": self.gws[n].runs, "sink_count": self.sinks[n].count(), "wall": self.wall()}
        self.kill_gw(n)
        # what the dead run handed over: a final dot already in the sink's
        # socket is stored a moment later, so wait until the count settles
        last, since = self.sinks[n].count(), time.monotonic()
        while time.monotonic() - since < 0.5:
            time.sleep(0.05)
            c = self.sinks[n].count()
            if c != last:
                last, since = c, time.monotonic()
        k["sink_count_after"] = last
        self.kills.append(k)
        return k

    def explain_duplicates(self, rows):
        """sort every extra copy into the LAN-delivery window or not.  A
        later copy at node G's sink is explained when it carries the same
        MULE id (Source_ID, Message_ID) as the copy before it (the same
        incoming message, delivered again from G's spool), a kill -9 of G
        came after the earlier copy was stored (and before the later one),
        and the killed run's log has no spool-remove of that incoming
        message: G died between the LAN MTA's 250 and its commit of it.
        Returns (explained, unexplained): lists of (message id, rcpt, why)."""
        explained, unexplained = [], []
        for row in rows:
            for r, x in row["rcpt"].items():
                cs = x["copies"]
                for a, b in zip(cs, cs[1:]):
                    why = self.window_reason(domain_node(r), a, b)
                    (explained if why.startswith("window") else unexplained).append((row["rec"]["id"], r, why))
        return explained, unexplained

    def window_reason(self, g, a, b):
        if not a.mule_id or a.mule_id != b.mule_id:
            return "different P_MUL messages (%s then %s): sent twice over HF" % (
                "%s/%s" % a.mule_id if a.mule_id else "-", "%s/%s" % b.mule_id if b.mule_id else "-")
        kills = [k for k in self.kills if k["node"] == g and a.n <= k["sink_count_after"] < b.n]
        if not kills:
            return "same P_MUL message %s/%s delivered twice with no kill of %s in between" % (a.mule_id + (g,))
        # the incoming queue id of that message, from any run's log
        qids = set()
        gw = self.gws[g]
        for run in range(1, gw.runs + 1):
            qids |= set(re.findall(r"smtpgw received qid=([0-9A-F]+) src=%s msgid=%d " % (
                re.escape(a.mule_id[0]), a.mule_id[1]), read_text(gw.log_of(run))))
        for k in kills:
            text = read_text(gw.log_of(k["run"]))
            if not any(re.search(r"spool-remove qid=%s queue=incoming" % q, text) for q in qids):
                return "window: %s killed (run %d) after the LAN MTA stored copy #%d, before its commit" % (
                    g, k["run"], a.n)
        return "same P_MUL message, but the killed run of %s had committed it (spool-remove logged)" % g

    def make_unwritable(self, path):
        """make a directory refuse new entries: chattr +i as root (root
        ignores permissions), chmod 0500 otherwise; raises Skip if neither
        holds (checked by creating a file)"""
        if os.geteuid() == 0:
            r = subprocess.run(["chattr", "+i", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            how = "chattr +i"
            if r.returncode != 0:
                raise Skip("cannot make %s unwritable: chattr +i: %s" % (path, r.stdout.decode().strip()))
        else:
            os.chmod(path, 0o500)
            how = "chmod 0500"
        self.immutable.append(path)
        probe = os.path.join(path, ".probe")
        try:
            open(probe, "w").close()
            os.unlink(probe)
            self.make_writable(path)
            raise Skip("cannot make %s unwritable (%s did not stop a write)" % (path, how))
        except OSError:
            pass
        self.note("%s made unwritable (%s)" % (path, how))

    def make_writable(self, path):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", path], stderr=subprocess.DEVNULL)
        os.chmod(path, 0o700)
        if path in self.immutable:
            self.immutable.remove(path)
        self.note("%s writable again" % path)

    def dump_logs(self, lines=40):
        for name in sorted(os.listdir(T)):
            if name.endswith(".log"):
                text = read_text(os.path.join(T, name)).splitlines()
                print("----- %s (last %d of %d lines)" % (name, min(lines, len(text)), len(text)))
                for line in text[-lines:]:
                    print(line)
        sys.stdout.flush()


NETS = []  # every Net made, stopped by main()


class Skip(Exception):
    """the scenario cannot run here (exit 77)"""


def main(scenario):
    """run scenario() with the test exit codes: 0 pass, 1 fail (a Failure:
    the message, then the logs unless GW_LOGS=0), 77 skip; every process
    started is stopped"""
    nets = NETS
    started = time.monotonic()

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    rc = 0
    try:
        scenario()
        print("# PASS in %.1fs wall" % (time.monotonic() - started), flush=True)
    except Failure as e:
        print("FAIL: %s (after %.1fs wall)" % (e, time.monotonic() - started), flush=True)
        if os.environ.get("GW_LOGS", "1") != "0":
            for net in nets[:1]:
                net.dump_logs()
        rc = 1
    except Skip as e:
        print("SKIP: %s" % e, flush=True)
        rc = 77
    except KeyboardInterrupt:
        print("FAIL: interrupted", flush=True)
        rc = 1
    finally:
        for net in nets:
            net.stop_all()
    sys.exit(rc)


# ---- a foreign P_MUL sender (raw SIS client) --------------------------------------

SIS_PRE = b"\x90\xeb\x00"


def sis_prim(ptype, body=b""):
    return SIS_PRE + struct.pack(">HB", 1 + len(body), ptype) + body


def sis_addr(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return struct.pack(">I", (7 << 29) | (a << 24) | (b << 16) | (c << 8) | d)


def ip_u32(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def acp142_checksum(pdu):
    """ACP 142 Annex B-3 over the PDU with bytes 6-7 as zero"""
    s0 = s1 = 0
    for i, x in enumerate(pdu):
        if i in (6, 7):
            x = 0
        s0 = (s0 + x) % 255
        s1 = (s1 + s0) % 255
    k = len(pdu) - 7
    return ((k * s0 - s1) % 255) << 8 | ((s1 - (k + 1) * s0) % 255)


def pmul_pdu(ptype, prio, x, src, msgid, body):
    """Length | Priority | MAP=0 Type | X | Checksum | Source_ID | Message_ID | body"""
    n = 16 + len(body)
    pdu = bytearray(struct.pack(">HBBHHII", n, prio, ptype & 0x3F, x, 0, src, msgid) + body)
    struct.pack_into(">H", pdu, 6, acp142_checksum(pdu))
    return bytes(pdu)


def ber_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def mule_cdt(sender, rcpts, message):
    """RFC 8494 CompressedData: the BSMTP-like payload, zlib, BER (Annex E tagging)"""
    payload = ("<%s>\r\n" % sender).encode() + b"".join(("<%s>\r\n" % r).encode() for r in rcpts) + b"\r\n" + message
    z = zlib.compress(payload, 9)
    octets = b"\x04" + ber_len(len(z)) + z
    content = b"\x80\x01\x19" + b"\xa0" + ber_len(len(octets)) + octets
    inner = b"\x30" + ber_len(len(content)) + content
    body = b"\x80\x01\x00" + inner
    return b"\x30" + ber_len(len(body)) + body


class RawPmul:
    """a P_MUL sender of our own bytes on a node of the simulator (SAP 2, the
    STANAG 4406 Annex E client header, app id 0x2000): Address_PDU and
    Data_PDUs with any Priority byte, then wait for the Ack_PDU"""

    def __init__(self, port, node):
        self.node = ip_u32(node)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.updu_id = 0
        self.sock.sendall(sis_prim(1, bytes([2 << 4 | 0, 1 << 4, 0])))  # BIND SAP 2, ARQ
        while True:
            t, body = self.recv(30)
            if t == 3:
                self.mtu = struct.unpack(">H", body[1:3])[0]
                break
            if t == 4:
                raise Failure("raw P_MUL sender: BIND_REJECTED reason %d" % body[0])

    def recv(self, timeout):
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                size = struct.unpack(">H", self.buf[3:5])[0]
                if len(self.buf) >= 5 + size:
                    p = self.buf[5:5 + size]
                    self.buf = self.buf[5 + size:]
                    if p[0] == 17:  # KEEP_ALIVE: answer
                        self.sock.sendall(sis_prim(17))
                        continue
                    return p[0], p[1:]
            left = end - time.monotonic()
            if left <= 0:
                return None, None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None, None
            if not chunk:
                raise Failure("raw P_MUL sender: the simulator closed the connection")
            self.buf += chunk

    def unidata(self, dest, pdu, sis_prio=8):
        self.updu_id = (self.updu_id + 1) & 0xFF
        updu = bytes([0, self.updu_id, 0, 0, 0x20, 0x00]) + pdu
        body = bytes([sis_prio << 4 | 2]) + sis_addr(dest) + bytes([1 << 4, 0]) + struct.pack(">HH", 0, len(updu)) + updu
        self.sock.sendall(sis_prim(20, body))

    def send_message(self, dest, dest_id, msgid, msn, prio, data, expiry, pdu_data=1024):
        """Address_PDU then the Data_PDUs (Priority byte `prio` on each)"""
        frags = [data[i:i + pdu_data] for i in range(0, len(data), pdu_data)] or [b""]
        addr_body = struct.pack(">IHHII", expiry, 1, 0, ip_u32(dest_id), msn)
        self.unidata(dest, pmul_pdu(2, prio, len(frags), self.node, msgid, addr_body))
        for i, f in enumerate(frags):
            self.unidata(dest, pmul_pdu(0, prio, i + 1, self.node, msgid, f))
        return len(frags)

    def wait_ack(self, msgid, timeout):
        """the Ack_PDU entry for msgid: (ack sender, missing data bytes) or None"""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t, body = self.recv(end - time.monotonic())
            if t != 21:
                continue
            size = struct.unpack(">H", body[10:12])[0]
            updu = body[len(body) - size:]
            pdu = updu[6:]
            if len(pdu) < 14 or pdu[3] & 0x3F != 1:
                continue
            acker, count = struct.unpack(">IH", pdu[8:14])
            off = 14
            for _ in range(count):
                elen, osrc, omid = struct.unpack(">HII", pdu[off:off + 10])
                if osrc == self.node and omid == msgid:
                    return acker, pdu[off + 10:off + elen]
                off += elen
        return None

    def ack_ack(self, dest, msgid, prio, expiry):
        """the empty Address_PDU: every destination acknowledged"""
        self.unidata(dest, pmul_pdu(2, prio, 1, self.node, msgid, struct.pack(">IHH", expiry, 0, 0)))
