"""Integration: the outbound SMTP client (src/smtp/smtp_client.c) against
the real hikyaku server over STARTTLS.

The client is driven through the unit-test executable's --deliver mode
(build-*/tests/unit/test_smtp_client, found next to $HIKYAKU), so this
needs no outbound queue yet. Checks: the delivery succeeds at level
`verify` with the server's certificate trusted, the client reports
Verified with the TLS version and cipher, and the stored message's
Received header shows the TLS clause the server writes.
"""

import os
import subprocess
import tempfile
import unittest

import hk


def client_path():
    build = os.path.dirname(os.path.dirname(os.path.dirname(hk.hikyaku_path())))
    path = os.path.join(build, "tests", "unit", "test_smtp_client")
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not built" % path)
    return path


def deliver(port, cafile, level, msg_path, rcpts, mx=hk.MYHOSTNAME, nexthop=hk.DOMAIN):
    p = subprocess.run([client_path(), "--deliver", str(port), cafile, level, mx, nexthop,
                        msg_path, "sender@client.test"] + list(rcpts),
                       capture_output=True, text=True, timeout=120)
    hk.check_sanitizer_text(p.stderr, "smtp client")
    if p.returncode != 0:
        raise AssertionError("client exited %d: %s" % (p.returncode, p.stderr))
    return dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)


class SmtpClient(hk.InstanceTestCase):
    services = ("smtp",)

    def message(self, tag):
        fd, path = tempfile.mkstemp(dir=self.hk.tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(hk.make_message(subject=tag, sender="sender@client.test",
                                    to="alice@example.test",
                                    body=b".leading dot\r\n..two\r\nend\r\n"))
        return path

    def test_starttls_verified_received_shows_tls(self):
        out = deliver(self.hk.ports["smtp"], self.hk.cert, "verify", self.message("out-1"),
                      ["alice@example.test", "nobody@example.test"])
        self.assertEqual(out["status"], "0", out)
        self.assertEqual(out["tls"], "1", out)
        self.assertEqual(out["peer"], "Verified", out)
        self.assertTrue(out["version"].startswith("TLSv1."), out)
        self.assertTrue(out["rcpt0"].startswith("250 "), out)
        self.assertTrue(out["rcpt1"].startswith("5"), out)   # unknown user: bounce
        data = self.hk.find_message("alice@example.test", "out-1")
        self.assertIsNotNone(data)
        rcv = hk.received_header(data)
        self.assertIn(out["version"], rcv)
        self.assertIn("ESMTPS", rcv)
        self.assertIn(b"\r\n.leading dot\r\n..two\r\nend\r\n", data)  # unstuffed again

    def test_secure_wrong_nexthop_fails(self):
        out = deliver(self.hk.ports["smtp"], self.hk.cert, "secure", self.message("out-2"),
                      ["alice@example.test"], nexthop="elsewhere.test")
        self.assertEqual(out["status"], "1", out)
        self.assertIn("not verified", out["reason"])
        self.assertIsNone(self.hk.find_message("alice@example.test", "out-2", timeout=0.5))


if __name__ == "__main__":
    unittest.main(verbosity=2)
