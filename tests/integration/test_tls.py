"""Integration: TLS of the real daemon: SNI with two certificates, protocol
versions and ciphers, and certificate reload on SIGHUP without dropping
open sessions."""

import os
import shutil
import signal
import smtplib
import ssl
import time
import unittest
import warnings

import hk

OTHER = "mx.other.test"


def replace_file(src, dst):
    """Atomically put a copy of src at dst (what certbot & co. do)."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)


class Tls(hk.InstanceTestCase):

    @classmethod
    def prepare(cls, inst):
        inst.cert_b, inst.key_b = hk.make_cert(inst.tls_dir, name="other", cn=OTHER, sans=(OTHER,))
        inst.settings["smtpd_tls_cert_file"] = "%s %s" % (inst.cert, inst.cert_b)
        inst.settings["smtpd_tls_key_file"] = "%s %s" % (inst.key, inst.key_b)

    def peer_der(self, svc, sni, ctx=None):
        ctx = ctx or hk.client_context()
        if svc == "submissions":
            with hk.Raw(self.port(svc), tls_context=ctx, server_hostname=sni) as c:
                c.greeting()
                return c.sock.getpeercert(binary_form=True)
        with self.raw(svc) as c:
            c.greeting()
            c.ehlo()
            c.starttls(ctx, server_hostname=sni)
            c.ehlo()
            return c.sock.getpeercert(binary_form=True)

    # ---- SNI

    def test_sni(self):
        a = hk.pem_to_der(self.hk.cert)
        b = hk.pem_to_der(self.hk.cert_b)
        for svc in ("smtp", "submission", "submissions"):
            self.assertEqual(self.peer_der(svc, OTHER), b, svc + ": SNI " + OTHER)
            self.assertEqual(self.peer_der(svc, hk.MYHOSTNAME), a, svc + ": SNI " + hk.MYHOSTNAME)
            self.assertEqual(self.peer_der(svc, None), a, svc + ": no SNI -> first certificate")
            self.assertEqual(self.peer_der(svc, "unknown.example.net"), a, svc + ": unknown SNI")

    def test_sni_verified(self):
        # full chain and name verification with each certificate as the CA
        self.peer_der("smtp", OTHER, hk.client_context(cafile=self.hk.cert_b))
        self.peer_der("submissions", OTHER, hk.client_context(cafile=self.hk.cert_b))

    # ---- versions and ciphers

    def test_tls13(self):
        ctx = hk.client_context(minimum=ssl.TLSVersion.TLSv1_3)
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.starttls(ctx)
            self.assertEqual(c.sock.version(), "TLSv1.3")
            c.ehlo()

    def test_tls12_modern_cipher_and_received(self):
        ctx = hk.client_context(maximum=ssl.TLSVersion.TLSv1_2)
        tag = "tls12-%d" % time.time_ns()
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            c.starttls(ctx)
            self.assertEqual(c.sock.version(), "TLSv1.2")
            cipher = c.sock.cipher()[0]
            self.assertRegex(cipher, r"^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$")
            c.ehlo()
            code, text = c.mail_transaction("s@remote.test", ["alice@example.test"],
                                            hk.make_message(subject=tag))
            self.assertEqual(code, 250, text)
        data = self.hk.find_message("alice@example.test", tag)
        self.assertIsNotNone(data)
        rcv = hk.received_header(data)
        self.assertIn("TLSv1.2", rcv)
        self.assertIn(cipher, rcv)

    def _refused(self, ctx):
        with self.raw() as c:
            c.greeting()
            c.ehlo()
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                c.starttls(ctx)
                c.ehlo()
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            with hk.Raw(self.port("submissions"), tls_context=ctx) as c:
                c.greeting()
        self.assertAlive()

    def test_tls11_refused(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx = hk.client_context(minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # our client would allow it
        self._refused(ctx)

    def test_cbc_sha1_cipher_refused(self):
        ctx = hk.client_context(maximum=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0")
        self._refused(ctx)

    def test_plaintext_on_465(self):
        with hk.Raw(self.port("submissions")) as c:
            c.send(b"EHLO client.example.net\r\n")
            try:
                data = c.read_eof(timeout=15)
            except (ConnectionResetError, TimeoutError):
                data = b""
            self.assertFalse(data.startswith(b"250"), data)
        self.assertAlive()

    # ---- SIGHUP reload (runs last: z_ prefix; it changes the certificate)

    def test_z_sighup_reload(self):
        old_der = hk.pem_to_der(self.hk.cert)
        b_der = hk.pem_to_der(self.hk.cert_b)
        new_cert, new_key = hk.make_cert(self.hk.tmp, name="renewed", cn="renewed." + hk.MYHOSTNAME)
        new_der = hk.pem_to_der(new_cert)
        self.assertNotEqual(old_der, new_der)
        tag = "reload-%d" % time.time_ns()

        # session 1: port 25, TLS, in the middle of DATA
        s1 = self.raw()
        s1.greeting()
        s1.ehlo()
        s1.starttls()
        s1.ehlo()
        self.assertEqual(s1.sock.getpeercert(binary_form=True), old_der)
        self.assertReply(s1.cmd("MAIL FROM:<s@remote.test>"), 250)
        self.assertReply(s1.cmd("RCPT TO:<alice@example.test>"), 250)
        self.assertReply(s1.cmd("DATA"), 354)
        s1.send("Subject: %s-1\r\n\r\nfirst half\r\n" % tag)
        # session 2: 465, authenticated, idle
        s2 = smtplib.SMTP_SSL(hk.HOST, self.port("submissions"), timeout=30, context=hk.client_context())
        s2.ehlo("client.example.net")
        s2.login("bob@example.test", "bob-secret-2")

        pid = self.hk.pid
        replace_file(new_key, self.hk.key)
        replace_file(new_cert, self.hk.cert)
        self.hk.signal(signal.SIGHUP)

        seen = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen = self.peer_der("smtp", hk.MYHOSTNAME)
            if seen == new_der:
                break
            time.sleep(0.1)
        self.assertEqual(seen, new_der, "new certificate not served after SIGHUP")
        self.assertEqual(self.peer_der("submissions", hk.MYHOSTNAME), new_der)
        self.assertEqual(self.peer_der("submission", hk.MYHOSTNAME), new_der)
        self.assertEqual(self.peer_der("smtp", OTHER), b_der, "SNI certificate lost in reload")
        self.assertEqual(self.hk.pid, pid)
        self.assertAlive()

        # old sessions complete their deliveries
        s1.send("second half\r\n.\r\n")
        self.assertReply(s1.reply(), 250)
        self.assertReply(s1.cmd("QUIT"), 221)
        s1.close()
        msg2 = hk.make_message(subject=tag + "-2", sender="bob@example.test")
        self.assertEqual(s2.sendmail("bob@example.test", ["alice@example.test"], msg2), {})
        s2.quit()
        self.assertIsNotNone(self.hk.find_message("alice@example.test", tag + "-1"))
        self.assertIsNotNone(self.hk.find_message("alice@example.test", tag + "-2"))

        # a broken certificate file: reload fails, the daemon keeps the
        # certificate it has and keeps serving
        with open(new_cert, "rb") as f:
            good_cert = f.read()
        with open(self.hk.cert, "wb") as f:
            f.write(b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        self.hk.signal(signal.SIGHUP)
        time.sleep(1.5)
        self.assertAlive()
        self.assertEqual(self.peer_der("smtp", hk.MYHOSTNAME), new_der)
        # key that does not match the certificate
        with open(self.hk.cert, "wb") as f:
            f.write(good_cert)
        shutil.copyfile(self.hk.key_b, self.hk.key)
        self.hk.signal(signal.SIGHUP)
        time.sleep(1.5)
        self.assertAlive()
        self.assertEqual(self.peer_der("smtp", hk.MYHOSTNAME), new_der)
        self.assertEqual(self.peer_der("submissions", hk.MYHOSTNAME), new_der)
        # put things right, reload once more
        replace_file(new_key, self.hk.key)
        self.hk.signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertEqual(self.peer_der("smtp", hk.MYHOSTNAME), new_der)


if __name__ == "__main__":
    unittest.main(verbosity=2)
