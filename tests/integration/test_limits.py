"""Integration: configured limits of the real daemon (idle timeout,
connections per client IP, bad commands, recipients, message size), each
with a small value so that the test is quick."""

import socket
import time
import unittest

import hk


class Limits(hk.InstanceTestCase):

    TIMEOUT = 2
    CONNS = 5
    ERRORS = 5
    RCPTS = 3
    SIZE = 10000
    settings = {
        "smtpd_timeout": "%ds" % TIMEOUT,
        "smtpd_client_connection_count_limit": str(CONNS),
        "smtpd_hard_error_limit": str(ERRORS),
        "smtpd_recipient_limit": str(RCPTS),
        "message_size_limit": str(SIZE),
    }
    users = dict(hk.InstanceTestCase.users, **{"carol@example.test": "carol-secret-3",
                                                "dave@example.test": "dave-secret-4"})

    def setUp(self):
        # Every test here starts with no session of earlier tests still
        # counted against the connection limit.
        self.hk.wait_sessions_closed()

    def expect_close_with(self, c, code, enhanced, bound):
        """Wait (bounded) for `code enhanced ...` and then EOF."""
        c.sock.settimeout(bound)
        c.timeout = bound
        self.assertReply(c.reply(), code, enhanced)
        c.read_eof(timeout=bound)

    def test_idle_timeout_after_greeting(self):
        with self.raw() as c:
            c.greeting()
            t0 = time.monotonic()
            self.expect_close_with(c, 421, "4.4.2", self.TIMEOUT + 15)
            self.assertGreaterEqual(time.monotonic() - t0, self.TIMEOUT * 0.5)

    def test_idle_timeout_inside_tls(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.starttls()
            c.ehlo()
            self.expect_close_with(c, 421, "4.4.2", self.TIMEOUT + 15)

    def test_idle_timeout_in_data(self):
        tag = "idle-data-%d" % time.time_ns()
        n0 = self.hk.count("alice@example.test")
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 250)
            self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), 250)
            self.assertReply(c.cmd("DATA"), 354)
            c.send("Subject: %s\r\n\r\nhalf a mess" % tag)
            self.expect_close_with(c, 421, "4.4.2", self.TIMEOUT + 15)
        time.sleep(0.2)
        self.assertEqual(self.hk.count("alice@example.test"), n0, "timed-out message stored")

    def test_activity_keeps_session(self):
        with self.raw() as c:
            c.greeting()
            for _ in range(int(self.TIMEOUT * 2 / 0.5)):
                time.sleep(0.5)
                self.assertReply(c.cmd("NOOP"), 250)
            self.assertReply(c.cmd("QUIT"), 221)

    def test_connection_count_limit(self):
        conns = []
        try:
            for _ in range(self.CONNS):
                c = self.raw()
                c.greeting()
                conns.append(c)
            extra = self.raw()
            self.assertReply(extra.reply(), 421, "4.7.0")
            extra.read_eof(timeout=10)
            extra.close()
            # the ones inside the limit still work
            for c in conns:
                self.assertReply(c.cmd("NOOP"), 250)
            conns.pop().close()
            # a slot is free again (the server learns of the close
            # asynchronously: bounded retries)
            got = None
            for _ in range(50):
                c = self.raw()
                code, text = c.reply()
                if code == 220:
                    got = c
                    break
                c.close()
                time.sleep(0.1)
            self.assertIsNotNone(got, "no slot after closing one connection")
            conns.append(got)
        finally:
            for c in conns:
                c.close()

    def test_hard_error_limit(self):
        with self.raw() as c:
            c.greeting()
            replies = []
            for i in range(self.ERRORS + 2):
                try:
                    code, text = c.cmd("NONSENSE %d" % i)
                except ConnectionError:
                    break
                replies.append(code)
                if code == 421:
                    self.assertTrue(text[0].startswith("4.7.0"), text)
                    break
            self.assertIn(421, replies, replies)
            n = replies.index(421) + 1
            self.assertTrue(self.ERRORS - 1 <= n <= self.ERRORS + 1,
                            "421 after %d bad commands, limit %d" % (n, self.ERRORS))
            c.read_eof(timeout=10)

    def test_recipient_limit(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 250)
            for u in ("alice", "bob", "carol"):
                self.assertReply(c.cmd("RCPT TO:<%s@example.test>" % u), 250)
            code, text = c.cmd("RCPT TO:<dave@example.test>")
            self.assertIn(code, (452, 552), text)
            self.assertTrue(text[0][:5] in ("4.5.3", "5.5.3"), text)
            self.assertReply(c.cmd("RSET"), 250)

    def test_size_advertised_and_enforced(self):
        with self.raw() as c:
            c.greeting()
            kw = c.ehlo()
            self.assertIn("SIZE %d" % self.SIZE, kw)
            self.assertReply(c.cmd("MAIL FROM:<s@remote.test> SIZE=%d" % (self.SIZE + 1)), 552, "5.3.4")
            msg = hk.make_message(body=(b"y" * 78 + b"\r\n") * (self.SIZE // 80 + 10))
            code, text = c.mail_transaction("s@remote.test", ["alice@example.test"], msg)
            self.assertEqual(code, 552, text)
            self.assertReply(c.cmd("NOOP"), 250)

    def test_many_sessions_in_sequence(self):
        """No slot leaks: far more sessions than the limit, one after the other."""
        ok = 0
        for i in range(self.CONNS * 6):
            s = socket.create_connection((hk.HOST, self.port("smtp")), timeout=10)
            f = s.makefile("rb")
            line = f.readline()
            if line.startswith(b"421"):
                # the previous close may not be processed yet
                f.close()
                s.close()
                time.sleep(0.2)
                continue
            self.assertTrue(line.startswith(b"220"), line)
            s.sendall(b"QUIT\r\n")
            self.assertTrue(f.readline().startswith(b"221"))
            f.close()
            s.close()
            ok += 1
        self.assertGreaterEqual(ok, self.CONNS * 3, "too many 421s for sequential sessions")
        time.sleep(0.5)
        with self.raw() as c:
            c.greeting()


if __name__ == "__main__":
    unittest.main(verbosity=2)
