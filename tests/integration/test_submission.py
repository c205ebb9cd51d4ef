"""Integration: submission (587, STARTTLS + AUTH) and submissions (465,
implicit TLS + AUTH) listeners of the real daemon, with smtplib and raw
sockets; AUTH failure delay and lockout in an instance of their own."""

import smtplib
import time
import unittest

import hk

ALICE = ("alice@example.test", "alice-secret-1")
BOB = ("bob@example.test", "bob-secret-2")


def login_forced(s, mech, user, password):
    """smtp.login() restricted to one mechanism (PLAIN or LOGIN)."""
    adv = s.esmtp_features.get("auth", "")
    if mech not in adv.upper().split():
        raise AssertionError("%s not advertised in AUTH %r" % (mech, adv))
    s.esmtp_features["auth"] = mech
    return s.login(user, password)


class Submission(hk.InstanceTestCase):

    def smtp587(self):
        s = smtplib.SMTP(hk.HOST, self.port("submission"), timeout=30)
        s.ehlo("client.example.net")
        return s

    def smtp587_tls(self):
        s = self.smtp587()
        hk.smtplib_starttls(s)
        s.ehlo("client.example.net")
        return s

    def smtp465(self):
        s = smtplib.SMTP_SSL(hk.HOST, self.port("submissions"), timeout=30, context=hk.client_context())
        s.ehlo("client.example.net")
        return s

    # ---- 587 before TLS

    def test_587_ehlo_before_tls(self):
        with self.raw("submission") as c:
            c.greeting()
            kw = [k.split()[0] for k in c.ehlo()]
        self.assertIn("STARTTLS", kw)
        self.assertNotIn("AUTH", kw)

    def test_587_auth_before_tls_538(self):
        with self.smtp587() as s:
            code, text = s.docmd("AUTH", "PLAIN " + hk.plain_token(*ALICE))
            self.assertEqual(code, 538, text)
            self.assertTrue(text.startswith(b"5.7.11"), text)
            code, text = s.docmd("AUTH", "LOGIN")
            self.assertEqual(code, 538, text)

    def test_587_mail_before_tls_530(self):
        with self.smtp587() as s:
            code, text = s.mail(ALICE[0])
            self.assertEqual(code, 530, text)
            self.assertTrue(text.startswith(b"5.7.0"), text)

    # ---- 587 after TLS

    def test_587_ehlo_after_tls(self):
        with self.smtp587_tls() as s:
            self.assertFalse(s.has_extn("starttls"))
            self.assertTrue(s.has_extn("auth"))
            mechs = s.esmtp_features["auth"].upper().split()
            self.assertIn("PLAIN", mechs)
            self.assertIn("LOGIN", mechs)

    def test_587_mail_before_auth_530(self):
        with self.smtp587_tls() as s:
            code, text = s.mail(ALICE[0])
            self.assertEqual(code, 530, text)
            self.assertTrue(text.startswith(b"5.7.0"), text)

    def test_587_starttls_pipelined_auth_discarded(self):
        """AUTH pipelined behind STARTTLS must not authenticate the session."""
        with self.raw("submission") as c:
            c.greeting()
            c.ehlo()
            c.send("STARTTLS\r\nAUTH PLAIN %s\r\n" % hk.plain_token(*ALICE))
            self.assertReply(c.reply(), 220)
            c.upgrade()
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), 530, "5.7.0")

    def _send_and_check(self, s, user, tag, rcpts=("bob@example.test",)):
        version = s.sock.version()
        cipher, _, bits = s.sock.cipher()
        msg = hk.make_message(subject=tag, sender=user, to=rcpts[0])
        self.assertEqual(s.sendmail(user, list(rcpts), msg), {})
        for r in rcpts:
            data = self.hk.find_message(r, tag)
            self.assertIsNotNone(data, "not delivered to %s" % r)
            self.assertEqual(hk.split_received(data)[1], msg)
            rcv = hk.received_header(data)
            self.assertIn("by mx.example.test", rcv)
            self.assertIn("with ESMTPSA", rcv)
            self.assertIn(version, rcv)
            self.assertIn(cipher, rcv)
            self.assertIn("%d/%d bits" % (bits, bits), rcv)

    def test_587_login_plain_and_deliver(self):
        with self.smtp587_tls() as s:
            code, _ = login_forced(s, "PLAIN", *ALICE)
            self.assertEqual(code, 235)
            self._send_and_check(s, ALICE[0], "sub-plain-%d" % time.time_ns(),
                                 rcpts=("bob@example.test", "alice@example.test"))

    def test_587_login_login_and_deliver(self):
        with self.smtp587_tls() as s:
            code, _ = login_forced(s, "LOGIN", *BOB)
            self.assertEqual(code, 235)
            self._send_and_check(s, BOB[0], "sub-login-%d" % time.time_ns(), rcpts=("alice@example.test",))

    def test_587_auth_plain_without_initial_response(self):
        with self.smtp587_tls() as s:
            s.user, s.password = ALICE
            code, _ = s.auth("PLAIN", s.auth_plain, initial_response_ok=False)
            self.assertEqual(code, 235)

    def test_587_auth_login_with_initial_response(self):
        with self.raw("submission") as c:
            c.greeting()
            c.ehlo()
            c.starttls()
            c.ehlo()
            self.assertReply(c.cmd("AUTH LOGIN " + hk.b64(ALICE[0])), 334)
            self.assertReply(c.cmd(hk.b64(ALICE[1])), 235, "2.7.0")
            self.assertReply(c.cmd("AUTH PLAIN " + hk.plain_token(*ALICE)), 503, "5.5.1")

    def test_587_bad_password_535(self):
        with self.smtp587_tls() as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                login_forced(s, "PLAIN", ALICE[0], "wrong-password")
            self.assertEqual(cm.exception.smtp_code, 535)
            self.assertTrue(cm.exception.smtp_error.startswith(b"5.7.8"), cm.exception.smtp_error)
            # unknown user: same answer, no user enumeration
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                login_forced(s, "PLAIN", "nobody@example.test", "x")
            self.assertEqual(cm.exception.smtp_code, 535)
            # and the session is still usable
            code, _ = login_forced(s, "PLAIN", *ALICE)
            self.assertEqual(code, 235)

    def test_587_bad_base64_501(self):
        with self.raw("submission") as c:
            c.greeting()
            c.ehlo()
            c.starttls()
            c.ehlo()
            self.assertReply(c.cmd("AUTH PLAIN !!!not*base64!!!"), 501, "5.5.2")
            self.assertReply(c.cmd("AUTH PLAIN"), 334)
            self.assertReply(c.cmd("%%%%"), 501, "5.5.2")
            self.assertReply(c.cmd("AUTH LOGIN"), 334)
            self.assertReply(c.cmd("@@@@"), 501, "5.5.2")
            # cancelled exchange
            self.assertReply(c.cmd("AUTH LOGIN"), 334)
            code, _ = c.cmd("*")
            self.assertEqual(code, 501)
            # PLAIN token without the NULs
            code, _ = c.cmd("AUTH PLAIN " + hk.b64("alice@example.test alice-secret-1"))
            self.assertIn(code, (501, 535))
            self.assertReply(c.cmd("AUTH PLAIN " + hk.plain_token(*ALICE)), 235)

    def test_587_unknown_mechanism(self):
        with self.raw("submission") as c:
            c.greeting()
            c.ehlo()
            c.starttls()
            c.ehlo()
            code, _ = c.cmd("AUTH NOSUCHMECH")
            self.assertIn(code, (504, 501))
            self.assertReply(c.cmd("NOOP"), 250)

    def test_587_sender_must_be_own_553(self):
        with self.smtp587_tls() as s:
            login_forced(s, "PLAIN", *ALICE)
            code, text = s.mail("bob@example.test")
            self.assertEqual(code, 553, text)
            self.assertTrue(text.startswith(b"5.7.1"), text)
            code, text = s.mail("someone@other.test")
            self.assertEqual(code, 553, text)
            code, text = s.mail(ALICE[0])
            self.assertEqual(code, 250, text)
            s.rset()

    def test_587_other_domain_queued(self):
        # An authenticated user's mail for another domain goes to the
        # outbound queue (the instance's DNS never answers, so it stays).
        with self.smtp587_tls() as s:
            login_forced(s, "PLAIN", *ALICE)
            self.assertEqual(s.mail(ALICE[0])[0], 250)
            code, text = s.rcpt("friend@other.test")
            self.assertEqual(code, 250, text)
            code, text = s.rcpt("no-such-user@example.test")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            self.assertEqual(s.rcpt("bob@example.test")[0], 250)
            s.rset()

    def test_587_reauth_refused(self):
        with self.smtp587_tls() as s:
            login_forced(s, "PLAIN", *ALICE)
            code, text = s.docmd("AUTH", "PLAIN " + hk.plain_token(*BOB))
            self.assertEqual(code, 503, text)

    def test_587_pipelined_transaction_after_auth(self):
        tag = "sub-pipe-%d" % time.time_ns()
        msg = hk.make_message(subject=tag, sender=ALICE[0], to="bob@example.test")
        with self.raw("submission") as c:
            c.greeting()
            c.ehlo()
            c.starttls()
            c.ehlo()
            self.assertReply(c.cmd("AUTH PLAIN " + hk.plain_token(*ALICE)), 235)
            c.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
                   b"RCPT TO:<friend@other.test>\r\nDATA\r\n")
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 354)
            c.send(hk.dot_stuff(msg) + b".\r\nQUIT\r\n")
            self.assertReply(c.reply(), 250)
            self.assertReply(c.reply(), 221)
        # the local copy is delivered by the queue, the remote one waits in it
        self.assertIsNotNone(self.hk.find_message("bob@example.test", tag, timeout=15))
        self.assertIn("friend@other.test", self.hk.hk("queue", "list").stdout)

    # ---- 465

    def test_465_ehlo(self):
        with self.smtp465() as s:
            self.assertFalse(s.has_extn("starttls"))
            mechs = s.esmtp_features.get("auth", "").upper().split()
            self.assertIn("PLAIN", mechs)
            self.assertIn("LOGIN", mechs)

    def test_465_mail_before_auth_530(self):
        with self.smtp465() as s:
            code, text = s.mail(ALICE[0])
            self.assertEqual(code, 530, text)
            self.assertTrue(text.startswith(b"5.7.0"), text)

    def test_465_plain_and_deliver(self):
        with self.smtp465() as s:
            self.assertEqual(login_forced(s, "PLAIN", *ALICE)[0], 235)
            self._send_and_check(s, ALICE[0], "smtps-plain-%d" % time.time_ns())

    def test_465_login_and_deliver(self):
        with self.smtp465() as s:
            self.assertEqual(login_forced(s, "LOGIN", *BOB)[0], 235)
            self._send_and_check(s, BOB[0], "smtps-login-%d" % time.time_ns(), rcpts=("alice@example.test",))

    def test_465_other_domain_and_sender_553(self):
        with self.smtp465() as s:
            login_forced(s, "PLAIN", *ALICE)
            code, text = s.mail("bob@example.test")
            self.assertEqual(code, 553, text)
            self.assertEqual(s.mail(ALICE[0])[0], 250)
            code, text = s.rcpt("friend@other.test")
            self.assertEqual(code, 250, text)
            s.rset()

    def test_465_verified_name(self):
        ctx = hk.client_context(cafile=self.hk.cert)
        with hk.Raw(self.port("submissions"), tls_context=ctx) as c:
            c.greeting()
            self.assertEqual(c.sock.getpeercert(binary_form=True), hk.pem_to_der(self.hk.cert))

    def test_465_starttls_not_offered(self):
        with hk.Raw(self.port("submissions"), tls_context=hk.client_context()) as c:
            c.greeting()
            c.ehlo()
            self.assertReply(c.cmd("STARTTLS"), 503, "5.5.1")


