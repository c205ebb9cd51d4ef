"""Integration: SPF, DKIM and DMARC in the SMTP server, Authentication-
Results, and DKIM signing at queue entry (issue 5), with real parts.

A real nsd (tests/integration/nsd.py) serves the SPF, DKIM and DMARC
records; the sending hosts are distinct loopback addresses (smtplib with
source_address), the receiving hikyaku listens on 127.0.0.1:

  127.0.0.21  the host good.test, reject.test, quar.test and override.test
              authorize in SPF
  127.0.0.22  a spoofer (authorized only by nodmarc.test)

Inbound scenarios (port 25 of one hikyaku): a domain whose server answers
SERVFAIL ends as temperror for SPF, DKIM and DMARC and is delivered;
aligned mail (SPF pass from the
right IP, DKIM-signed by python3-dkim with a key published in the zone) is
delivered with an Authentication-Results header carrying spf=pass,
dkim=pass and dmarc=pass; a spoofed p=reject domain is refused with 550
5.7.1 at end of DATA; a spoofed p=quarantine domain lands in Junk; a
domain in dmarc_override_domains is delivered; A-R fields that claim our
authserv-id are removed, others kept.
Outbound: alice@example.test submits to a hikyaku whose `domain add` made
the DKIM keys; the records `domain dns` prints are published in nsd as
printed (and `domain dns --check` then finds them); the message is relayed
to a second hikyaku (127.0.0.2), whose A-R shows both signatures passing,
and Debian's python3-dkim (the library behind dkimverify) verifies the
RSA and the Ed25519 signature of the delivered file, with key lookups
answered by the same nsd (drill).

Every wait is a bounded poll; no durations are asserted. Only 127.0.0.0/8
is bound. Debian's /usr/bin/python3 with python3-dkim, and drill.
"""

import os
import random
import re
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import hk
import nsd
from hk import Node, wait_for

GOOD_IP = "127.0.0.21"
SPOOF_IP = "127.0.0.22"
RCV_ADDR = "127.0.0.2"
ALICE = ("alice@example.test", "alice-secret-1")
BOB = ("bob@rcv.test", "bob-secret-1")

DNS = None
KEYDIR = None
DKIM_SELECTOR = "s2026"


def soa():
    return "$TTL 60\n@ SOA ns root 1 60 60 60 60\n@ NS ns\nns A 127.0.0.1\n"


def txt(name, text):
    """A TXT line with the text split into 255-byte character-strings."""
    parts = [text[i:i + 255] for i in range(0, len(text), 255)]
    return "%s TXT %s\n" % (name, " ".join('"%s"' % p for p in parts))


def make_dkim_key():
    """An RSA-2048 key for good.test: (private PEM bytes, key record)."""
    key = os.path.join(KEYDIR, "good.pem")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True,
                   timeout=60)
    der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    import base64
    with open(key, "rb") as f:
        pem = f.read()
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def inbound_zones(key_record):
    spf21 = "v=spf1 ip4:%s -all" % GOOD_IP
    zones = {}
    for d, dmarc in (("good.test", "v=DMARC1; p=reject"),
                     ("reject.test", "v=DMARC1; p=reject; rua=mailto:d@reject.test"),
                     ("quar.test", "v=DMARC1; p=quarantine"),
                     ("override.test", "v=DMARC1; p=reject")):
        zones[d] = soa() + txt("@", spf21) + txt("_dmarc", dmarc)
    zones["good.test"] += txt("%s._domainkey" % DKIM_SELECTOR, key_record)
    zones["nodmarc.test"] = soa() + txt("@", "v=spf1 ip4:%s -all" % SPOOF_IP)
    # Two DMARC records: no policy at all (RFC 7489 6.6.3), hence none.
    zones["multi.test"] = (soa() + txt("@", spf21) + txt("_dmarc", "v=DMARC1; p=reject")
                           + txt("_dmarc", "v=DMARC1; p=none"))
    zones["rcv.test"] = soa() + "@ MX 10 mx\nmx A %s\n" % RCV_ADDR
    zones["example.test"] = soa()
    return zones


def setUpModule():
    global DNS, KEYDIR, GOOD_KEY, ZONES
    nsd.require_nsd()
    hk.require_tool("drill")
    KEYDIR = tempfile.mkdtemp(prefix="hk-msgauth-")
    GOOD_KEY, record = make_dkim_key()
    ZONES = inbound_zones(record)
    # broken.test: nsd has no data for it and answers SERVFAIL.
    DNS = nsd.Nsd(ZONES, failing=["broken.test"])
    DNS.start()


