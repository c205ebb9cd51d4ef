"""Integration: the smtp (MX, port 25) listener of the real daemon.

Real clients: Python smtplib and raw sockets (for byte-exact PIPELINING,
BDAT, smuggling and STARTTLS-injection checks). One instance for the module.
"""

import re
import smtplib
import socket
import time
import unittest

import hk

LIMIT = 1048576


class SmtpListener(hk.InstanceTestCase):

    # ---- greeting and EHLO

    def test_greeting(self):
        with self.raw() as c:
            text = c.greeting()
            self.assertTrue(text[0].startswith("mx.example.test ESMTP hikyaku"), text)

    def test_ehlo_keywords_plain(self):
        with self.raw() as c:
            c.greeting()
            kw = c.ehlo()
        names = [k.split()[0] for k in kw]
        for want in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8",
                     "CHUNKING", "STARTTLS", "SIZE"):
            self.assertIn(want, names, kw)
        self.assertIn("SIZE %d" % LIMIT, kw)
        self.assertNotIn("AUTH", names, "AUTH must never be offered on port 25: %r" % kw)

    def test_ehlo_keywords_after_starttls(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.starttls()
            kw = c.ehlo()
        names = [k.split()[0] for k in kw]
        self.assertNotIn("STARTTLS", names, kw)
        self.assertNotIn("AUTH", names, kw)
        self.assertIn("PIPELINING", names, kw)
        self.assertIn("CHUNKING", names, kw)

    def test_auth_not_available(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            code, text = c.cmd("AUTH PLAIN " + hk.plain_token("alice@example.test", "alice-secret-1"))
            self.assertIn(code, (502, 503), text)
            c.starttls()
            c.ehlo()
            code, text = c.cmd("AUTH PLAIN " + hk.plain_token("alice@example.test", "alice-secret-1"))
            self.assertIn(code, (502, 503), text)
            # and the session goes on
            self.assertReply(c.cmd("NOOP"), 250)

    # ---- delivery

    def test_deliver_plain_byte_exact(self):
        tag = "plain-%d" % time.time_ns()
        body = (b"line one\r\n.leading dot line\r\n..two dots\r\n"
                b"8bit: \xc3\xa4\xc3\xb6\xc3\xbc \xe6\x97\xa5\xe6\x9c\xac\r\n"
                + b"L" * 990 + b"\r\n\r\nlast\r\n")
        msg = hk.make_message(subject=tag, body=body)
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=30) as s:
            s.ehlo("client.example.net")
            refused = s.sendmail("sender@remote.test", ["alice@example.test"], msg,
                                 mail_options=["BODY=8BITMIME"])
            self.assertEqual(refused, {})
        data = self.hk.find_message("alice@example.test", tag)
        self.assertIsNotNone(data, "message not delivered")
        trace, rest = hk.split_received(data)
        self.assertEqual(rest, msg, "stored message differs from what was sent")
        self.assertNotRegex(data.replace(b"\r\n", b""), rb"[\r\n]", "bare CR/LF in stored file")
        rcv = hk.received_header(data)
        self.assertIn("by mx.example.test", rcv)
        self.assertRegex(rcv, r"with ESMTP(?![SA])", rcv)
        self.assertNotIn("TLS", rcv)

    def test_deliver_starttls_received_line(self):
        tag = "tls-%d" % time.time_ns()
        msg = hk.make_message(subject=tag)
        ctx = hk.client_context(cafile=self.hk.cert)  # verifies cert and name
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=30) as s:
            s.ehlo("client.example.net")
            hk.smtplib_starttls(s, ctx)
            version = s.sock.version()
            cipher, _, bits = s.sock.cipher()
            s.ehlo("client.example.net")
            self.assertEqual(s.sendmail("sender@remote.test", ["alice@example.test", "bob@example.test"],
                                        msg), {})
        for rcpt in ("alice@example.test", "bob@example.test"):
            data = self.hk.find_message(rcpt, tag)
            self.assertIsNotNone(data, "not delivered to " + rcpt)
            _, rest = hk.split_received(data)
            self.assertEqual(rest, msg)
            rcv = hk.received_header(data)
            self.assertIn("by mx.example.test", rcv)
            self.assertRegex(rcv, r"with ESMTPS(?!A)", rcv)
            self.assertIn(version, rcv, "TLS version %s not in %r" % (version, rcv))
            self.assertIn(cipher, rcv, "cipher %s not in %r" % (cipher, rcv))
            self.assertIn("%d/%d bits" % (bits, bits), rcv)

    def test_unknown_user_550_511(self):
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=30) as s:
            s.ehlo("client.example.net")
            self.assertEqual(s.mail("sender@remote.test")[0], 250)
            code, text = s.rcpt("no-such-user@example.test")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            # a valid recipient in the same transaction still works
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            s.rset()

    def test_relay_denied_550_571(self):
        before = self.hk.count("alice@example.test")
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=30) as s:
            s.ehlo("client.example.net")
            self.assertEqual(s.mail("sender@remote.test")[0], 250)
            for rcpt in ("victim@other.test", "alice@example.test.other.test",
                         "alice%other.test@example.test", "@example.test:victim@other.test"):
                code, text = s.rcpt(rcpt)
                self.assertGreaterEqual(code, 500, "%s accepted: %d %r" % (rcpt, code, text))
            code, text = s.rcpt("victim@other.test")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.7.1"), text)
            s.rset()
            s.starttls(context=hk.client_context())
            s.ehlo("client.example.net")
            self.assertEqual(s.mail("sender@remote.test")[0], 250)
            code, text = s.rcpt("victim@other.test")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.7.1"), text)
            s.rset()
        self.assertEqual(self.hk.count("alice@example.test"), before)

    # ---- SIZE

    def test_size_declared_over_limit(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test> SIZE=%d" % (LIMIT + 1)), 552, "5.3.4")
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test> SIZE=%d" % 1000), 250)
            self.assertReply(c.cmd("RSET"), 250)

    def test_size_streamed_over_limit(self):
        tag = "big-%d" % time.time_ns()
        before = self.hk.count("alice@example.test")
        big = hk.make_message(subject=tag, body=(b"z" * 998 + b"\r\n") * (LIMIT // 1000 + 50))
        self.assertGreater(len(big), LIMIT)
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            code, text = c.mail_transaction("sender@remote.test", ["alice@example.test"], big)
            self.assertEqual(code, 552, text)
            self.assertTrue(" ".join(text).startswith("5.3.4"), text)
            # session still usable: a small message now goes through
            small = hk.make_message(subject=tag + "-small")
            code, text = c.mail_transaction("sender@remote.test", ["alice@example.test"], small)
            self.assertEqual(code, 250, text)
            self.assertReply(c.cmd("QUIT"), 221)
        self.assertIsNotNone(self.hk.find_message("alice@example.test", tag + "-small"))
        self.assertEqual(self.hk.count("alice@example.test"), before + 1, "oversized message was stored")

    # ---- SMTP smuggling

    def _smuggle(self, bad_eod):
        """DATA containing <bad_eod> followed by a smuggled transaction,
        then the real CRLF.CRLF. Expect exactly one reply, 550 5.6.0."""
        tag = "smuggle-%d" % time.time_ns()
        alice0 = self.hk.count("alice@example.test")
        bob0 = self.hk.count("bob@example.test")
        payload = (b"Subject: " + tag.encode() + b"\r\n\r\nhello" + bad_eod +
                   b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                   b"Subject: smuggled " + tag.encode() + b"\r\n\r\nsmuggled\r\n.\r\n")
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 250)
            self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), 250)
            self.assertReply(c.cmd("DATA"), 354)
            c.send(payload)
            self.assertReply(c.reply(), 550, "5.6.0")
            # The next reply must be the NOOP's: anything else (250 for the
            # smuggled MAIL, 354 ...) means smuggled commands were executed.
            c.send(b"NOOP\r\n")
            code, text = c.reply()
            self.assertEqual(code, 250, "smuggled command answered? %d %r" % (code, text))
            self.assertReply(c.cmd("QUIT"), 221)
        time.sleep(0.2)
        self.assertEqual(self.hk.count("alice@example.test"), alice0, "message with bare CR/LF stored")
        self.assertEqual(self.hk.count("bob@example.test"), bob0, "smuggled message stored")

    def test_smuggling_bare_lf(self):
        self._smuggle(b"\n.\n")

    def test_smuggling_bare_cr(self):
        self._smuggle(b"\r.\r")

    def test_smuggling_lf_then_crlf(self):
        self._smuggle(b"\n.\r\n")

    def test_smuggling_crlf_then_lf(self):
        self._smuggle(b"\r\n.\n")

    def test_bare_lf_in_body_rejected(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            msg = b"Subject: bare lf\r\n\r\nline with bare\nLF inside\r\n"
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 250)
            self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), 250)
            self.assertReply(c.cmd("DATA"), 354)
            c.send(msg + b".\r\n")
            self.assertReply(c.reply(), 550, "5.6.0")
            self.assertReply(c.cmd("NOOP"), 250)

    # ---- STARTTLS

    def test_starttls_pipelined_command_discarded(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.send(b"STARTTLS\r\nNOOP\r\n")  # one send = one segment on loopback
            self.assertReply(c.reply(), 220, "2.0.0")
            c.upgrade()
            # First reply inside TLS must answer our EHLO, not the NOOP.
            c.send(b"EHLO client.example.net\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
            self.assertGreater(len(lines), 1, "got a single-line 250 (NOOP reply?) %r" % lines)
            self.assertIn("PIPELINING", [l.split()[0].upper() for l in lines[1:]])
            self.assertReply(c.cmd("NOOP"), 250)
        m = self.hk.wait_log(r"event=starttls-pipelined\b.*\bdiscarded=(\d+)")
        self.assertIsNotNone(m, "no event=starttls-pipelined discarded=N log line")
        self.assertGreater(int(m.group(1)), 0)

    def test_starttls_pipelined_mail_transaction_discarded(self):
        """A whole injected transaction after STARTTLS must not be run."""
        bob0 = self.hk.count("bob@example.test")
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.send(b"STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
                   b"DATA\r\nSubject: injected\r\n\r\nx\r\n.\r\n")
            self.assertReply(c.reply(), 220)
            c.upgrade()
            self.assertReply(c.cmd("NOOP"), 250)
            # not in a transaction: RCPT without MAIL is a sequence error
            code, _ = c.cmd("RCPT TO:<bob@example.test>")
            self.assertEqual(code, 503)
        time.sleep(0.2)
        self.assertEqual(self.hk.count("bob@example.test"), bob0)

    def test_session_reset_after_starttls(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            self.assertReply(c.cmd("STARTTLS"), 220, "2.0.0")
            c.upgrade()
            # HELO/EHLO are forgotten
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 503, "5.5.1")
            c.ehlo()
            self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), 503)
            # STARTTLS not twice
            self.assertReply(c.cmd("STARTTLS"), 503, "5.5.1")
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 250)
            self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), 250)
            self.assertReply(c.cmd("RSET"), 250)

    def test_starttls_text(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            code, text = c.cmd("STARTTLS")
            self.assertEqual(code, 220)
            self.assertEqual(text[0], "2.0.0 Ready to start TLS")
            c.upgrade()
            c.ehlo()

    def test_tls_garbage_after_starttls(self):
        for junk in (b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.0\r\n\r\n", bytes(range(256)) * 8):
            with self.raw() as c:
                c.greeting()
                c.ehlo()
                self.assertReply(c.cmd("STARTTLS"), 220)
                c.send(junk)
                try:
                    c.read_eof(timeout=15)
                except (ConnectionResetError, BrokenPipeError):
                    pass
        self.assertAlive()
        with self.raw() as c:
            c.greeting()

    # ---- PIPELINING and BDAT

    def test_pipelining_ordered_replies(self):
        tag = "pipe-%d" % time.time_ns()
        msg = hk.make_message(subject=tag)
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
                   b"RCPT TO:<no-such-user@example.test>\r\nRCPT TO:<victim@other.test>\r\n"
                   b"RCPT TO:<bob@example.test>\r\nDATA\r\n")
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 550, "5.1.1")
            self.assertReply(c.reply(), 550, "5.7.1")
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 354)
            c.send(hk.dot_stuff(msg) + b".\r\nRSET\r\nNOOP\r\nMAIL FROM:<x@remote.test>\r\nQUIT\r\n")
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 221)
        for rcpt in ("alice@example.test", "bob@example.test"):
            data = self.hk.find_message(rcpt, tag)
            self.assertIsNotNone(data, rcpt)
            self.assertEqual(hk.split_received(data)[1], msg)

    def test_pipelining_no_valid_recipients(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<victim@other.test>\r\nDATA\r\nNOOP\r\n")
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 550, "5.7.1")
            code, text = c.reply()
            self.assertIn(code, (503, 554), "DATA without recipients: %d %r" % (code, text))
            self.assertReply(c.reply(), 250)

    def _bdat_deliver(self, chunks, pipelined=False):
        tag = "bdat-%d" % time.time_ns()
        head = b"Subject: " + tag.encode() + b"\r\nFrom: <sender@remote.test>\r\n\r\n"
        chunks = [head + chunks[0]] + list(chunks[1:])
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 250)
            self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), 250)
            if pipelined:
                out = b""
                for i, ch in enumerate(chunks):
                    last = b" LAST" if i == len(chunks) - 1 else b""
                    out += b"BDAT %d%s\r\n" % (len(ch), last) + ch
                c.send(out)
                for _ in chunks:
                    self.assertReply(c.reply(), 250)
            else:
                for i, ch in enumerate(chunks):
                    last = b" LAST" if i == len(chunks) - 1 else b""
                    c.send(b"BDAT %d%s\r\n" % (len(ch), last) + ch)
                    self.assertReply(c.reply(), 250)
            self.assertReply(c.cmd("QUIT"), 221)
        data = self.hk.find_message("alice@example.test", tag)
        self.assertIsNotNone(data, "BDAT message not delivered")
        self.assertEqual(hk.split_received(data)[1], b"".join(chunks), "BDAT message not byte-exact")
        return data

    def test_bdat(self):
        self._bdat_deliver([b"first chunk\r\n.not unstuffed in BDAT\r\n",
                            b"second \xe2\x9c\x93 chunk\r\n.\r\n",
                            b"last line\r\n"])

    def test_bdat_pipelined(self):
        self._bdat_deliver([b"a\r\n" * 100, b"b\r\n" * 3000, b"c\r\n"], pipelined=True)

    def test_bdat_crlf_split_across_chunks(self):
        self._bdat_deliver([b"line ends in the next chunk\r", b"\nnext line\r\n"])

    def test_bdat_over_size_limit(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 250)
            self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), 250)
            chunk = b"Subject: big bdat\r\n\r\n" + (b"q" * 1022 + b"\r\n") * 600
            c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
            self.assertReply(c.reply(), 250)
            c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
            self.assertReply(c.reply(), 552, "5.3.4")
            self.assertReply(c.cmd("NOOP"), 250)

    # ---- limits that fit this instance

    def test_command_line_too_long(self):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.send(b"NOOP " + b"a" * 5000 + b"\r\n")
            self.assertReply(c.reply(), 500, "5.5.2")
            self.assertReply(c.cmd("NOOP"), 250)
            c.send(b"MAIL FROM:<" + b"b" * 10000 + b"@remote.test>\r\n")
            self.assertReply(c.reply(), 500, "5.5.2")
            self.assertReply(c.cmd("NOOP"), 250)

    def test_hard_error_limit(self):
        limit = 20
        with self.raw() as c:
            c.greeting()
            got_421 = None
            for i in range(limit + 2):
                try:
                    code, text = c.cmd("BOGUS%d" % i)
                except ConnectionError:
                    break
                if code == 421:
                    self.assertTrue(text[0].startswith("4.7.0"), text)
                    got_421 = i + 1
                    break
                self.assertEqual(code // 100, 5, text)
            self.assertIsNotNone(got_421, "no 421 after %d bad commands" % (limit + 2))
            self.assertGreaterEqual(got_421, limit - 1)
            self.assertLessEqual(got_421, limit + 1)
            c.read_eof(timeout=10)

    def test_bad_commands(self):
        with self.raw() as c:
            c.greeting()
            for line, codes in ((b"RCPT TO:<alice@example.test>", (503,)),
                                (b"DATA", (503,)),
                                # 5 chunk octets follow and must be skipped
                                (b"BDAT 5\r\nxyz", (503,)),
                                (b"MAIL FROM:<sender@remote.test>", (503,)),  # before EHLO
                                (b"EHLO", (501,)),
                                (b"HELO", (501,)),
                                (b"EHLO client.example.net", (250,)),
                                (b"MAIL FROM:<sender@remote.test> FOO=BAR", (501, 555)),
                                (b"MAIL FROM:<sender@remote.test>", (250,)),
                                (b"MAIL FROM:<sender@remote.test>", (503,)),
                                (b"RCPT TO:<>", (501, 550, 553)),
                                (b"RCPT TO:<alice@example.test> NOTIFY=WHATEVER", (501, 555)),
                                (b"\x00\x01\x02", (500, 501, 502)),
                                (b"VRFY alice@example.test", (252, 502)),
                                (b"RSET", (250,)),
                                (b"NOOP", (250,))):
                code, text = c.cmd(line.decode("latin-1"))
                self.assertIn(code, codes, "%r -> %d %r" % (line, code, text))
            # A BDAT size that does not parse: the chunk cannot be skipped,
            # so after the 501 the server may close (resync impossible).
            self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), 250)
            code, text = c.cmd("BDAT x")
            self.assertEqual(code, 501, text)
            try:
                code, text = c.cmd("NOOP")
                self.assertEqual(code, 250, text)
            except (ConnectionError, OSError):
                pass
        self.assertAlive()

    def test_dropped_connections(self):
        for data in (b"", b"EHLO x\r\n", b"EHLO x\r\nMAIL FROM:<a@remote.test>\r\n",
                     b"EHLO x\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
                     b"Subject: cut\r\n\r\npartial bo"):
            s = socket.create_connection((hk.HOST, self.port("smtp")), timeout=10)
            s.recv(1000)
            s.sendall(data)
            time.sleep(0.05)
            s.close()
        time.sleep(0.3)
        self.assertAlive()
        for _, d in self.hk.messages("alice@example.test"):
            self.assertNotIn(b"partial bo", d, "partial message stored")

    # ---- log lines (run last: z_ prefix)

    def test_z_log_lines(self):
        # make sure one TLS session was logged with what the client saw
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=30) as s:
            s.ehlo("client.example.net")
            s.starttls(context=hk.client_context())
            version = s.sock.version()
            cipher = s.sock.cipher()[0]
            s.ehlo("client.example.net")
        self.hk.wait_log(r"\bevent=tls\b.*\bversion=%s\b" % re.escape(version), timeout=10)
        text = self.hk.log_text()
        lines = [l for l in text.splitlines() if l.strip()]
        self.assertTrue(lines, "empty log")
        with_sid = [l for l in lines if "sid=" in l]
        self.assertTrue(with_sid, "no line with sid=")
        for l in with_sid:
            self.assertRegex(l, r"(^|\s)sid=[0-9a-f]{16}(\s|$)", l)
            if "event=" in l:
                self.assertLess(l.index("sid="), l.index("event="), "sid= not before event=: " + l)
        self.assertRegex(text, r"(?m)\bsid=[0-9a-f]{16}\b.*\bevent=connect\b")
        tls = [l for l in with_sid if re.search(r"\bevent=tls\b", l)]
        self.assertTrue(tls, "no event=tls line")
        self.assertTrue(any(re.search(r"\bversion=%s\b" % re.escape(version), l) and
                            re.search(r"\bcipher=%s\b" % re.escape(cipher), l) for l in tls),
                        "no event=tls line with version=%s cipher=%s:\n%s" % (version, cipher, "\n".join(tls[-5:])))


if __name__ == "__main__":
    unittest.main(verbosity=2)
