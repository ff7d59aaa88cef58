#!/bin/sh
# events_doc.sh - the event catalogue doc/events.md cannot rot: every event
# the sources log (util_log, UTIL_TRACE and UTIL_LOG_ERR_ calls in util/,
# s5066/, pmul/, mule/, smtp-gw/; calls spanning lines; every string literal
# of the event argument, so `ok ? "done" : "failed"` gives both) must appear
# in the catalogue as `module event` (in backquotes, as its tables write it).
# Only source -> doc: the catalogue may document events still being written.
# An event or module that is not a literal cannot be checked and fails too.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need python3
DOC="$top_srcdir/doc/events.md"
[ -f "$DOC" ] || fail "no $DOC"

python3 - "$top_srcdir" "$DOC" > "$T/events.log" 2>&1 <<'EOF'
import glob, os, re, sys

top, doc_path = sys.argv[1], sys.argv[2]
doc = open(doc_path, encoding="utf-8").read()
# module constants and their names, as util/log.c prints them
log_c = open(os.path.join(top, "util", "log.c"), encoding="utf-8").read()
modules = dict(re.findall(r'\[UTIL_MOD_([A-Z0-9_]+)\]\s*=\s*"([^"]+)"', log_c))
if not modules:
    sys.exit("util/log.c: no [UTIL_MOD_*] = \"name\" table found")
call = re.compile(r"\b(util_log|UTIL_TRACE|UTIL_LOG_ERR_|gwe_log)\s*\(")
# engines that log through a callback: their log function -> the module
# name the daemon's callback gives their lines
engine_logs = {"gwe_log": "smtpgw"}
literal = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def strip_comments(text):
    """Blank out comments (keeping newlines and offsets), not strings."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_args(text, i):
    """Top-level arguments of the call whose '(' ends just before i."""
    args, cur, depth = [], [], 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = i + 1
            while text[j] != c:
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append("".join(cur).strip())
                return args
            depth -= 1
        elif c == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    return args


found, problems = {}, []
files = []
for d in ("util", "s5066", "pmul", "mule", "smtp-gw"):
    files += sorted(glob.glob(os.path.join(top, d, "*.c")))
for path in files:
    rel = os.path.relpath(path, top)
    text = strip_comments(open(path, encoding="utf-8", errors="replace").read())
    for m in call.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        args = split_args(text, m.end())
        if m.group(1) in engine_logs:
            if len(args) < 3 or args[0].startswith("struct"):
                continue  # the definition
            names = literal.findall(args[2])
            if not names:
                problems.append("%s:%d: event '%s' is not a string literal" % (rel, line, args[2]))
            for name in names:
                found.setdefault("%s %s" % (engine_logs[m.group(1)], name), []).append("%s:%d" % (rel, line))
            continue
        if m.group(1) == "util_log":
            if len(args) < 3 or args[0].startswith("enum"):
                continue  # the definition
            if args[2] == "event":
                continue  # a log callback passing an engine's own event on (counted above)
            mod, ev = args[1], args[2]
        else:
            if len(args) < 2 or args[0] == "mod":
                continue  # the macro's own definition
            mod, ev = args[0], args[1]
        mm = re.fullmatch(r"\(?\s*UTIL_MOD_([A-Z0-9_]+)\s*\)?", mod)
        if not mm or mm.group(1) not in modules:
            problems.append("%s:%d: module '%s' is not a UTIL_MOD_* constant" % (rel, line, mod))
            continue
        names = literal.findall(ev)
        if not names:
            problems.append("%s:%d: event '%s' is not a string literal" % (rel, line, ev))
            continue
        for name in names:
            found.setdefault("%s %s" % (modules[mm.group(1)], name), []).append("%s:%d" % (rel, line))

missing = sorted(k for k in found if "`%s`" % k not in doc)
for k in missing:
    ev = k.split(" ", 1)[1]
    elsewhere = sorted(set(re.findall(r"`([a-z0-9]+ %s)`" % re.escape(ev), doc)))
    hint = " (documented as %s)" % ", ".join("`%s`" % e for e in elsewhere) if elsewhere else ""
    print("missing from doc/events.md: `%s` (%s)%s" % (k, ", ".join(found[k]), hint))
for p in problems:
    print(p)
print("%d events in %d files, %d missing, %d unreadable calls"
      % (len(found), len(files), len(missing), len(problems)))
sys.exit(1 if missing or problems or not found else 0)
EOF
rc=$?
cat "$T/events.log"
if [ $rc -ne 0 ]; then
    echo "FAIL: doc/events.md does not document every event (add a row: | \`module event\` | level | keys | meaning | action |)"
    exit 1
fi
exit 0