def tearDownModule():
    if DNS is not None:
        DNS.stop()


def drill_txt(name, timeout=5):
    """TXT text of `name` from our nsd, as python3-dkim's dnsfunc wants."""
    host, port = DNS.server.split("@")
    out = subprocess.run(["drill", "-p", port, "@" + host, name.decode().rstrip("."), "TXT"],
                         capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        if line.startswith(";") or "\tTXT\t" not in line:
            continue
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', line.split("\tTXT\t", 1)[1])
        return "".join(strings).encode()
    return b""


def message(sender, subject, extra=b""):
    tag = os.urandom(6).hex()
    return tag, (b"From: <%s>\r\nTo: <alice@example.test>\r\nSubject: %s %s\r\n"
                 b"Message-ID: <%s@test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n%s\r\n"
                 b"Body of %s.\r\n" % (sender.encode(), subject.encode(), tag.encode(),
                                       tag.encode(), extra, tag.encode()))


def header_block(data):
    return data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")


def auth_results(data):
    """Every Authentication-Results field of the header, unfolded."""
    fields = re.split(r"\r\n(?=[^ \t])", header_block(data))
    return [re.sub(r"\r\n[ \t]+", " ", f) for f in fields
            if f.lower().startswith("authentication-results:")]


class Inbound(unittest.TestCase):
    """One receiving instance for every inbound scenario."""

    @classmethod
    def setUpClass(cls):
        cls.inst = hk.Instance(services=("smtp",), dns_server=DNS.server,
                               dmarc_override_domains="override.test")
        cls.inst.add_domain(hk.DOMAIN)
        cls.inst.add_user(*ALICE)
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.inst.stop()
            cls.inst.check_sanitizers()
        finally:
            cls.inst.cleanup()

    def send(self, source, sender, data):
        with smtplib.SMTP(hk.HOST, self.inst.ports["smtp"], timeout=60,
                          source_address=(source, 0), local_hostname="client.test") as s:
            s.ehlo()
            s.sendmail(sender, ["alice@example.test"], data)

    def delivered(self, tag, folder="new"):
        md = self.inst.maildir(ALICE[0])
        d = os.path.join(md, folder)

        def find():
            for name in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, name), "rb") as f:
                    data = f.read()
                if tag.encode() in data:
                    return data
            return None
        return wait_for(find, 30, "message %s in %s" % (tag, d))

    def test_aligned_pass(self):
        import dkim
        tag, data = message("bob@good.test", "aligned")
        signed = dkim.sign(data, DKIM_SELECTOR.encode(), b"good.test", GOOD_KEY,
                           include_headers=[b"from", b"to", b"subject", b"message-id", b"date"])
        self.send(GOOD_IP, "bob@good.test", signed + data)
        got = self.delivered(tag)
        ar = auth_results(got)
        self.assertEqual(len(ar), 1, ar)
        self.assertTrue(ar[0].startswith("Authentication-Results: mx.example.test;"), ar[0])
        self.assertIn("spf=pass smtp.mailfrom=bob@good.test", ar[0])
        self.assertIn("dkim=pass header.d=good.test header.s=%s" % DKIM_SELECTOR, ar[0])
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=good.test", ar[0])
        self.assertIn("Received-SPF: pass", header_block(got))
        self.assertTrue(got.startswith(b"Received: from client.test"), got[:60])
        # The sender's bytes follow the prepended trace fields unchanged.
        self.assertEqual(hk.split_received(got)[1], signed + data)

    def test_spoofed_reject_refused_at_data(self):
        tag, data = message("ceo@reject.test", "spoof")
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            self.send(SPOOF_IP, "ceo@reject.test", data)
        self.assertEqual(cm.exception.smtp_code, 550)
        self.assertIn(b"5.7.1", cm.exception.smtp_error)
        self.assertIn(b"DMARC", cm.exception.smtp_error)
        self.inst.wait_log(r"event=msgauth spf=fail .*from=reject\.test .*action=reject")
        self.assertFalse(any(tag.encode() in d for _, d in self.inst.messages(ALICE[0])))

    def test_spoofed_quarantine_goes_to_junk(self):
        tag, data = message("ceo@quar.test", "quarantine")
        self.send(SPOOF_IP, "ceo@quar.test", data)
        got = self.delivered(tag, folder=".Junk/new")
        ar = auth_results(got)
        self.assertIn("spf=fail", ar[0])
        self.assertIn("dmarc=fail (p=quarantine dis=quarantine) header.from=quar.test", ar[0])
        self.assertTrue(os.path.isdir(os.path.join(self.inst.maildir(ALICE[0]), ".Junk", "cur")))
        self.assertFalse(any(tag.encode() in d for _, d in self.inst.messages(ALICE[0])))

    def test_override_delivers(self):
        tag, data = message("list@override.test", "override")
        self.send(SPOOF_IP, "list@override.test", data)
        got = self.delivered(tag)
        self.assertIn("dmarc=fail (p=reject dis=reject)", auth_results(got)[0])
        self.inst.wait_log(r"from=override\.test .*action=deliver-overridden")

    def test_dns_failure_is_temperror_not_a_stall(self):
        import dkim
        tag, data = message("x@broken.test", "servfail")
        signed = dkim.sign(data, b"sel", b"broken.test", GOOD_KEY,
                           include_headers=[b"from", b"subject"])
        self.send(GOOD_IP, "x@broken.test", signed + data)
        got = self.delivered(tag)
        ar = auth_results(got)[0]
        self.assertIn("spf=temperror", ar)
        self.assertIn("dkim=temperror", ar)
        self.assertIn("header.d=broken.test", ar)
        self.assertRegex(ar, r"dmarc=temperror \(DNS error for _dmarc\.broken\.test")

    def test_huge_header_section_refused(self):
        # Over the kept-header bound (256 KiB) forged fields could not be
        # removed: refused at end of DATA, the session stays usable.
        filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 990) for i in range(300))
        tag, data = message("news@nodmarc.test", "huge", extra=filler)
        with smtplib.SMTP(hk.HOST, self.inst.ports["smtp"], timeout=60,
                          source_address=(SPOOF_IP, 0), local_hostname="client.test") as s:
            s.ehlo()
            with self.assertRaises(smtplib.SMTPDataError) as cm:
                s.sendmail("news@nodmarc.test", ["alice@example.test"], data)
            self.assertEqual(cm.exception.smtp_code, 552)
            self.assertIn(b"5.3.4", cm.exception.smtp_error)
            self.assertEqual(s.noop()[0], 250)
        self.assertFalse(any(tag.encode() in d for _, d in self.inst.messages(ALICE[0])))

    def test_several_dmarc_records_mean_no_policy(self):
        tag, data = message("ceo@multi.test", "multi")
        self.send(SPOOF_IP, "ceo@multi.test", data)
        got = self.delivered(tag)
        self.assertIn("dmarc=none (several DMARC records) header.from=multi.test",
                      auth_results(got)[0])

    def test_forged_authres_removed(self):
        forged = (b"Authentication-Results: mx.example.test;\r\n\tdkim=pass header.d=bank.test\r\n"
                  b"authentication-results: (x) \"MX.EXAMPLE.TEST\"; dmarc=pass\r\n"
                  b"Authentication-Results: other.example; spf=pass\r\n")
        tag, data = message("news@nodmarc.test", "forged", extra=forged)
        self.send(SPOOF_IP, "news@nodmarc.test", data)
        got = self.delivered(tag)
        ar = auth_results(got)
        self.assertEqual(len(ar), 2, ar)
        self.assertIn("spf=pass smtp.mailfrom=news@nodmarc.test", ar[0])
        self.assertIn("dkim=none", ar[0])
        self.assertIn("dmarc=none", ar[0])
        self.assertEqual(ar[1], "Authentication-Results: other.example; spf=pass")
        self.assertNotIn(b"bank.test", got)


