#!/usr/bin/env python3
"""smtp_sink.py - a small SMTP server (RFC 5321, with CHUNKING/BINARYMIME,
8BITMIME, DSN, SIZE, PIPELINING) that stands for a LAN MTA in the gateway
tests.  Each message it accepts is written to DIR/N.eml (the content,
exactly as received after dot-unstuffing) and DIR/N.json (the envelope:
mail from and its parameters, recipients and theirs, whether BDAT was
used), and announced as a line "MSG N from=<...> rcpts=a,b bdat=0|1".

  smtp_sink.py --portfile F --dir D [--no-chunking] [--no-dsn] [--reject ADDR=550]...
               [--hold-first]

--no-dsn: do not advertise DSN (RFC 3461), as an MTA without it: a relay
handing it a message with NOTIFY must report "relayed" itself.

--hold-first: the first message's final dot (or BDAT LAST) gets no reply:
the sink prints "HOLD" and waits; when the client goes away (killed) it
prints "ABANDONED" and keeps nothing, as an MTA does with a transaction
whose end it never acknowledged.  A test can then kill the gateway at a
known point of a delivery instead of at a moment it guessed.
"""
import argparse
import asyncio
import json
import os
import sys


class Session:
    def __init__(self, args, reader, writer, counter, hold_state):
        self.args, self.r, self.w, self.counter = args, reader, writer, counter
        self.hold_state = hold_state
        self.reset()

    def reset(self):
        self.mail, self.mail_params, self.rcpts, self.chunks, self.bdat = None, "", [], [], False

    def reply(self, text):
        self.w.write((text + "\r\n").encode())

    async def run(self):
        self.reply("220 sink.test ESMTP ready")
        ext = ["8BITMIME", "SIZE 104857600", "DSN", "PIPELINING", "ENHANCEDSTATUSCODES", "MT-PRIORITY", "DELIVERBY"]
        if self.args.no_dsn:
            ext.remove("DSN")
        if not self.args.no_chunking:
            ext += ["CHUNKING", "BINARYMIME"]
        while True:
            await self.w.drain()
            line = await self.r.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            arg = cmd[len(verb):].strip()
            if verb in ("EHLO", "HELO"):
                if verb == "HELO":
                    self.reply("250 sink.test")
                else:
                    lines = ["sink.test"] + ext
                    for i, l in enumerate(lines):
                        self.reply(("250 " if i == len(lines) - 1 else "250-") + l)
            elif verb == "MAIL":
                path, _, params = arg[5:].strip().partition(" ")
                self.mail, self.mail_params = path.strip("<>"), params.strip()
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                path, _, params = arg[3:].strip().partition(" ")
                addr = path.strip("<>")
                code = dict(r.split("=") for r in self.args.reject).get(addr)
                if code:
                    self.reply("%s %s.1.1 <%s>: rejected by the sink" % (code, code[0], addr))
                else:
                    self.rcpts.append({"addr": addr, "params": params.strip()})
                    self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not self.rcpts:
                    self.reply("503 5.5.1 no recipients")
                    continue
                self.reply("354 go ahead")
                await self.w.drain()
                body = bytearray()
                while True:
                    l = await self.r.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    body += l
                if await self.held():
                    return
                self.store(bytes(body))
            elif verb == "BDAT":
                parts = arg.split()
                size = int(parts[0])
                last = len(parts) > 1 and parts[1].upper() == "LAST"
                self.chunks.append(await self.r.readexactly(size))
                self.bdat = True
                if last:
                    if not self.rcpts:
                        self.reply("503 5.5.1 no recipients")
                        self.reset()
                    elif await self.held():
                        return
                    else:
                        self.store(b"".join(self.chunks))
                else:
                    self.reply("250 2.0.0 %d octets" % size)
            elif verb == "RSET":
                self.reset()
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                await self.w.drain()
                self.w.close()
                return
            else:
                self.reply("502 5.5.2 unknown command")

    async def held(self):
        """--hold-first: keep the first message's final reply back until the
        client goes away; a message that ends while that one is held is kept
        back too (the same client may deliver on several connections).
        True if this message was held, and so abandoned."""
        if not self.args.hold_first or self.hold_state[0] == 2:
            return False
        first = self.hold_state[0] == 0
        self.hold_state[0] = 1
        print("HOLD" if first else "HOLD-ALSO", flush=True)
        while await self.r.read(4096):
            pass
        print("ABANDONED" if first else "ABANDONED-ALSO", flush=True)
        if first:
            self.hold_state[0] = 2
        return True

    def store(self, body):
        self.counter[0] += 1
        n = self.counter[0]
        base = os.path.join(self.args.dir, str(n))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(body)
        os.rename(base + ".eml.tmp", base + ".eml")
        env = {"from": self.mail, "mail_params": self.mail_params, "rcpts": self.rcpts, "bdat": self.bdat}
        with open(base + ".json", "w") as f:
            json.dump(env, f)
        print("MSG %d from=<%s> rcpts=%s bdat=%d size=%d" % (n, self.mail, ",".join(r["addr"] for r in self.rcpts),
                                                             self.bdat, len(body)), flush=True)
        self.reply("250 2.0.0 Ok: stored as %d" % n)
        self.reset()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--no-chunking", action="store_true")
    ap.add_argument("--no-dsn", action="store_true")
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--hold-first", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    counter, hold_state = [0], [0]  # hold: 0 not yet, 1 holding, 2 done

    async def handle(r, w):
        try:
            await Session(args, r, w, counter, hold_state).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(args.portfile + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(args.portfile + ".tmp", args.portfile)
    print("READY port=%d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
