#!/usr/bin/env python3
"""readme_logs.py - README section 5 ("Read the logs") tells the truth.

  readme_logs.py README.md SENDER.log RECEIVER.log

The section shows the log lines of one message on the sender and on a
receiver (two indented blocks of lines that begin with an ISO 8601 time)
and one `grep -E '...'` pattern for each side.  Against the logs of a real
run of the same kind (mulegw_e2e.sh: alpha's first message, to bravo and
charlie) this checks that

  - every example line exists: a line of that message in the real log has
    the same level, module, event and the same keys in the same order;
  - each pattern, with the example's ids replaced by the run's, matches
    (run through grep -E itself) exactly the lines of that message: every
    line that carries its queue id or its P_MUL id (src and msgid), and no
    other line -- not even decoys that differ only by a longer id
    (msgid=10, msgid=170, src=0.0.0.10, a queue id with one more digit).

Exit 0 when all holds, 1 with the reasons otherwise.
"""
import re
import subprocess
import sys

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def section(readme):
    text = open(readme, encoding="utf-8").read()
    start = text.index("### 5. Read the logs")
    end = text.find("\n### ", start + 1)
    return text[start:end if end > 0 else len(text)].splitlines()


def example_blocks(lines):
    """the indented blocks of log lines, in order"""
    blocks, cur = [], []
    for line in lines:
        body = line[4:] if line.startswith("    ") else None
        if body is not None and TIME.match(body):
            cur.append(body)
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def patterns(lines):
    return [m.group(1) for line in lines for m in [re.search(r"grep -E '([^']*)'", line)] if m]


def fields(line):
    """(level, module, event, [(key, value)...]) of a log line"""
    parts = line.split()
    kv = []
    for tok in re.findall(r'(\S+?=(?:"(?:[^"\\]|\\.)*"|\S*))', " ".join(parts[4:])):
        k, v = tok.split("=", 1)
        kv.append((k, v))
    return parts[1], parts[2], parts[3], kv


def signature(line):
    level, module, event, kv = fields(line)
    return (level, module, event, tuple(k for k, _ in kv))


def value(line, key):
    return dict(fields(line)[3]).get(key)


def belongs(line, qid, src, msgid):
    """whether a line is about the message, by its tokens (not by a regex)"""
    d = dict(fields(line)[3])
    return d.get("qid") == qid or (d.get("src") == src and d.get("msgid") == msgid)


def grep(pattern, lines):
    out = subprocess.run(["grep", "-E", pattern], input="".join(l + "\n" for l in lines),
                         capture_output=True, text=True)
    if out.returncode > 1:
        raise SystemExit("grep -E rejected the pattern %r: %s" % (pattern, out.stderr.strip()))
    return set(out.stdout.splitlines())


def decoys(line, qid, src, msgid):
    """copies of a line of the message in which every id is a longer one
    (so the copy belongs to no message of the run): the queue id with one
    more digit and, in turn, msgid=10, msgid=171 or src=0.0.0.10"""
    out = set()
    for k, longer in (("msgid", msgid + "0"), ("msgid", "17" + msgid), ("src", src + "0")):
        d = line
        for key, old, new in (("qid", qid, qid + "0"), (k, msgid if k == "msgid" else src, longer)):
            d = re.sub(r"(?<= )%s=%s(?= |$)" % (key, re.escape(old)), "%s=%s" % (key, new), d)
        if d != line:
            out.add(d)
    return sorted(out)


def main(readme, sender_log, receiver_log):
    sec = section(readme)
    blocks, pats = example_blocks(sec), patterns(sec)
    problems = []
    if len(blocks) != 2 or len(pats) != 2:
        print("README section 5: %d example blocks and %d grep patterns, want 2 and 2" % (len(blocks), len(pats)))
        return 1
    ex_sub = next((l for l in blocks[0] if fields(l)[2] == "submitted"), None)
    ex_rcv = next((l for l in blocks[1] if fields(l)[2] == "received"), None)
    if not ex_sub or not ex_rcv:
        print("README section 5: the sender's example has no 'submitted' line or the receiver's no 'received' line")
        return 1
    ex = {"sqid": value(ex_sub, "qid"), "src": value(ex_sub, "src"), "msgid": value(ex_sub, "msgid"),
          "rqid": value(ex_rcv, "qid")}

    slog = [l.rstrip("\n") for l in open(sender_log, encoding="utf-8", errors="replace") if TIME.match(l)]
    rlog = [l.rstrip("\n") for l in open(receiver_log, encoding="utf-8", errors="replace") if TIME.match(l)]
    sub = next((l for l in slog if fields(l)[2] == "submitted" and value(l, "msgid") == ex["msgid"]), None)
    if not sub:
        print("the sender's log has no 'submitted' line for msgid=%s" % ex["msgid"])
        return 1
    run = {"sqid": value(sub, "qid"), "src": value(sub, "src"), "msgid": value(sub, "msgid")}
    rcv = next((l for l in rlog if fields(l)[2] == "received" and value(l, "src") == run["src"]
                and value(l, "msgid") == run["msgid"]), None)
    if not rcv:
        print("the receiver's log has no 'received' line for src=%s msgid=%s" % (run["src"], run["msgid"]))
        return 1
    run["rqid"] = value(rcv, "qid")
    print("# example ids %s; this run's %s" % (ex, run))

    for side, block, log, qid, pat in (("sender", blocks[0], slog, run["sqid"], pats[0]),
                                       ("receiver", blocks[1], rlog, run["rqid"], pats[1])):
        mine = [l for l in log if belongs(l, qid, run["src"], run["msgid"])]
        sigs = {signature(l) for l in mine}
        for l in block:
            if signature(l) not in sigs:
                problems.append("%s example line has no counterpart (level, module, event, keys) in the run: %s"
                                % (side, l))
        # the README's pattern, with the run's ids
        p = pat
        for key in ("sqid", "rqid"):
            p = p.replace(ex[key], run[key])
        p = p.replace(re.escape(ex["src"]), re.escape(run["src"]))
        p = re.sub(r"msgid=%s(?=\()" % re.escape(ex["msgid"]), "msgid=%s" % run["msgid"], p)
        fakes = [d for l in mine for d in decoys(l, qid, run["src"], run["msgid"])]
        hit = grep(p, log + fakes)
        want = set(mine)
        for l in sorted(want - hit):
            problems.append("%s pattern %r misses a line of the message: %s" % (side, p, l))
        for l in sorted(hit - want):
            problems.append("%s pattern %r matches a line of another message: %s" % (side, p, l))
        print("# %s: %d example lines, %d lines of the message in the run, pattern %r matched %d of %d lines "
              "(%d decoys)" % (side, len(block), len(mine), p, len(hit), len(log) + len(fakes), len(fakes)))
    for pr in problems:
        print(pr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