class Outbound(unittest.TestCase):
    """DKIM signing at queue entry, verified by hikyaku and python3-dkim."""

    def _own(self, inst):
        def done():
            try:
                inst.stop()
                inst.check_sanitizers()
            finally:
                inst.cleanup()
        self.addCleanup(done)
        return inst

    def shared_port(self):
        for _ in range(200):
            port = random.randrange(20000, 60000)
            socks = []
            try:
                for a in (hk.HOST, RCV_ADDR):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    socks.append(s)
                    s.bind((a, port))
                return port
            except OSError:
                continue
            finally:
                for s in socks:
                    s.close()
        raise RuntimeError("no shared port")

    def publish(self, out):
        """The MX, TXT and SRV lines of `domain dns` output into example.test."""
        lines = [l.split("  ;")[0] for l in out.splitlines()
                 if re.match(r"^\S+ 3600 IN (MX|TXT|SRV) ", l)]
        zone = soa() + "mx A 127.0.0.1\n" + "\n".join(lines) + "\n"
        zones = dict(ZONES)
        zones["example.test"] = zone
        DNS.update(zones)

    def test_signed_dual_and_verified(self):
        import dkim
        port = self.shared_port()
        snd = self._own(Node(hk.HOST, ("submissions",), dns_server=DNS.server, relay_port=port))
        snd.add_domain(hk.DOMAIN)
        snd.add_user(*ALICE)
        out = snd.hk("domain", "dns", hk.DOMAIN).stdout
        for pat in (r"^example\.test\. 3600 IN MX 10 mx\.example\.test\.$",
                    r'^example\.test\. 3600 IN TXT "v=spf1 mx -all"$',
                    r'^\d{8}r\._domainkey\.example\.test\. 3600 IN TXT "v=DKIM1; k=rsa; p=',
                    r'^\d{8}e\._domainkey\.example\.test\. 3600 IN TXT "v=DKIM1; k=ed25519; p=',
                    r'^_dmarc\.example\.test\. 3600 IN TXT "v=DMARC1; p=quarantine; '
                    r'rua=mailto:postmaster@example\.test"$',
                    r"^_submissions\._tcp\.example\.test\. 3600 IN SRV 0 1 465 mx\.example\.test\.$",
                    r"^_submission\._tcp\.example\.test\. 3600 IN SRV 0 0 0 \.$",
                    r"^_imaps\._tcp\.example\.test\. 3600 IN SRV 0 0 0 \.$",
                    r"^autoconfig\.example\.test\. 3600 IN CNAME mx\.example\.test\.$"):
            self.assertRegex(out, re.compile(pat, re.M))
        # Nothing published yet: --check says so and exits 1.
        chk = snd.hk("domain", "dns", hk.DOMAIN, "--check", check=False)
        self.assertEqual(chk.returncode, 1, chk.stdout + chk.stderr)
        self.assertIn("v=spf1 mx -all\"  ; MISSING", chk.stdout)
        self.publish(out)
        chk = snd.hk("domain", "dns", hk.DOMAIN, "--check", check=False)
        self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)
        # MX, SPF, two DKIM keys, DMARC and the six SRV records.
        self.assertEqual(chk.stdout.count("; ok: published"), 11, chk.stdout)

        rcv = self._own(Node(RCV_ADDR, ("smtp",), smtp_port=port, dns_server=DNS.server,
                             myhostname="mx.rcv.test"))
        rcv.add_domain("rcv.test")
        rcv.add_user(*BOB)
        rcv.start()
        snd.start()
        tag, data = message(ALICE[0], "outbound")
        data = data.replace(b"To: <alice@example.test>", b"To: <bob@rcv.test>")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP_SSL(hk.HOST, snd.ports["submissions"], context=ctx, timeout=60) as s:
            s.login(*ALICE)
            s.sendmail(ALICE[0], [BOB[0]], data)

        def find():
            for _, d in rcv.messages(BOB[0]):
                if tag.encode() in d:
                    return d
            return None
        got = wait_for(find, 60, "the relayed message at rcv.test")
        ar = auth_results(got)
        self.assertEqual(len(ar), 1, ar)
        self.assertIn("spf=pass smtp.mailfrom=alice@example.test", ar[0])
        self.assertRegex(ar[0], r"dkim=pass header\.d=example\.test header\.s=\d{8}r "
                                r"header\.a=rsa-sha256")
        self.assertRegex(ar[0], r"dkim=pass header\.d=example\.test header\.s=\d{8}e "
                                r"header\.a=ed25519-sha256")
        self.assertIn("dmarc=pass", ar[0])
        # Debian's python3-dkim verifies both signatures of the stored file.
        hdr = header_block(got)
        self.assertEqual(hdr.lower().count("\ndkim-signature:"), 2, hdr)
        algs = set()
        for idx in (0, 1):
            d = dkim.DKIM(got)
            self.assertTrue(d.verify(idx=idx, dnsfunc=drill_txt), "signature %d" % idx)
            algs.add(d.signature_fields[b"a"])
        self.assertEqual(algs, {b"rsa-sha256", b"ed25519-sha256"})
        # From is oversigned (h= names it once more than it occurs).
        for h in re.findall(r"\bh=([^;]*);", re.sub(r"\r\n[ \t]+", "", hdr)):
            names = [n.strip().lower() for n in h.split(":")]
            self.assertGreaterEqual(names.count("from"), 2, h)


if __name__ == "__main__":
    unittest.main(verbosity=2)
