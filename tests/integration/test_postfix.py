"""Integration: interoperability with a real Postfix peer over STARTTLS.

One private Postfix instance (Debian's postfix, started by the test with
its own config dir, queue, data dir and log file, `postfix -c DIR`) and one
hikyaku instance:

  1. hikyaku -> Postfix: alice submits (STARTTLS + AUTH on 587) mail for
     user@b.test. hikyaku's resolver is a private nsd with
     `b.test MX 10 mx.b.test`, `mx.b.test A 127.0.0.x` and relay_port is
     Postfix's port; Postfix (smtpd_tls_security_level = may, throwaway
     certificate) stores b.test in a Maildir. Checked: the file arrives,
     Postfix logged "TLS connection established from", Postfix's Received
     header carries the TLS clause (smtpd_tls_received_header = yes), and
     hikyaku logged event=tls-out and status=sent.
  2. Postfix -> hikyaku: a message submitted to Postfix's smtpd for
     alice@example.test goes out through a transport_maps entry
     `example.test smtp:[127.0.0.1]:<hikyaku smtp port>` with
     smtp_tls_security_level = encrypt. Checked: it lands in alice's
     mailbox, hikyaku's Received header says ESMTPS and the TLS version,
     and Postfix logged "TLS connection established to" and status=sent.

Network safety: Postfix listens on one 127.0.0.x address only;
default_transport and relay_transport are error:, so it can send nowhere
but the loopback nexthops of its transport_maps, and it never uses the
system resolver (smtp_dns_support_level = disabled, only [IP] nexthops,
smtpd_peername_lookup = no). hikyaku asks only the private nsd.
Must run as root (Postfix needs it); a missing postfix or nsd fails the
test unless HIKYAKU_ALLOW_SKIP=1. Every wait is bounded.
"""

import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

import hk
import nsd

PF_DOMAIN = "b.test"
PF_HOST = "mx.b.test"
ALICE = ("alice@example.test", "alice-secret-1")
NOBODY = 65534


def loopback_address():
    """A 127.0.0.x other than 127.0.0.1 (no setup needed on Linux)."""
    return "127.0.0.%d" % (40 + os.getpid() % 200)


def free_port_on(addr):
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


