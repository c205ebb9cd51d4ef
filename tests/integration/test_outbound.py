"""Integration: outbound delivery (issue 3, "Done means") with real parts.

A real DNS server (nsd, tests/integration/nsd.py) on a loopback port serves
MX and A records for the test domains; the sending hikyaku instance takes
alice@example.test's mail on its submissions port (AUTH) and delivers it by
MX to receivers on distinct loopback addresses that all listen on one port
(the sender's relay_port):

  127.0.0.2  rcv.test     hikyaku receiver (self-signed certificate)
  127.0.0.3  plain.test   Python SMTP receiver that never offers STARTTLS
  127.0.0.4  inject.test  Python SMTP receiver that injects bytes after its
                          220 to STARTTLS
  127.0.0.5  down.test    hikyaku receiver, down at first
  127.0.0.6  ca.test      hikyaku receiver, certificate for mx.ca.test from
             alias.test   a test CA (alias.test's MX is mx.ca.test)
  127.0.0.7  crash.test   hikyaku receiver for the crash test
  127.0.0.8  life.test    nothing listens (queue lifetime)
             nullmx.test  "@ MX 0 ." (RFC 7505)

Scenarios: delivery over STARTTLS with the receiver's Received header
showing TLS; a receiver without STARTTLS under may (clear) and encrypt
(instance-wide and per domain via smtp_tls_policy_maps: deferred); the test
CA under verify/secure (delivered when trusted and the name matches,
deferred otherwise); receiver down, then `queue flush`; queue lifetime
exceeded (RFC 3464 bounce in the sender's mailbox); STARTTLS response
injection; null MX; and a crash test (SIGKILL during a busy outbound run).

Every wait is a bounded poll for a condition; no durations are asserted.
Only 127.0.0.0/8 is bound. Standard library only (Debian's /usr/bin/python3).
"""

import os
import random
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import hk
import nsd
from hk import Node, wait_for

ALICE = ("alice@example.test", "alice-secret-1")

RCV_ADDR = "127.0.0.2"
PLAIN_ADDR = "127.0.0.3"
INJECT_ADDR = "127.0.0.4"
DOWN_ADDR = "127.0.0.5"
CA_ADDR = "127.0.0.6"
CRASH_ADDR = "127.0.0.7"
LIFE_ADDR = "127.0.0.8"
ALL_ADDRS = (RCV_ADDR, PLAIN_ADDR, INJECT_ADDR, DOWN_ADDR, CA_ADDR, CRASH_ADDR, LIFE_ADDR)

LIST_LINE = re.compile(r"^([0-9A-F]{14}\.[0-9A-F]{6}\.[0-9A-F]{4}) (\d+) "
                       r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) <([^>]*)>$")

# Module fixtures (setUpModule): the DNS server, the shared relay port, the
# test CA files.
DNS = None
PORT = None
PKI = None


def zone(mx_lines, a_lines=""):
    return ("$TTL 60\n@ SOA ns root 1 60 60 60 60\n@ NS ns\nns A 127.0.0.1\n"
            + mx_lines + a_lines)


ZONES = {
    "rcv.test": zone("@ MX 10 mx\n", "mx A %s\n" % RCV_ADDR),
    "plain.test": zone("@ MX 10 mx\n", "mx A %s\n" % PLAIN_ADDR),
    "inject.test": zone("@ MX 10 mx\n", "mx A %s\n" % INJECT_ADDR),
    "down.test": zone("@ MX 10 mx\n", "mx A %s\n" % DOWN_ADDR),
    "ca.test": zone("@ MX 10 mx\n", "mx A %s\n" % CA_ADDR),
    "alias.test": zone("@ MX 10 mx.ca.test.\n"),
    "crash.test": zone("@ MX 10 mx\n", "mx A %s\n" % CRASH_ADDR),
    "life.test": zone("@ MX 10 mx\n", "mx A %s\n" % LIFE_ADDR),
    "nullmx.test": zone("@ MX 0 .\n"),
}


def shared_port(addrs):
    """A TCP port that was free on every address in addrs a moment ago."""
    for _ in range(200):
        port = random.randrange(20000, 60000)
        socks = []
        try:
            for a in addrs:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((a, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no port free on all of %r" % (addrs,))


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), p.stderr))


