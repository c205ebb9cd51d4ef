"""Integration: the POP3 server (pop3_listen with STLS, pop3s_listen with
implicit TLS) driven by real clients: Python poplib, curl and fetchmail.
Mail comes in over SMTP (smtplib to the same instance) and must come back
byte-identical to the Maildir file. A missing tool fails the test unless
HIKYAKU_ALLOW_SKIP=1."""

import imaplib
import os
import poplib
import re
import smtplib
import socket
import subprocess
import time
import unittest

import hk

PASSWORD = "pop-secret-%d"
USERS = {"p%d@example.test" % i: PASSWORD % i for i in range(1, 14)}
USERS.update({"alice@example.test": "alice-secret-1", "bob@example.test": "bob-secret-2"})


def strip_fetchmail_trace(msg):
    """The message fetchmail gave its MDA, without the Received field it
    inserted (it goes before the first Received, not on top)."""
    return re.sub(rb"Received: from [^\n]*\n(?:[ \t][^\n]*\n)*",
                  lambda m: b"" if b"(fetchmail-" in m.group(0) else m.group(0), msg)


def run(cmd, timeout=120, env=None):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


class Pop3(hk.InstanceTestCase):

    services = ("smtp", "pop3", "pop3s", "imaps")
    users = USERS
    settings = {"message_size_limit": "8m", "smtpd_hard_error_limit": "8"}

    # ---- helpers

    def user(self, n):
        addr = "p%d@example.test" % n
        return addr, USERS[addr]

    def send(self, rcpt, tag, body=None, extra=b""):
        """One message over SMTP; returns the stored file's bytes."""
        msg = hk.make_message(subject=tag, to=rcpt, body=body, extra=extra)
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=60) as s:
            s.sendmail("sender@remote.test", [rcpt], msg)
        data = self.hk.find_message(rcpt, tag, timeout=15)
        self.assertIsNotNone(data, "%s not delivered" % tag)
        return data

    def pop_stls(self, addr=None, password=None):
        p = poplib.POP3(hk.HOST, self.port("pop3"), timeout=60)
        p.stls(context=hk.client_context())
        if addr:
            p.user(addr)
            p.pass_(password)
        return p

    def pop_ssl(self, addr=None, password=None, ctx=None):
        p = poplib.POP3_SSL(hk.HOST, self.port("pop3s"), timeout=60,
                            context=ctx or hk.client_context())
        if addr:
            p.user(addr)
            p.pass_(password)
        return p

    def number_of(self, p, tag):
        """Message number whose header holds tag (TOP n 0), or None."""
        for entry in p.list()[1]:
            n = int(entry.split()[0])
            _, lines, _ = p.top(n, 0)
            if any(tag.encode() in l for l in lines):
                return n
        return None

    def retr_bytes(self, p, n):
        resp, lines, _ = p.retr(n)
        return resp, b"".join(l + b"\r\n" for l in lines)

    def uidls(self, p):
        return dict(e.decode().split() for e in p.uidl()[1])

    def files(self, addr):
        return [d for _, d in self.hk.messages(addr)]

    # ---- authorization and TLS

    def test_user_pass_refused_before_stls(self):
        addr, pw = self.user(1)
        p = poplib.POP3(hk.HOST, self.port("pop3"), timeout=60)
        try:
            caps = p.capa()
            self.assertIn("STLS", caps)
            self.assertNotIn("USER", caps)
            self.assertNotIn("SASL", caps)
            with self.assertRaises(poplib.error_proto) as cm:
                p.user(addr)
            self.assertIn(b"STLS", cm.exception.args[0])
            with self.assertRaises(poplib.error_proto):
                p.pass_(pw)
            with self.assertRaises(poplib.error_proto):
                p._shortcmd("AUTH PLAIN " + hk.plain_token(addr, pw))
            with self.assertRaises(poplib.error_proto):
                p.stat()
            p.stls(context=hk.client_context())
            caps = p.capa()
            self.assertNotIn("STLS", caps)
            self.assertIn("USER", caps)
            self.assertEqual(caps.get("SASL"), ["PLAIN"])
            p.user(addr)
            self.assertTrue(p.pass_(pw).startswith(b"+OK"))
            with self.assertRaises(poplib.error_proto):
                p.stls(context=hk.client_context())
        finally:
            p.quit()

    def test_stls_discards_pipelined_plaintext(self):
        addr, pw = self.user(2)
        sock = socket.create_connection((hk.HOST, self.port("pop3")), timeout=30)
        f = sock.makefile("rb")
        try:
            self.assertTrue(f.readline().startswith(b"+OK"))
            # USER injected behind STLS in the same segment must be dropped.
            sock.sendall(b"STLS\r\nUSER " + addr.encode() + b"\r\n")
            self.assertTrue(f.readline().startswith(b"+OK"))
            tls = hk.client_context().wrap_socket(sock, server_hostname=hk.MYHOSTNAME)
            tf = tls.makefile("rb")
            tls.sendall(b"PASS " + pw.encode() + b"\r\n")
            self.assertTrue(tf.readline().startswith(b"-ERR"), "pipelined USER survived STLS")
            tls.sendall(b"USER " + addr.encode() + b"\r\nPASS " + pw.encode() + b"\r\nQUIT\r\n")
            self.assertTrue(tf.readline().startswith(b"+OK"))
            self.assertTrue(tf.readline().startswith(b"+OK"))
            self.assertTrue(tf.readline().startswith(b"+OK"))
            tls.close()
        finally:
            sock.close()
        self.assertTrue(self.hk.wait_log(r"event=starttls-pipelined discarded=\d+"))

    def test_bad_password_and_auth_plain(self):
        addr, pw = self.user(3)
        p = self.pop_ssl()
        try:
            p.user(addr)
            with self.assertRaises(poplib.error_proto) as cm:
                p.pass_("wrong")
            self.assertIn(b"[AUTH]", cm.exception.args[0])
            # PASS without USER, unknown mechanism, bad base64.
            for cmd in ("PASS " + pw, "AUTH CRAM-MD5", "AUTH PLAIN !!!!"):
                with self.assertRaises(poplib.error_proto):
                    p._shortcmd(cmd)
            # Continuation form, cancelled, then completed.
            self.assertTrue(p._shortcmd("AUTH PLAIN").startswith(b"+"))
            with self.assertRaises(poplib.error_proto):
                p._shortcmd("*")
            self.assertTrue(p._shortcmd("AUTH PLAIN").startswith(b"+"))
            self.assertTrue(p._shortcmd(hk.plain_token(addr, pw)).startswith(b"+OK"))
            p.stat()
        finally:
            p.quit()
        p = self.pop_ssl()
        try:
            # The pre-RFC 5034 mechanism listing some clients probe with.
            self.assertEqual(p._longcmd("AUTH")[1], [b"PLAIN"])
        finally:
            p.quit()
        p = self.pop_ssl()
        try:
            resp = p._shortcmd("AUTH PLAIN " + hk.plain_token(addr, pw))
            self.assertTrue(resp.startswith(b"+OK"))
            with self.assertRaises(poplib.error_proto):
                p.user(addr)  # not in TRANSACTION
        finally:
            p.quit()

    # ---- reading

    def test_retr_byte_identical_stls_and_pop3s(self):
        addr, pw = self.user(4)
        tag = "retr-%d" % time.time_ns()
        body = (b"Hello.\r\n.a line with a leading dot\r\n..two dots\r\n.\r\n"
                b"\xe3\x81\x82 8-bit line\r\n" + b"x" * 990 + b"\r\n")
        stored = self.send(addr, tag, body=body)
        for p in (self.pop_stls(addr, pw), self.pop_ssl(addr, pw)):
            try:
                n = self.number_of(p, tag)
                self.assertIsNotNone(n)
                resp, got = self.retr_bytes(p, n)
                self.assertEqual(got, stored, "RETR is not the stored file")
                self.assertEqual(int(resp.split()[1]), len(stored))
                self.assertEqual(int(p.list(n).split()[2]), len(stored))
            finally:
                p.quit()

    def test_retr_large_message_streams(self):
        addr, pw = self.user(5)
        tag = "big-%d" % time.time_ns()
        line = b"." + b"0123456789abcdef" * 4 + b"\r\n"
        stored = self.send(addr, tag, body=line * 50000)  # ~3.3 MB, over conn's 1 MiB queue
        self.assertGreater(len(stored), 3 * 1024 * 1024)
        p = self.pop_ssl(addr, pw)
        try:
            n = self.number_of(p, tag)
            # Pipelined behind the RETR: answered after the whole body.
            p._putcmd("RETR %d" % n)
            p._putcmd("NOOP")
            resp, lines, _ = p._getlongresp()
            self.assertEqual(b"".join(l + b"\r\n" for l in lines), stored)
            self.assertTrue(p._getresp().startswith(b"+OK"))
            self.assertEqual(p.stat(), (1, len(stored)))
        finally:
            p.quit()

    def test_top(self):
        addr, pw = self.user(6)
        tag = "top-%d" % time.time_ns()
        stored = self.send(addr, tag, body=b"b1\r\n.b2\r\nb3\r\nb4\r\n")
        header, _, rest = stored.partition(b"\r\n\r\n")
        p = self.pop_stls(addr, pw)
        try:
            n = self.number_of(p, tag)
            _, lines, _ = p.top(n, 0)
            self.assertEqual(b"".join(l + b"\r\n" for l in lines), header + b"\r\n\r\n")
            _, lines, _ = p.top(n, 2)
            self.assertEqual(b"".join(l + b"\r\n" for l in lines),
                             header + b"\r\n\r\nb1\r\n.b2\r\n")
            _, lines, _ = p.top(n, 100)
            self.assertEqual(b"".join(l + b"\r\n" for l in lines), stored)
        finally:
            p.quit()

    def test_uidl_stable_across_sessions(self):
        addr, pw = self.user(7)
        for i in range(3):
            self.send(addr, "uidl-%d-%d" % (i, time.time_ns()))
        p = self.pop_stls(addr, pw)
        try:
            first = self.uidls(p)
            self.assertEqual(first[b"1".decode()], p.uidl(1).split()[2].decode())
        finally:
            p.quit()
        self.assertEqual(len(first), 3)
        for u in first.values():
            self.assertRegex(u, r"^[0-9a-f]{16}$")
        # Same UIDVALIDITY, increasing UIDs in arrival order.
        self.assertEqual(len({u[:8] for u in first.values()}), 1)
        uids = [int(first[k][8:], 16) for k in sorted(first, key=int)]
        self.assertEqual(uids, sorted(set(uids)))
        self.send(addr, "uidl-new-%d" % time.time_ns())
        p = self.pop_ssl(addr, pw)
        try:
            second = self.uidls(p)
        finally:
            p.quit()
        self.assertEqual(len(second), 4)
        for k, v in first.items():
            self.assertEqual(second[k], v)
        # The same numbers IMAP shows: UIDVALIDITY and UID of each message.
        m = imaplib.IMAP4_SSL(hk.HOST, self.port("imaps"), ssl_context=hk.client_context(),
                              timeout=60)
        try:
            m.login(addr, pw)
            m.select("INBOX")
            validity = int(m.response("UIDVALIDITY")[1][0])
            typ, data = m.uid("SEARCH", "ALL")
            self.assertEqual(typ, "OK")
            imap_uids = [int(u) for u in data[0].split()]
        finally:
            m.logout()
        self.assertEqual({u[:8] for u in second.values()}, {"%08x" % validity})
        self.assertEqual(sorted(int(u[8:], 16) for u in second.values()), imap_uids)

    # ---- deleting

    def test_dele_rset_keeps(self):
        addr, pw = self.user(8)
        self.send(addr, "rset-%d" % time.time_ns())
        before = self.files(addr)
        p = self.pop_stls(addr, pw)
        try:
            p.dele(1)
            self.assertEqual(p.stat()[0], 0)
            with self.assertRaises(poplib.error_proto):
                p.retr(1)
            with self.assertRaises(poplib.error_proto):
                p.dele(1)
            p.rset()
            self.assertEqual(p.stat()[0], 1)
        finally:
            p.quit()
        self.assertEqual(sorted(self.files(addr)), sorted(before))

    def test_dele_quit_removes(self):
        addr, pw = self.user(9)
        gone, kept = "gone-%d" % time.time_ns(), "kept-%d" % time.time_ns()
        self.send(addr, gone)
        self.send(addr, kept)
        p = self.pop_ssl(addr, pw)
        try:
            n = self.number_of(p, gone)
            uid = p.uidl(n).split()[2]
            p.dele(n)
            resp = p.quit()
        except BaseException:
            p.close()
            raise
        self.assertTrue(resp.startswith(b"+OK"))
        # +OK comes only after the expunge is durable: the file is gone now.
        files = self.files(addr)
        self.assertFalse([d for d in files if gone.encode() in d], "deleted file still there")
        self.assertEqual(len([d for d in files if kept.encode() in d]), 1)
        p = self.pop_stls(addr, pw)
        try:
            self.assertIsNone(self.number_of(p, gone))
            self.assertIsNotNone(self.number_of(p, kept))
            self.assertNotIn(uid.decode(), self.uidls(p).values())
        finally:
            p.quit()

    def test_dele_then_dropped_connection_keeps(self):
        addr, pw = self.user(10)
        tag = "drop-%d" % time.time_ns()
        self.send(addr, tag)
        p = self.pop_stls(addr, pw)
        p.dele(self.number_of(p, tag))
        p.sock.close()  # no QUIT: RFC 1939 6, no UPDATE state
        p.file.close()
        self.assertTrue(self.hk.wait_sessions_closed())
        self.assertEqual(len([d for d in self.files(addr) if tag.encode() in d]), 1)
        p = self.pop_ssl(addr, pw)
        try:
            self.assertIsNotNone(self.number_of(p, tag))
        finally:
            p.quit()

    def test_expunged_by_imap_meanwhile(self):
        """The POP3 snapshot outlives an IMAP EXPUNGE of one of its
        messages: RETR of it fails cleanly or still reads it whole, and the
        session goes on (DELE + QUIT of another message works)."""
        addr, pw = self.user(13)
        t1, t2 = "exp1-%d" % time.time_ns(), "exp2-%d" % time.time_ns()
        s1 = self.send(addr, t1)
        self.send(addr, t2)
        p = self.pop_ssl(addr, pw)
        try:
            n1, n2 = self.number_of(p, t1), self.number_of(p, t2)
            m = imaplib.IMAP4_SSL(hk.HOST, self.port("imaps"),
                                  ssl_context=hk.client_context(), timeout=60)
            try:
                m.login(addr, pw)
                m.select("INBOX")
                typ, data = m.search(None, "SUBJECT", t1)
                m.store(data[0].decode(), "+FLAGS", "(\\Deleted)")
                self.assertEqual(m.expunge()[0], "OK")
            finally:
                m.logout()
            try:
                self.assertEqual(self.retr_bytes(p, n1)[1], s1)
            except poplib.error_proto:
                pass
            p.stat()
            p.dele(n2)
            self.assertTrue(p.quit().startswith(b"+OK"))
        except BaseException:
            p.close()
            raise
        files = self.files(addr)
        self.assertFalse([d for d in files if t1.encode() in d or t2.encode() in d])
        self.assertAlive()

    # ---- bad input

    def test_bad_input(self):
        addr, pw = self.user(11)
        self.send(addr, "bad-%d" % time.time_ns())
        p = self.pop_ssl()
        try:
            for cmd in ("STAT", "LIST", "RETR 1", "XYZZY", "USER", "TOP 1", "DELE x"):
                with self.assertRaises(poplib.error_proto, msg=cmd):
                    p._shortcmd(cmd)
        finally:
            p.close()
        p = self.pop_ssl(addr, pw)
        try:
            # Nonexistent or malformed message numbers, wrong-state commands.
            for cmd in ("RETR 0", "RETR 99", "LIST 4294967296", "TOP 1", "UIDL x", "USER a",
                        "PASS b", "STLS"):
                with self.assertRaises(poplib.error_proto, msg=cmd):
                    p._shortcmd(cmd)
            p.noop()
        finally:
            p.close()
        # Over-long lines (RFC 2449: 255 octets), NUL, bare LF, and finally
        # too many errors: -ERR and close. The daemon stays up.
        with hk.Raw(self.port("pop3s"), tls_context=hk.client_context()) as r:
            f = r.sock.makefile("rb")
            self.assertTrue(f.readline().startswith(b"+OK"))
            r.send(b"NOOP " + b"x" * 300 + b"\r\n")
            self.assertIn(b"too long", f.readline())
            r.send(b"CAPA\x00\r\n")
            self.assertTrue(f.readline().startswith(b"-ERR"))
            r.send(b"CAPA\n")
            self.assertTrue(f.readline().startswith(b"-ERR"))
            r.send(b"BOGUS\r\n" * 10)
            lines = []
            for _ in range(20):
                line = f.readline()
                if not line:
                    break
                lines.append(line)
            self.assertTrue(all(l.startswith(b"-ERR") for l in lines), lines)
            self.assertLess(len(lines), 10, "not closed after the hard error limit")
        self.assertAlive()

    # ---- real clients: curl, fetchmail

    def test_curl_pop3_stls_and_pop3s(self):
        curl = hk.require_tool("curl")
        addr, pw = self.user(12)
        tag = "curl-%d" % time.time_ns()
        stored = self.send(addr, tag, body=b"curl body\r\n.dotted\r\n")
        userpw = "%s:%s" % (addr, pw)
        port, ports = self.port("pop3"), self.port("pop3s")
        base = [curl, "-sS", "--max-time", "60", "-u", userpw]
        rc, out, err = run(base + ["--ssl-reqd", "-k", "pop3://%s:%d/" % (hk.HOST, port)])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.decode(), r"(?m)^1 %d\r?$" % len(stored))
        rc, out, err = run(base + ["--ssl-reqd", "-k", "pop3://%s:%d/1" % (hk.HOST, port)])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, stored)
        rc, out, err = run(base + ["--cacert", self.hk.cert, "--resolve",
                                   "%s:%d:%s" % (hk.MYHOSTNAME, ports, hk.HOST),
                                   "pop3s://%s:%d/1" % (hk.MYHOSTNAME, ports)])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, stored)
        # Without TLS curl must not get in.
        rc, out, err = run(base + ["pop3://%s:%d/1" % (hk.HOST, port)])
        self.assertNotEqual(rc, 0, out)

    def fetchmail(self, addr, pw, port, mode, keep):
        return hk.fetchmail(self.hk, addr, pw, port, "POP3", mode, keep)

    def test_fetchmail_pop3s_and_stls(self):
        for i, (port, mode) in enumerate(((self.port("pop3s"), "ssl"),
                                          (self.port("pop3"), 'sslproto "TLS1.2+"'))):
            addr, pw = "alice@example.test", "alice-secret-1"
            if i == 1:
                addr, pw = "bob@example.test", "bob-secret-2"
            tags = ["fm%d-%d-%d" % (i, k, time.time_ns()) for k in range(2)]
            stored = [self.send(addr, t, body=b"fetch me\r\n.dotted\r\n") for t in tags]
            rc, log, got = self.fetchmail(addr, pw, port, mode, keep=False)
            self.assertEqual(rc, 0, log)
            self.assertIn("TLS", log)
            if i == 1:
                self.assertIn("POP3> STLS", log)
            self.assertEqual(len(got), len(stored), log)
            # fetchmail hands the MDA LF line ends and inserts its own
            # Received field; without it the message must be intact.
            got = [strip_fetchmail_trace(g) for g in got]
            for data in stored:
                self.assertIn(data.replace(b"\r\n", b"\n"), got, log)
            # Fetched without keep: deleted on the server at QUIT.
            self.assertEqual(self.files(addr), [], log)



class Pop3Timeout(hk.InstanceTestCase):
    """RFC 1939 3: the autologout timer closes an idle session without a
    response and without deleting anything."""

    services = ("smtp", "pop3s")
    users = {"t@example.test": "timeout-secret"}
    settings = {"pop3d_timeout": "2s"}

    def test_idle_session_closed_silently(self):
        msg = hk.make_message(subject="idle", to="t@example.test")
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=60) as s:
            s.sendmail("sender@remote.test", ["t@example.test"], msg)
        self.assertIsNotNone(self.hk.find_message("t@example.test", "idle", timeout=15))
        with hk.Raw(self.port("pop3s"), tls_context=hk.client_context()) as r:
            f = r.sock.makefile("rb")
            self.assertTrue(f.readline().startswith(b"+OK"))
            r.send(b"USER t@example.test\r\nPASS timeout-secret\r\nDELE 1\r\n")
            for _ in range(3):
                self.assertTrue(f.readline().startswith(b"+OK"))
            self.assertEqual(f.read(), b"", "expected a silent close")
        self.assertTrue(self.hk.wait_log(r"event=timeout"))
        self.assertEqual(self.hk.count("t@example.test"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