class Postfix:
    """A private Postfix instance: config dir, queue, data dir and log in
    one temp dir; smtpd on addr:port only; mail for `domain` into
    mail/DOMAIN/user/ (Maildir, any local part); `transports` is a
    {domain: nexthop} dict for transport_maps; everything else goes to
    error:. Must run as root."""

    def __init__(self, addr, port, domain, transports, extra=None):
        self.addr, self.port, self.domain = addr, port, domain
        self.base = tempfile.mkdtemp(prefix="hk-it-postfix-")
        os.chmod(self.base, 0o755)
        self.conf = os.path.join(self.base, "conf")
        self.queue = os.path.join(self.base, "queue")
        self.data = os.path.join(self.base, "data")
        self.mail = os.path.join(self.base, "mail")
        self.logdir = os.path.join(self.base, "log")
        self.log_file = os.path.join(self.logdir, "postfix.log")
        for d in (self.conf, self.queue, self.data, self.mail, self.logdir):
            os.mkdir(d, 0o755)
        os.chown(self.mail, NOBODY, NOBODY)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        self.cert, self.key = hk.make_cert(self.conf, name="postfix", cn=PF_HOST, sans=(PF_HOST,))
        self.master = None
        transport = ", ".join("%s=%s" % kv for kv in transports.items())
        main_cf = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "multi_instance_name": "postfix-it-%d" % os.getpid(),
            "syslog_name": "postfix-it-%d" % os.getpid(),
            "maillog_file": self.log_file,
            "maillog_file_prefixes": self.base,
            "myhostname": PF_HOST,
            "mydomain": domain,
            "mydestination": "",
            # `postfix check` refuses an address that is not configured on
            # an interface (127.0.0.x is routed to lo but not listed); the
            # smtpd service below binds addr:port explicitly instead.
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "relay_domains": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            # Never send anywhere but the loopback nexthops below, never
            # ask the system resolver.
            "default_transport": "error:test instance does not relay",
            "relay_transport": "error:test instance does not relay",
            "transport_maps": "inline:{ %s }" % transport if transports else "",
            "smtp_dns_support_level": "disabled",
            "smtpd_peername_lookup": "no",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "virtual_mailbox_domains": domain,
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "static:%s/user/" % domain,
            "virtual_uid_maps": "static:%d" % NOBODY,
            "virtual_gid_maps": "static:%d" % NOBODY,
            "virtual_minimum_uid": "100",
            "smtpd_tls_cert_file": self.cert,
            "smtpd_tls_key_file": self.key,
            "smtpd_tls_security_level": "may",
            "smtpd_tls_loglevel": "1",
            "smtpd_tls_received_header": "yes",
            "smtp_tls_loglevel": "1",
            "smtpd_banner": "$myhostname ESMTP",
            "biff": "no",
            "smtputf8_enable": "yes",
            "queue_run_delay": "10s",
            "minimal_backoff_time": "10s",
            "maximal_backoff_time": "20s",
        }
        main_cf.update(extra or {})
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in main_cf.items():
                f.write("%s = %s\n" % (k, v))
        services = [
            ("%s:%d" % (addr, port), "inet", "n", "-", "n", "-", "-", "smtpd"),
            ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("virtual", "unix", "-", "n", "n", "-", "-", "virtual"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            for s in services:
                f.write(" ".join(s) + "\n")

    def postfix(self, *args):
        return subprocess.run(["/usr/sbin/postfix", "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=120)

    def start(self, wait=30.0):
        p = self.postfix("start")
        if p.returncode != 0:
            raise AssertionError("postfix start failed:\n%s%s%s" % (p.stdout, p.stderr, self.log()))
        pidfile = os.path.join(self.queue, "pid", "master.pid")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    self.master = int(f.read().strip())
                with socket.create_connection((self.addr, self.port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return self
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError("postfix not ready on %s:%d after %.0fs\n%s"
                             % (self.addr, self.port, wait, self.log()))

    def stop(self):
        self.postfix("stop")
        if self.master is not None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and os.path.exists("/proc/%d" % self.master):
                time.sleep(0.1)
            if os.path.exists("/proc/%d" % self.master):
                os.kill(self.master, signal.SIGKILL)
            self.master = None

    def cleanup(self):
        try:
            self.stop()
        finally:
            if not hk.KEEP:
                shutil.rmtree(self.base, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_file, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=30.0):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log())
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.1)

    def find_message(self, needle, timeout=30.0):
        """The Maildir file (bytes) of mail/DOMAIN/user/new holding needle."""
        if isinstance(needle, str):
            needle = needle.encode()
        d = os.path.join(self.mail, self.domain, "user", "new")
        deadline = time.monotonic() + timeout
        while True:
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                names = []
            for n in names:
                with open(os.path.join(d, n), "rb") as f:
                    data = f.read()
                if needle in data:
                    return data
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)


def unfolded_headers(data, name):
    """Every header field `name` of a message (CRLF or LF), unfolded."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    fields = re.split(r"\n(?=[^ \t])", head)
    return [re.sub(r"\n[ \t]+", " ", f) for f in fields if f.lower().startswith(name.lower() + ":")]


class PostfixInterop(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            msg = "Postfix needs root"
            if hk.ALLOW_SKIP:
                raise unittest.SkipTest(msg)
            raise AssertionError(msg)
        hk.require_tool("postfix")
        nsd.require_nsd()
        cls.pf_addr = loopback_address()
        cls.pf_port = free_port_on(cls.pf_addr)
        cls.dns = cls.hk = cls.pf = None
        try:
            zone = ("$TTL 60\n@ SOA ns root 1 60 60 60 60\n@ NS ns\nns A 127.0.0.1\n"
                    "@ MX 10 mx\nmx A %s\n" % cls.pf_addr)
            cls.dns = nsd.Nsd({PF_DOMAIN: zone})
            cls.dns.start()
            cls.hk = hk.Instance(services=("smtp", "submission"), dns_server=cls.dns.server,
                                 relay_port=cls.pf_port, smtp_tls_security_level="may",
                                 minimal_backoff_time="5s", maximal_backoff_time="10s",
                                 queue_run_delay="5s")
            cls.hk.add_domain(hk.DOMAIN)
            cls.hk.add_user(*ALICE)
            cls.hk.start()
            cls.pf = Postfix(cls.pf_addr, cls.pf_port, PF_DOMAIN,
                             {hk.DOMAIN: "smtp:[127.0.0.1]:%d" % cls.hk.ports["smtp"]},
                             extra={"smtp_tls_security_level": "encrypt"})
            cls.pf.start()
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def _cleanup(cls):
        try:
            if cls.pf is not None:
                cls.pf.cleanup()
        finally:
            try:
                if cls.hk is not None:
                    try:
                        cls.hk.stop()
                    finally:
                        cls.hk.cleanup()
            finally:
                if cls.dns is not None:
                    cls.dns.stop()

    @classmethod
    def tearDownClass(cls):
        cls._cleanup()

    def diag(self):
        return ("\n--- hikyaku ---\n%s\n--- postfix ---\n%s"
                % (self.hk.logs()[-4000:], self.pf.log()[-4000:]))

    def test_1_postfix_receives_over_starttls(self):
        tag = "hk-to-postfix-%d" % time.time_ns()
        rcpt = "user@" + PF_DOMAIN
        msg = hk.make_message(subject=tag, sender=ALICE[0], to=rcpt)
        with smtplib.SMTP(hk.HOST, self.hk.ports["submission"], timeout=30) as s:
            s.ehlo("client.example.net")
            hk.smtplib_starttls(s)
            s.ehlo("client.example.net")
            s.login(*ALICE)
            refused = s.sendmail(ALICE[0], [rcpt], msg)
            self.assertEqual(refused, {})
        data = self.pf.find_message(tag, timeout=60)
        self.assertIsNotNone(data, "message not in Postfix's Maildir" + self.diag())
        # Postfix's smtpd logs the inbound TLS session ...
        self.assertIsNotNone(
            self.pf.wait_log(r"TLS connection established from \S*\[127\.0\.0\.1\]"),
            "Postfix did not log a TLS connection from hikyaku" + self.diag())
        # ... and writes it into its Received header (the first one).
        rcv = unfolded_headers(data, "Received")
        self.assertTrue(rcv, data[:500])
        self.assertIn("by %s" % PF_HOST, rcv[0])
        self.assertRegex(rcv[0], r"\(using TLSv1\.[23] with cipher \S+", rcv[0])
        self.assertIn("ESMTPS", rcv[0])
        # hikyaku logged the outbound TLS session and the sent status.
        self.assertIsNotNone(
            self.hk.wait_log(r"proto=smtp-out host=mx\.b\.test event=tls-out level=may "
                             r"version=TLSv1\.[23] "),
            "no event=tls-out in hikyaku's log" + self.diag())
        self.assertIsNotNone(
            self.hk.wait_log(r"to=<user@b\.test> relay=mx\.b\.test\[%s\]:%d status=sent "
                             % (re.escape(self.pf_addr), self.pf_port)),
            "no status=sent in hikyaku's log" + self.diag())

    def test_2_postfix_delivers_over_starttls(self):
        tag = "postfix-to-hk-%d" % time.time_ns()
        msg = hk.make_message(subject=tag, sender="sender@b.test", to=ALICE[0])
        with smtplib.SMTP(self.pf_addr, self.pf_port, timeout=30) as s:
            s.ehlo("client.example.net")
            refused = s.sendmail("sender@b.test", [ALICE[0]], msg)
            self.assertEqual(refused, {})
        data = self.hk.find_message(ALICE[0], tag, timeout=60)
        self.assertIsNotNone(data, "message not in alice's mailbox" + self.diag())
        rcv = hk.received_header(data)
        self.assertIn("ESMTPS", rcv)
        self.assertRegex(rcv, r"TLSv1\.[23]")
        self.assertIn(PF_HOST, rcv)     # the EHLO name Postfix gave
        self.assertIsNotNone(
            self.pf.wait_log(r"TLS connection established to \S*\[127\.0\.0\.1\]:%d"
                             % self.hk.ports["smtp"]),
            "Postfix did not log a TLS connection to hikyaku" + self.diag())
        self.assertIsNotNone(
            self.pf.wait_log(r"to=<alice@example\.test>, relay=\S*\[127\.0\.0\.1\]:%d,.* status=sent"
                             % self.hk.ports["smtp"]),
            "no status=sent in Postfix's log" + self.diag())
        # hikyaku's server side saw TLS from Postfix's client too
        self.assertIsNotNone(self.hk.wait_log(r"proto=smtp event=tls version=TLSv1\.[23] "),
                             self.diag())


if __name__ == "__main__":
    unittest.main(verbosity=2)