class Pki:
    """A test CA, a second unrelated CA, and a server certificate for
    mx.ca.test signed by the first, all in one world-readable directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hk-pki-")
        os.chmod(self.dir, 0o755)
        hk.require_tool("openssl")
        self.ca, self.ca_key = self.make_ca("ca", "hikyaku test CA")
        self.other_ca, _ = self.make_ca("other-ca", "unrelated test CA")
        self.cert, self.key = self.make_server("mx-ca", "mx.ca.test", self.ca, self.ca_key)

    def path(self, name):
        return os.path.join(self.dir, name)

    def make_ca(self, name, cn):
        cert, key = self.path(name + ".pem"), self.path(name + ".key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", key, "-out", cert, cwd=self.dir)
        return cert, key

    def make_server(self, name, host, ca, ca_key, days=2):
        cert, key, csr = (self.path(name + ".pem"), self.path(name + ".key"),
                          self.path(name + ".csr"))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-subj", "/CN=" + host, "-keyout", key, "-out", csr, cwd=self.dir)
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" % host)
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-days", str(days), "-extfile", ext, "-out", cert, cwd=self.dir)
        for p in (cert, key):
            os.chmod(p, 0o644)
        return cert, key

    def cert_key_for_other(self):
        """The mx.ca.test certificate and key: a valid chain, a name that
        matches nothing else."""
        return self.cert, self.key

    def cleanup(self):
        if not hk.KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)


def setUpModule():
    global DNS, PORT, PKI
    PORT = shared_port(ALL_ADDRS)
    DNS = nsd.Nsd(ZONES)
    DNS.start()
    try:
        PKI = Pki()
    except BaseException:
        DNS.stop()
        raise


def tearDownModule():
    if DNS is not None:
        DNS.stop()
    if PKI is not None:
        PKI.cleanup()


def tag():
    return "hk-out-%s" % os.urandom(6).hex()


# --------------------------------------------------------------------------
# a scriptable SMTP receiver in Python

class FakeSmtp:
    """A minimal SMTP receiver on (addr, port) in a thread. It never offers
    STARTTLS unless `starttls_reply` is given, which is then sent (bytes as
    they are, in one send) in answer to STARTTLS, and the session ends
    (with `tls_garbage`, after answering the ClientHello with non-TLS
    bytes: a failed handshake).
    Records every command line and every message received."""

    def __init__(self, addr, port, starttls_reply=None, tls_garbage=False):
        self.addr, self.port = addr, port
        self.starttls_reply = starttls_reply
        self.tls_garbage = tls_garbage
        self.commands = []
        self.messages = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=15)
        self.sock.close()

    def cmds(self):
        with self.lock:
            return list(self.commands)

    def msgs(self):
        with self.lock:
            return list(self.messages)

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._session(conn)
                except (OSError, ValueError):
                    pass

    def _session(self, conn):
        conn.settimeout(10)
        f = conn.makefile("rb")
        conn.sendall(b"220 fake.test ESMTP test receiver\r\n")
        while not self.stopping.is_set():
            line = f.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            with self.lock:
                self.commands.append(cmd)
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                ext = b"250-STARTTLS\r\n" if self.starttls_reply is not None else b""
                conn.sendall(b"250-fake.test\r\n250-8BITMIME\r\n" + ext + b"250 SIZE 10000000\r\n")
            elif verb == "HELO":
                conn.sendall(b"250 fake.test\r\n")
            elif verb == "STARTTLS" and self.starttls_reply is not None:
                conn.sendall(self.starttls_reply)
                if self.tls_garbage:
                    # A broken TLS stack: read the ClientHello, answer
                    # with bytes that are not TLS, hang up.
                    conn.recv(4096)
                    conn.sendall(b"this is not a TLS record\r\n")
                    return
                # Whatever the client does now, no TLS here: wait for its
                # close (bounded by the socket timeout) and end.
                try:
                    while conn.recv(4096):
                        pass
                except OSError:
                    pass
                return
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == "DATA":
                conn.sendall(b"354 go ahead\r\n")
                data = b""
                while True:
                    l = f.readline(65536)
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    data += l[1:] if l.startswith(b".") else l
                with self.lock:
                    self.messages.append(data)
                conn.sendall(b"250 2.0.0 Ok: queued\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 not implemented\r\n")


# --------------------------------------------------------------------------
# the tests

class Outbound(unittest.TestCase):

    # ---- instances

    def _own(self, inst):
        def done():
            try:
                inst.stop()
            finally:
                inst.cleanup()
        self.addCleanup(done)
        return inst

    def sender(self, start=True, **settings):
        """The sending instance: example.test with alice, submissions on
        127.0.0.1, DNS from our nsd, relay_port the receivers' port."""
        conf = {"dns_server": DNS.server, "relay_port": PORT, "smtp_reply_timeout": "30s"}
        conf.update(settings)
        inst = self._own(Node(hk.HOST, ("submissions",), **conf))
        inst.add_domain(hk.DOMAIN)
        inst.add_user(*ALICE)
        if start:
            inst.start()
        return inst

    def receiver(self, addr, domains, users, start=True, **settings):
        """A hikyaku receiver on addr:PORT for domains, with users."""
        conf = {"myhostname": "mx." + domains[0]}
        conf.update(settings)
        inst = self._own(Node(addr, ("smtp",), smtp_port=PORT, **conf))
        for d in domains:
            inst.add_domain(d)
        for u in users:
            inst.add_user(u, "receiver-pw-1")
        if start:
            inst.start()
        return inst

    def fake(self, addr, **kw):
        f = FakeSmtp(addr, PORT, **kw)
        self.addCleanup(f.close)
        return f

    # ---- submission, queue, logs

    def submit(self, inst, rcpts, subject, body=None):
        """alice submits one message on inst's submissions port."""
        msg = hk.make_message(subject=subject, sender=ALICE[0], to=rcpts[0], body=body)
        with smtplib.SMTP_SSL(hk.HOST, inst.ports["submissions"], timeout=30,
                              context=hk.client_context()) as s:
            s.login(*ALICE)
            refused = s.sendmail(ALICE[0], rcpts, msg)
            self.assertEqual(refused, {})

    def queue(self, inst):
        """{id: (sender, [(rcpt, line)])} from `hikyaku queue list`."""
        out = inst.hk("queue", "list").stdout
        msgs, cur = {}, None
        for line in out.splitlines():
            m = LIST_LINE.match(line)
            if m:
                cur = m.group(1)
                msgs[cur] = (m.group(4), [])
                continue
            self.assertTrue(line.startswith("  <") and cur, "unexpected list line %r" % line)
            msgs[cur][1].append((line[3:line.index(">")], line))
        return msgs

    def queued_lines(self, inst, rcpt):
        return [line for _, (_, rs) in self.queue(inst).items() for r, line in rs if r == rcpt]

    def wait_queue_empty(self, inst, timeout=30):
        wait_for(lambda: not self.queue(inst), timeout,
                 "an empty queue; `queue list`:\n%s" % inst.hk("queue", "list").stdout)

    def status_lines(self, inst, rcpt, status=None):
        rx = re.compile(r"^.*\bto=<%s> relay=\S+ status=%s\b.*$"
                        % (re.escape(rcpt), status or r"\w+"), re.M)
        return rx.findall(inst.log_text())

    def wait_status(self, inst, rcpt, status, timeout=30):
        def got():
            return self.status_lines(inst, rcpt, status)
        try:
            return wait_for(got, timeout, "status=%s for %s" % (status, rcpt))[-1]
        except AssertionError:
            raise AssertionError("no status=%s for %s; sender log:\n%s"
                                 % (status, rcpt, inst.logs()[-6000:]))

    def sid_lines(self, inst, host):
        """{sid: [lines]} of the SMTP client's lines for an MX host."""
        out = {}
        for m in re.finditer(r"^.*\bsid=([0-9a-f]{16}) proto=smtp-out host=%s (.*)$"
                             % re.escape(host), inst.log_text(), re.M):
            out.setdefault(m.group(1), []).append(m.group(0))
        return out

    def mailbox_dsn(self, inst, addr, needle, timeout=30):
        def got():
            return [d for _, d in inst.messages(addr) if needle.encode() in d
                    and b"multipart/report" in d]
        try:
            hits = wait_for(got, timeout, "a DSN mentioning %s in %s's mailbox" % (needle, addr))
        except AssertionError:
            raise AssertionError("no DSN for %s; sender log:\n%s" % (needle, inst.logs()[-6000:]))
        self.assertEqual(len(hits), 1, "more than one DSN")
        return hits[0].decode("utf-8", "replace")

    def assertDsn(self, dsn, rcpt, status_prefix):
        head = dsn.split("\r\n\r\n", 1)[0]
        unfolded = re.sub(r"\r\n[ \t]+", " ", head)
        self.assertRegex(unfolded, r"(?mi)^From:.*MAILER-DAEMON@", head)
        self.assertRegex(unfolded, r"(?mi)^Content-Type:\s*multipart/report;.*"
                         r"report-type=\"?delivery-status\"?", head)
        self.assertRegex(dsn, r"(?mi)^Content-Type:\s*message/delivery-status")
        self.assertRegex(dsn, r"(?mi)^Reporting-MTA:\s*dns;\s*\S+")
        self.assertRegex(dsn, r"(?mi)^Final-Recipient:\s*rfc822;\s*%s\s*$" % re.escape(rcpt))
        self.assertRegex(dsn, r"(?mi)^Action:\s*failed\s*$")
        self.assertRegex(dsn, r"(?mi)^Status:\s*%s" % re.escape(status_prefix))

    # ---- 1. STARTTLS

    def test_1_starttls_delivery(self):
        rcpt = "bob@rcv.test"
        rcv = self.receiver(RCV_ADDR, ["rcv.test"], [rcpt])
        snd = self.sender()
        t = tag()
        self.submit(snd, [rcpt], t)
        data = rcv.find_message(rcpt, t, timeout=30)
        self.assertIsNotNone(data, "not delivered; sender log:\n%s" % snd.logs()[-6000:])
        rcvd = hk.received_header(data)
        self.assertIn("by mx.rcv.test (hikyaku) with ESMTPS id", rcvd)
        self.assertRegex(rcvd, r"\(using TLSv1\.[23] with cipher [A-Z0-9_-]+ \(\d+/\d+ bits\)\)")
        line = self.wait_status(snd, rcpt, "sent")
        self.assertIn("relay=mx.rcv.test[%s]:%d" % (RCV_ADDR, PORT), line)
        self.assertRegex(line, r"reply=\"?250 ")
        self.assertRegex(line, r" status=sent tls=TLSv1\.[23] cipher=\S+ "
                         r"peer=(Untrusted|Verified) ")
        tls = [l for ls in self.sid_lines(snd, "mx.rcv.test").values() for l in ls
               if "event=tls-out" in l]
        self.assertTrue(tls, snd.log_text()[-4000:])
        self.assertRegex(tls[-1], r"event=tls-out level=may version=TLSv1\.[23] "
                         r"cipher=\S+ peer=(Untrusted|Verified)\b")
        # The same protocol version on both sides.
        version = re.search(r"version=(TLSv1\.\d)", tls[-1]).group(1)
        self.assertIn("using %s with" % version, rcvd)
        self.wait_queue_empty(snd)

    def test_1b_tls_loglevel(self):
        # 0: no TLS lines, yet the status line keeps the facts; 3: the
        # negotiation steps and every command and reply are traced.
        rcv = self.receiver(RCV_ADDR, ["rcv.test"], ["bob@rcv.test", "eve@rcv.test"])
        for level, rcpt in ((0, "bob@rcv.test"), (3, "eve@rcv.test")):
            snd = self.sender(smtp_tls_loglevel=str(level))
            t = tag()
            self.submit(snd, [rcpt], t)
            self.assertIsNotNone(rcv.find_message(rcpt, t, timeout=30), snd.logs()[-6000:])
            line = self.wait_status(snd, rcpt, "sent")
            self.assertRegex(line, r" tls=TLSv1\.[23] cipher=\S+ peer=\w+ ")
            log = snd.log_text()
            if level == 0:
                self.assertNotIn("event=tls-out", log)
                self.assertNotIn("event=out-command", log)
            else:
                self.assertIn("event=tls-out-offer starttls=offered level=may", log)
                self.assertIn("event=tls-out-handshake sni=mx.rcv.test", log)
                self.assertRegex(log, r"event=tls-out level=may version=TLSv1")
                self.assertRegex(log, r"event=out-command line=\"?STARTTLS")
                self.assertRegex(log, r"event=out-reply code=250 ")
            snd.stop()

    # ---- 2. a receiver without STARTTLS

    def test_2a_no_starttls_may_delivers_in_clear(self):
        f = self.fake(PLAIN_ADDR)
        snd = self.sender()
        rcpt, t = "carol@plain.test", tag()
        self.submit(snd, [rcpt], t)
        line = self.wait_status(snd, rcpt, "sent")
        self.assertIn("relay=mx.plain.test[%s]:%d" % (PLAIN_ADDR, PORT), line)
        self.assertIn(" status=sent tls=none ", line)
        self.assertTrue(any(t.encode() in m for m in f.msgs()), f.cmds())
        self.assertNotIn("STARTTLS", [c.upper() for c in f.cmds()])
        sessions = self.sid_lines(snd, "mx.plain.test")
        self.assertTrue(sessions, snd.log_text()[-4000:])
        for lines in sessions.values():
            text = "\n".join(lines)
            self.assertIn("level=may", text)
            self.assertNotIn("event=tls-out", text, "TLS claimed with a plain-only peer")
        self.wait_queue_empty(snd)

    def _assert_deferred_for_tls(self, snd, f, rcpt):
        line = self.wait_status(snd, rcpt, "deferred")
        self.assertIn("TLS is required", line)
        self.assertNotIn("MAIL", " ".join(c.split(" ", 1)[0].upper() for c in f.cmds()),
                         "envelope sent in clear: %r" % f.cmds())
        self.assertEqual(f.msgs(), [])
        self.assertEqual(self.status_lines(snd, rcpt, "sent"), [])
        queued = self.queued_lines(snd, rcpt)
        self.assertEqual(len(queued), 1, self.queue(snd))
        self.assertIn("status=pending", queued[0])
        self.assertIn("TLS", queued[0].split(" reply=", 1)[-1])

    def test_2b_no_starttls_encrypt_defers(self):
        f = self.fake(PLAIN_ADDR)
        snd = self.sender(smtp_tls_security_level="encrypt")
        rcpt = "dave@plain.test"
        self.submit(snd, [rcpt], tag())
        self._assert_deferred_for_tls(snd, f, rcpt)

    def test_2c_no_starttls_policy_map_encrypt_defers(self):
        f = self.fake(PLAIN_ADDR)
        snd = self.sender(start=False)
        maps = os.path.join(snd.tmp, "tls_policy")
        with open(maps, "w") as fh:
            fh.write("# per-destination TLS policy\nplain.test encrypt\n.other.test none\n")
        os.chmod(maps, 0o644)
        snd.settings["smtp_tls_policy_maps"] = "texthash:" + maps
        snd.write_config()
        snd.start()
        rcpt = "erin@plain.test"
        self.submit(snd, [rcpt], tag())
        self._assert_deferred_for_tls(snd, f, rcpt)

    # ---- 2. (more) may: a failed handshake is retried in clear

    def _handshake_failure_may(self, **settings):
        f = self.fake(PLAIN_ADDR, starttls_reply=b"220 2.0.0 go ahead\r\n", tls_garbage=True)
        snd = self.sender(**settings)
        rcpt, t = "olga@plain.test", tag()
        self.submit(snd, [rcpt], t)
        line = self.wait_status(snd, rcpt, r"(?:sent|deferred)")
        log = snd.log_text()
        self.assertRegex(log, r"event=tls-out-failed id=\S+ relay=mx\.plain\.test\S* "
                         r"reason=\"TLS handshake failed.*retry=plain")
        self.assertIn("status=sent", line, "not retried in clear under may:\n%s" % log[-4000:])
        self.assertTrue(any(t.encode() in m for m in f.msgs()), f.cmds())
        # First session: STARTTLS; the retry: no STARTTLS, the message.
        self.assertEqual([c.upper() for c in f.cmds() if c.upper() == "STARTTLS"], ["STARTTLS"])
        self.wait_queue_empty(snd)

    def test_2d_may_handshake_failure_retries_in_clear(self):
        self._handshake_failure_may()

    # The clear retry of the same host does not count toward
    # smtp_mx_address_limit (this once deferred instead: deliver.c checked
    # the limit before knowing the call was the retry).
    def test_2e_may_handshake_failure_retries_in_clear_at_address_limit(self):
        self._handshake_failure_may(smtp_mx_address_limit="1")

    # ---- 4. receiver down, then queue flush

    def test_4_receiver_down_then_flush(self):
        rcpt = "frank@down.test"
        rcv = self.receiver(DOWN_ADDR, ["down.test"], [rcpt], start=False)
        snd = self.sender()   # default backoff (300s): only the flush retries
        t = tag()
        self.submit(snd, [rcpt], t)
        line = self.wait_status(snd, rcpt, "deferred")
        self.assertIn("mx.down.test[%s]" % DOWN_ADDR, line)
        queued = self.queued_lines(snd, rcpt)
        self.assertEqual(len(queued), 1, self.queue(snd))
        self.assertIn("status=pending", queued[0])
        rcv.start()
        p = snd.hk("queue", "flush")
        self.assertNotIn("no scheduler running", p.stdout)
        data = rcv.find_message(rcpt, t, timeout=30)
        self.assertIsNotNone(data, "not delivered after flush; sender log:\n%s"
                             % snd.logs()[-6000:])
        self.assertIn("with ESMTPS", hk.received_header(data))
        self.wait_status(snd, rcpt, "sent")
        self.wait_queue_empty(snd)

    # ---- 7. null MX

    def test_7_null_mx_bounces_at_once(self):
        snd = self.sender()
        rcpt, t = "gina@nullmx.test", tag()
        self.submit(snd, [rcpt], t)
        line = self.wait_status(snd, rcpt, "bounced")
        self.assertIn("5.1.10", line)
        dsn = self.mailbox_dsn(snd, ALICE[0], rcpt)
        self.assertDsn(dsn, rcpt, "5.1.10")
        self.assertIn(t, dsn)   # the original (or its headers) is returned
        self.assertEqual(self.status_lines(snd, rcpt, "deferred"), [], "null MX deferred")
        self.wait_queue_empty(snd)

    # ---- 6. STARTTLS response injection

    def test_6_starttls_injection_aborts(self):
        f = self.fake(INJECT_ADDR,
                      starttls_reply=b"220 2.0.0 go ahead\r\n250 injected-before-handshake\r\n")
        snd = self.sender()
        rcpt, t = "hank@inject.test", tag()
        self.submit(snd, [rcpt], t)
        line = self.wait_status(snd, rcpt, "deferred")
        self.assertIn("injection", line)
        log = snd.log_text()
        self.assertRegex(log, r"host=mx\.inject\.test .*STARTTLS response injection")
        self.assertNotIn("retry=plain", log, "retried in clear after an injection")
        self.assertIn("STARTTLS", [c.upper() for c in f.cmds()])
        self.assertFalse([c for c in f.cmds() if c.upper().startswith(("MAIL", "RCPT", "DATA"))],
                         "the session went on after the injection: %r" % f.cmds())
        self.assertEqual(f.msgs(), [])
        self.assertEqual(self.status_lines(snd, rcpt, "sent"), [])
        queued = self.queued_lines(snd, rcpt)
        self.assertEqual(len(queued), 1, self.queue(snd))
        self.assertIn("status=pending", queued[0])

    # ---- 3. the test CA

    def ca_receiver(self, users):
        return self.receiver(CA_ADDR, ["ca.test", "alias.test"], users,
                             smtpd_tls_cert_file=PKI.cert, smtpd_tls_key_file=PKI.key)

    def policy_sender(self, cafile, policy, **settings):
        snd = self.sender(start=False, smtp_tls_CAfile=cafile, **settings)
        if policy:
            maps = os.path.join(snd.tmp, "tls_policy")
            with open(maps, "w") as fh:
                fh.write(policy)
            os.chmod(maps, 0o644)
            snd.settings["smtp_tls_policy_maps"] = maps
            snd.write_config()
        snd.start()
        return snd

    def tls_out_for(self, snd, host):
        return [l for ls in self.sid_lines(snd, host).values() for l in ls
                if "event=tls-out" in l]

    def test_3a_trusted_ca_verify_and_secure_deliver(self):
        # ca.test under secure (the certificate's mx.ca.test matches the
        # next-hop ca.test as a subdomain), alias.test under verify (its MX
        # host mx.ca.test is the certificate's name).
        r1, r2 = "ivan@ca.test", "judy@alias.test"
        rcv = self.ca_receiver([r1, r2])
        snd = self.policy_sender(PKI.ca, "ca.test secure\nalias.test verify\n")
        t1, t2 = tag(), tag()
        self.submit(snd, [r1], t1)
        self.submit(snd, [r2], t2)
        for r, t in ((r1, t1), (r2, t2)):
            data = rcv.find_message(r, t, timeout=30)
            self.assertIsNotNone(data, "%s not delivered; sender log:\n%s"
                                 % (r, snd.logs()[-6000:]))
            self.assertIn("with ESMTPS", hk.received_header(data))
            self.wait_status(snd, r, "sent")
        tls = self.tls_out_for(snd, "mx.ca.test")
        levels = {re.search(r"event=tls-out level=(\w+)", l).group(1): l for l in tls}
        self.assertEqual(sorted(levels), ["secure", "verify"], tls)
        for l in levels.values():
            self.assertIn("peer=Verified", l)

    def test_3b_untrusted_ca_verify_defers(self):
        rcpt = "kim@ca.test"
        rcv = self.ca_receiver([rcpt])
        snd = self.policy_sender(PKI.other_ca, None, smtp_tls_security_level="verify")
        t = tag()
        self.submit(snd, [rcpt], t)
        line = self.wait_status(snd, rcpt, "deferred")
        self.assertIn("not trusted", line)
        tls = self.tls_out_for(snd, "mx.ca.test")
        self.assertTrue(tls)
        self.assertNotIn("peer=Verified", "\n".join(tls))
        self.assertIsNone(rcv.find_message(rcpt, t, timeout=0.5))
        self.assertEqual(len(self.queued_lines(snd, rcpt)), 1)

    def test_3c_secure_nexthop_mismatch_defers(self):
        # Trusted CA, the certificate names the MX host mx.ca.test, but the
        # next-hop is alias.test: secure must refuse (verify would accept,
        # see 3a).
        rcpt = "lena@alias.test"
        rcv = self.ca_receiver([rcpt])
        snd = self.policy_sender(PKI.ca, "alias.test secure\n")
        t = tag()
        self.submit(snd, [rcpt], t)
        line = self.wait_status(snd, rcpt, "deferred")
        self.assertIn("not verified", line)
        self.assertIsNone(rcv.find_message(rcpt, t, timeout=0.5))
        self.assertEqual(len(self.queued_lines(snd, rcpt)), 1)

    # ---- 5. queue lifetime

    def test_5_queue_lifetime_bounce(self):
        snd = self.sender(maximal_queue_lifetime="2s", minimal_backoff_time="1s",
                          maximal_backoff_time="1s", queue_run_delay="1s")
        rcpt, t = "mike@life.test", tag()
        self.submit(snd, [rcpt], t)
        self.wait_status(snd, rcpt, "deferred")
        line = self.wait_status(snd, rcpt, "bounced")
        dsn = self.mailbox_dsn(snd, ALICE[0], rcpt)
        self.assertDsn(dsn, rcpt, "")
        self.assertIn(t, dsn)
        self.assertRegex(dsn, r"(?mi)^Remote-MTA:\s*dns;\s*mx\.life\.test\b")
        self.assertRegex(dsn, r"(?mi)^Diagnostic-Code:\s*[\w-]+;")
        self.assertIn("expired", line)
        self.wait_queue_empty(snd)

    # ---- 8. crash test

    def test_8_crash_outbound(self):
        seed = int(os.environ.get("HIKYAKU_SEED", random.randrange(1 << 30)))
        print("\ncrash test seed %d (HIKYAKU_SEED=%d to repeat)" % (seed, seed), flush=True)
        rng = random.Random(seed)
        nmsgs = 200
        rcpts = ["u1@crash.test", "u2@crash.test"]
        rcv = self.receiver(CRASH_ADDR, ["crash.test"], rcpts, start=False)
        # One delivery in flight at a time: a SIGKILL can then catch at
        # most one transaction between its 250 and the durable record of
        # it (RFC 5321 6.1), so duplicates <= kills is the right bound.
        snd = self.sender(minimal_backoff_time="1s", maximal_backoff_time="2s",
                          queue_run_delay="1s", default_destination_concurrency_limit="1")
        tags = ["crash-%03d-%s" % (i, os.urandom(4).hex()) for i in range(nmsgs)]
        # Queue them all while the receiver is down (deferred, retried soon).
        with smtplib.SMTP_SSL(hk.HOST, snd.ports["submissions"], timeout=30,
                              context=hk.client_context()) as s:
            s.login(*ALICE)
            for t in tags:
                msg = hk.make_message(subject=t, sender=ALICE[0], to=rcpts[0])
                self.assertEqual(s.sendmail(ALICE[0], rcpts, msg), {})
        rcv.start()
        kills = 0
        deadline = time.monotonic() + 120
        for _ in range(rng.randint(4, 6)):
            snd.hk("queue", "flush", check=False)
            delay = rng.uniform(0.05, 0.6)
            time.sleep(delay)
            if self.delivered_total(rcv, rcpts) >= nmsgs * len(rcpts):
                break
            snd.kill9()
            kills += 1
            print("SIGKILL %d after %.2fs; delivered so far %d" %
                  (kills, delay, self.delivered_total(rcv, rcpts)), flush=True)
            snd.start()
        snd.hk("queue", "flush", check=False)

        def settled():
            return (not self.queue(snd)
                    and self.delivered_total(rcv, rcpts) >= nmsgs * len(rcpts))
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.5)
        left = self.queue(snd)
        dups, missing = [], []
        for r in rcpts:
            counts = {}
            for _, d in rcv.messages(r):
                m = re.search(rb"Subject: (crash-\d+-[0-9a-f]+)", d)
                self.assertIsNotNone(m, d[:300])
                counts[m.group(1).decode()] = counts.get(m.group(1).decode(), 0) + 1
            for t in tags:
                n = counts.get(t, 0)
                if n == 0:
                    missing.append((r, t))
                elif n > 1:
                    dups.append((r, t, n))
        # A duplicate transaction gives one duplicate per recipient in it.
        dup_msgs = sorted({t for _, t, _ in dups})
        print("kills %d, duplicates %r, missing %d, left in queue %d"
              % (kills, dups, len(missing), len(left)), flush=True)
        self.assertEqual(missing, [], "lost: %r\nqueue: %r" % (missing[:20], left))
        self.assertEqual(left, {}, "left in the queue")
        self.assertLessEqual(len(dup_msgs), kills,
                             "more duplicated transactions than kills: %r" % dups)

    @staticmethod
    def delivered_total(rcv, rcpts):
        return sum(rcv.count(r) for r in rcpts)

    # ---- 9. connection reuse

    def test_9_connection_reuse(self):
        rcpt = "bob@rcv.test"
        nmsgs = 20
        rcv = self.receiver(RCV_ADDR, ["rcv.test"], [rcpt])
        snd = self.sender(default_destination_concurrency_limit="2")
        tags = ["reuse-%02d-%s" % (i, os.urandom(4).hex()) for i in range(nmsgs)]
        with smtplib.SMTP_SSL(hk.HOST, snd.ports["submissions"], timeout=30,
                              context=hk.client_context()) as s:
            s.login(*ALICE)
            for t in tags:
                msg = hk.make_message(subject=t, sender=ALICE[0], to=rcpt)
                self.assertEqual(s.sendmail(ALICE[0], [rcpt], msg), {})
        wait_for(lambda: rcv.count(rcpt) >= nmsgs, 60,
                 "%d messages; sender log:\n%s" % (nmsgs, snd.logs()[-6000:]))
        self.wait_queue_empty(snd)
        counts = {}
        for _, d in rcv.messages(rcpt):
            m = re.search(rb"Subject: (reuse-\d+-[0-9a-f]+)", d)
            self.assertIsNotNone(m, d[:300])
            counts[m.group(1).decode()] = counts.get(m.group(1).decode(), 0) + 1
        self.assertEqual(counts, {t: 1 for t in tags}, "not exactly once each")
        log = snd.log_text()
        connects = len(re.findall(r"proto=smtp-out host=mx\.rcv\.test event=connect ", log))
        reuses = re.findall(r"event=reuse id=\S+ relay=mx\.rcv\.test\[[^]]+\]:\d+ n=(\d+)",
                            log)
        # A cached session found dead before MAIL starts over on a new one.
        failed = len(re.findall(r"event=reuse-failed ", log))
        self.assertEqual(connects + len(reuses), nmsgs + failed, log[-6000:])
        self.assertLess(connects, nmsgs // 2, "too few reused connections")
        self.assertTrue(all(int(n) >= 2 for n in reuses))


if __name__ == "__main__":
    unittest.main(verbosity=2)
