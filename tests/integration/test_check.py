"""Integration: `hikyaku check DOMAIN...` (issue 6, first half) against real
servers on loopback, with DNS from a real nsd.

  127.0.0.31  good.test     hikyaku, certificate for mx.good.test from a test CA
                            (plus SPF, DMARC, MTA-STS and TLS-RPT records)
  127.0.0.32  plain.test    Python SMTP server that never offers STARTTLS
  127.0.0.33  badname.test  hikyaku, test-CA certificate for mx.ca.test (not
                            its MX name mx.badname.test)
  127.0.0.34  silent.test   accepts TCP, never says a word
              nullmx.test   "@ MX 0 ." (RFC 7505)
              nomx.test     no MX, no address

Checked: the table lines, the verdict sentence, the JSON and the exit code
(0 all good, 1 warnings, 2 failures); a silent server ends as a timeout;
arguments that are not domains are a usage error. No durations asserted:
the command itself bounds every step (--timeout), the test only caps the
subprocess so a hang fails instead of blocking CI.
"""

import json
import os
import socket
import unittest

import hk
import nsd
from test_outbound import FakeSmtp, Node, Pki, shared_port, zone

GOOD, PLAIN, BADNAME, SILENT = "127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"

ZONES = {
    "good.test": zone("@ MX 10 mx\n",
                      "mx A %s\n"
                      "@ TXT \"v=spf1 mx -all\"\n"
                      "_dmarc TXT \"v=DMARC1; p=reject; rua=mailto:d@good.test\"\n"
                      "_mta-sts TXT \"v=STSv1; id=20261124\"\n"
                      "_smtp._tls TXT \"v=TLSRPTv1; rua=mailto:t@good.test\"\n" % GOOD),
    "plain.test": zone("@ MX 10 mx\n", "mx A %s\n" % PLAIN),
    "badname.test": zone("@ MX 10 mx\n", "mx A %s\n"
                         "@ TXT \"v=spf1 -all\"\n@ TXT \"v=spf1 mx -all\"\n" % BADNAME),
    "silent.test": zone("@ MX 10 mx\n", "mx A %s\n" % SILENT),
    "nullmx.test": zone("@ MX 0 .\n"),
    "nomx.test": zone(""),
}

DNS = PKI = None
PORT = None


def setUpModule():
    global DNS, PKI, PORT
    PORT = shared_port((GOOD, PLAIN, BADNAME, SILENT))
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


class Check(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.nodes = []
        good_cert = PKI.make_server("mx-good", "mx.good.test", PKI.ca, PKI.ca_key, days=90)
        for addr, (cert, key), host in ((GOOD, good_cert, "mx.good.test"),
                                        (BADNAME, (PKI.cert, PKI.key), "mx.badname.test")):
            n = Node(addr, ("smtp",), smtp_port=PORT, myhostname=host,
                     smtpd_tls_cert_file=cert, smtpd_tls_key_file=key)
            cls.nodes.append(n)
            n.start()
        cls.plain = FakeSmtp(PLAIN, PORT)
        cls.silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.silent.bind((SILENT, PORT))
        cls.silent.listen(8)  # the kernel completes handshakes; nobody speaks
        # A config for the CLI: our nsd as resolver.
        cls.cli = hk.Instance(services=(), dns_server=DNS.server)

    @classmethod
    def tearDownClass(cls):
        cls.silent.close()
        cls.plain.close()
        for n in cls.nodes:
            try:
                n.stop()
            finally:
                n.cleanup()
        cls.cli.cleanup()

    def check(self, *args):
        return self.cli.hk("check", "--port", str(PORT), "--ca", PKI.ca, "--timeout", "3",
                           *args, check=False, timeout=120)

    def check_json(self, *domains):
        p = self.check("--json", *domains)
        return p.returncode, json.loads(p.stdout), p

    def lines(self, out, status, check):
        return [l for l in out.splitlines() if l.split()[:2] == [status, check]]

    def test_good_domain_all_ok(self):
        p = self.check("good.test")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verdict: mail to good.test is always encrypted and authenticated",
                      p.stdout)
        tls = self.lines(p.stdout, "OK", "tls")
        self.assertRegex(tls[0], r"mx\.good\.test\[127\.0\.0\.31\]: TLSv1\.[23] ")
        cert = self.lines(p.stdout, "OK", "cert")[0]
        self.assertIn("chain verified; name matches mx.good.test", cert)
        self.assertRegex(cert, r"\b(89|90) days left")
        self.assertTrue(self.lines(p.stdout, "OK", "versions"), p.stdout)
        for rec in ("spf", "dmarc", "mta-sts", "tls-rpt"):
            self.assertTrue(self.lines(p.stdout, "OK", rec), "%s missing:\n%s" % (rec, p.stdout))
        self.assertNotIn("WARN", p.stdout)
        self.assertNotIn("FAIL", p.stdout)

    def test_plain_fails_in_clear(self):
        rc, j, p = self.check_json("plain.test")
        self.assertEqual(rc, 2, p.stdout)
        d = j["domains"][0]
        self.assertEqual(d["domain"], "plain.test")
        self.assertEqual(d["status"], "FAIL")
        self.assertEqual(d["verdict"], "mail to plain.test can travel in clear")
        self.assertEqual(d["mx"][0]["address"], PLAIN)
        self.assertFalse(d["mx"][0]["starttls"])
        self.assertTrue(any(c["status"] == "FAIL" and c["check"] == "starttls"
                            for c in d["checks"]), d)
        # No SPF/DMARC published: warnings, not failures.
        self.assertTrue(any(c["status"] == "WARN" and c["check"] == "spf" for c in d["checks"]))

    def test_wrong_name_warns(self):
        rc, j, p = self.check_json("badname.test")
        d = j["domains"][0]
        self.assertEqual(d["verdict"],
                         "mail to badname.test is encrypted when possible, not authenticated")
        m = d["mx"][0]
        self.assertTrue(m["tls"])
        # The test CA's certificates for other hosts last two days: WARN.
        self.assertLess(m["days_left"], 14)
        self.assertTrue(m["chain_verified"])
        self.assertFalse(m["name_matches"])
        # Two SPF records are a permanent error (RFC 7208 4.5): a FAIL line.
        self.assertTrue(any(c["status"] == "FAIL" and c["check"] == "spf" for c in d["checks"]))
        self.assertEqual(rc, 2, p.stdout)

    def test_silent_server_times_out(self):
        rc, j, p = self.check_json("silent.test")
        self.assertEqual(rc, 2, p.stdout)
        d = j["domains"][0]
        self.assertTrue(d["mx"][0]["timeout"], d)
        self.assertIn("timeout", d["mx"][0]["error"])
        self.assertEqual(d["verdict"],
                         "mail to silent.test cannot be delivered now: no MX host answered")

    def test_null_and_missing_mx(self):
        p = self.check("nullmx.test", "nomx.test", "good.test")
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertIn("verdict: nullmx.test accepts no mail (null MX)", p.stdout)
        self.assertRegex(p.stdout, r"verdict: mail to nomx\.test cannot be delivered: ")
        self.assertIn("verdict: mail to good.test is always encrypted and authenticated",
                      p.stdout)

    def test_bad_arguments(self):
        for args in (["not a domain"], ["192.0.2.1"], ["--port", "0", "x.test"], [],
                     ["--bogus", "x.test"], ["nodots"]):
            p = self.cli.hk("check", *args, check=False)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertTrue(p.stderr.strip(), args)


if __name__ == "__main__":
    unittest.main()