class AuthLockout(hk.InstanceTestCase):
    """AUTH failures per client IP: delay, then 454 until the lockout ends."""

    LIMIT = 3
    LOCKOUT = 4
    settings = {
        "smtpd_auth_failure_limit": str(LIMIT),
        "smtpd_auth_lockout_time": "%ds" % LOCKOUT,
        "smtpd_error_sleep_time": "1s",
    }

    def session(self):
        s = smtplib.SMTP(hk.HOST, self.port("submission"), timeout=30)
        s.ehlo("client.example.net")
        hk.smtplib_starttls(s)
        s.ehlo("client.example.net")
        return s

    def bad_login(self, s):
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            login_forced(s, "PLAIN", ALICE[0], "wrong-password")
        self.assertEqual(cm.exception.smtp_code, 535, cm.exception.smtp_error)
        self.assertTrue(cm.exception.smtp_error.startswith(b"5.7.8"))

    def test_lockout(self):
        # failures are counted per client IP, across sessions
        with self.session() as s:
            # (no timing assertion on smtpd_error_sleep_time: tests never time)
            for _ in range(self.LIMIT - 1):
                self.bad_login(s)
        with self.session() as s:
            self.bad_login(s)
            # limit reached: even the right password is refused
            code, text = s.docmd("AUTH", "PLAIN " + hk.plain_token(*ALICE))
            self.assertEqual(code, 454, text)
            self.assertTrue(text.startswith(b"4.7.0"), text)
        with self.session() as s:
            code, text = s.docmd("AUTH", "PLAIN " + hk.plain_token(*ALICE))
            self.assertEqual(code, 454, text)
        # on 465 too (same client IP)
        with smtplib.SMTP_SSL(hk.HOST, self.port("submissions"), timeout=30,
                              context=hk.client_context()) as s:
            s.ehlo("client.example.net")
            code, text = s.docmd("AUTH", "PLAIN " + hk.plain_token(*ALICE))
            self.assertEqual(code, 454, text)
        # port 25 mail is not affected by the AUTH lockout
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=30) as s:
            s.ehlo("client.example.net")
            self.assertEqual(s.sendmail("x@remote.test", ["alice@example.test"],
                                        hk.make_message(subject="during lockout")), {})
        # after the lockout time the right password works again
        time.sleep(self.LOCKOUT + 1)
        ok = None
        for _ in range(5):
            with self.session() as s:
                code, text = s.docmd("AUTH", "PLAIN " + hk.plain_token(*ALICE))
                if code == 235:
                    ok = True
                    break
            time.sleep(1)
        self.assertTrue(ok, "still locked out %ds after smtpd_auth_lockout_time=%ds: %d %r"
                        % (self.LOCKOUT + 6, self.LOCKOUT, code, text))


if __name__ == "__main__":
    unittest.main(verbosity=2)
