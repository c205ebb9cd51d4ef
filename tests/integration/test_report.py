"""Integration: `hikyaku report tls` (issue 6) over real sessions.

One hikyaku instance on 127.0.0.1 (smtp, submission, submissions) records
every SMTP session in data_dir/stats.db. Real traffic goes through it:

  inbound MX   Python smtplib from several sender domains, with and without
               STARTTLS, a bounce (<>, peer = the EHLO name) and a session
               that carries no message;
  submission   alice over implicit TLS (port 465), three messages;
  outbound     those messages delivered by MX (nsd on loopback) to
               127.0.0.2 rcv.test, a second hikyaku (STARTTLS offered,
               self-signed), 127.0.0.3 plain.test, a Python receiver without
               STARTTLS, and 127.0.0.4 ca.test, a hikyaku with a certificate
               from a test CA the sender trusts (policy `secure`: Verified).

Then `hikyaku report tls` in text, --json (numbers checked), --csv,
--html FILE (one self-contained page with the figures and inline SVG),
period filtering (--since, --from/--to), --weakest, and bad arguments (exit
2 with a message). The report runs while the daemon writes (read-only
open), and once more after it stopped.

Every wait is a bounded poll; no durations are asserted. Only 127.0.0.0/8
is bound. Standard library only (Debian's /usr/bin/python3).
"""

import csv
import io
import json
import os
import re
import smtplib
import unittest

import hk
import nsd
from hk import Node, wait_for
from test_outbound import FakeSmtp, Pki, shared_port, zone

RCV_ADDR = "127.0.0.2"
PLAIN_ADDR = "127.0.0.3"
CA_ADDR = "127.0.0.4"
ALICE = ("alice@example.test", "alice-secret-1")

ZONES = {
    "rcv.test": zone("@ MX 10 mx\n", "mx A %s\n" % RCV_ADDR),
    "plain.test": zone("@ MX 10 mx\n", "mx A %s\n" % PLAIN_ADDR),
    "ca.test": zone("@ MX 10 mx\n", "mx A %s\n" % CA_ADDR),
}

# What the traffic below must add up to (see Report.setUpClass).
WANT_MX = {"sessions": 5, "tls_sessions": 2, "messages": 5, "tls_messages": 2, "rcpts": 6}
WANT_SUB = {"sessions": 1, "tls_sessions": 1, "messages": 3, "tls_messages": 2 + 1}
WANT_OUT = {"sessions": 3, "tls_sessions": 2, "messages": 3, "tls_messages": 2,
            "verified_messages": 1}
WANT_DOMAINS = {  # (class, domain): (messages, encrypted)
    ("in-mx", "one.test"): (3, 1),
    ("in-mx", "two.test"): (1, 1),
    ("in-mx", "helo.three.test"): (1, 0),
    ("in-mx", "noop.test"): (0, 0),
    ("in-submission", "example.test"): (3, 3),
    ("out", "rcv.test"): (1, 1),
    ("out", "plain.test"): (1, 0),
    ("out", "ca.test"): (1, 1),
}

DNS = None
PORT = None
PKI = None


def setUpModule():
    global DNS, PORT, PKI
    PORT = shared_port((RCV_ADDR, PLAIN_ADDR, CA_ADDR))
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


def mx_session(port, ehlo, messages, tls):
    """One inbound MX session: [(sender, [rcpts])...], STARTTLS or not."""
    with smtplib.SMTP(hk.HOST, port, local_hostname=ehlo, timeout=30) as s:
        s.ehlo()
        if tls:
            hk.smtplib_starttls(s)
            s.ehlo()
        for sender, rcpts in messages:
            msg = hk.make_message(sender=sender or "mailer-daemon@nowhere.test", to=rcpts[0])
            refused = s.sendmail(sender, rcpts, msg)
            if refused:
                raise AssertionError("refused %r" % refused)


class Report(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.insts = []
        cls.fake = None
        try:
            cls._start()
            cls._traffic()
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def _start(cls):
        cls.rcv = Node(RCV_ADDR, ("smtp",), smtp_port=PORT, myhostname="mx.rcv.test")
        cls.insts.append(cls.rcv)
        cls.rcv.add_domain("rcv.test")
        cls.rcv.add_user("bob@rcv.test", "receiver-pw-1")
        cls.rcv.start()
        cls.fake = FakeSmtp(PLAIN_ADDR, PORT)
        cls.ca = Node(CA_ADDR, ("smtp",), smtp_port=PORT, myhostname="mx.ca.test",
                      smtpd_tls_cert_file=PKI.cert, smtpd_tls_key_file=PKI.key)
        cls.insts.append(cls.ca)
        cls.ca.add_domain("ca.test")
        cls.ca.add_user("ivan@ca.test", "receiver-pw-1")
        cls.ca.start()
        cls.hk = hk.Instance(dns_server=DNS.server, relay_port=PORT, smtp_reply_timeout="30s",
                             tls_report_retention="30d", smtp_tls_CAfile=PKI.ca)
        cls.insts.append(cls.hk)
        maps = os.path.join(cls.hk.tmp, "tls_policy")
        with open(maps, "w") as fh:
            fh.write("ca.test secure\n")
        os.chmod(maps, 0o644)
        cls.hk.settings["smtp_tls_policy_maps"] = maps
        cls.hk.write_config()
        cls.hk.add_domain(hk.DOMAIN)
        cls.hk.add_user(*ALICE)
        cls.hk.add_user("bob@example.test", "bob-secret-2")
        cls.hk.start()

    @classmethod
    def _traffic(cls):
        port = cls.hk.ports["smtp"]
        alice = ALICE[0]
        # Inbound MX: 5 sessions, 5 messages (2 over TLS), 6 recipients.
        mx_session(port, "client.one.test", [("a@one.test", [alice]), ("b@One.Test", [alice])],
                   tls=False)
        mx_session(port, "client.two.test", [("c@two.test", [alice])], tls=True)
        mx_session(port, "mail.one.test", [("d@one.test", [alice, "bob@example.test"])],
                   tls=True)
        mx_session(port, "helo.three.test", [("", [alice])], tls=False)
        with smtplib.SMTP(hk.HOST, port, local_hostname="noop.test", timeout=30) as s:
            s.ehlo()
            s.noop()
        # Submission (implicit TLS): one session, three messages, delivered out.
        with smtplib.SMTP_SSL(hk.HOST, cls.hk.ports["submissions"], timeout=30,
                              context=hk.client_context()) as s:
            s.login(*ALICE)
            for rcpt in ("bob@rcv.test", "carol@plain.test", "ivan@ca.test"):
                msg = hk.make_message(sender=alice, to=rcpt, subject="to " + rcpt)
                if s.sendmail(alice, [rcpt], msg):
                    raise AssertionError("submission refused " + rcpt)
        wait_for(lambda: cls.rcv.count("bob@rcv.test") == 1, 60, "delivery to rcv.test")
        wait_for(lambda: len(cls.fake.msgs()) == 1, 60, "delivery to plain.test")
        wait_for(lambda: cls.ca.count("ivan@ca.test") == 1, 60, "delivery to ca.test")
        # The records reach stats.db through the writer thread: wait until
        # every class has all its sessions (then check exact numbers).
        wait_for(cls._complete, 30, "all sessions in the report")

    @classmethod
    def _complete(cls):
        p = cls.hk.hk("report", "tls", "--json", check=False)
        if p.returncode != 0:
            return False
        t = json.loads(p.stdout)["totals"]
        return (t["in-mx"]["sessions"] >= WANT_MX["sessions"] and
                t["in-submission"]["messages"] >= WANT_SUB["messages"] and
                t["out"]["sessions"] >= WANT_OUT["sessions"])

    @classmethod
    def _teardown(cls):
        if cls.fake is not None:
            cls.fake.close()
        for inst in reversed(cls.insts):
            try:
                if inst.alive():
                    inst.stop()
            finally:
                inst.cleanup()

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    # ---- helpers

    def report(self, *args, inst=None):
        p = (inst or self.hk).hk("report", "tls", *args, check=False)
        self.assertEqual(p.returncode, 0, "report tls %s: %s" % (" ".join(args), p.stderr))
        return p.stdout

    def json_report(self, *args):
        return json.loads(self.report("--json", *args))

    def assertCounts(self, got, want, what):
        for k, v in want.items():
            self.assertEqual(got[k], v, "%s %s: %r" % (what, k, got))

    # ---- the tests

    def test_json_totals(self):
        r = self.json_report()
        t = r["totals"]
        self.assertCounts(t["in-mx"], WANT_MX, "in-mx")
        self.assertCounts(t["in-submission"], WANT_SUB, "in-submission")
        self.assertCounts(t["out"], WANT_OUT, "out")
        self.assertAlmostEqual(t["in-mx"]["share"], 2 / 5)
        self.assertAlmostEqual(t["in-submission"]["share"], 1.0)
        self.assertAlmostEqual(t["out"]["share"], 2 / 3, places=5)
        self.assertEqual(r["order"], "volume")

    def test_json_domains(self):
        r = self.json_report()
        got = {(d["class"], d["domain"]): (d["counts"]["messages"], d["counts"]["tls_messages"])
               for d in r["domains"]}
        self.assertEqual(got, WANT_DOMAINS)
        verified = {d["domain"]: d["counts"]["verified_messages"] for d in r["domains"]
                    if d["class"] == "out"}
        self.assertEqual(verified, {"ca.test": 1, "rcv.test": 0, "plain.test": 0})
        # By volume: most messages first.
        volumes = [d["counts"]["messages"] for d in r["domains"]]
        self.assertEqual(volumes, sorted(volumes, reverse=True))
        self.assertEqual(r["domains"][0]["domain"], "one.test")

    def test_json_weakest(self):
        r = self.json_report("--weakest")
        self.assertEqual(r["order"], "weakest")
        shares = [d["counts"]["share"] for d in r["domains"]]
        self.assertEqual(shares, sorted(shares))
        self.assertEqual(shares[0], 0)
        self.assertEqual(r["domains"][-1]["counts"]["share"], 1)
        top = self.json_report("--weakest", "--top", "2")["domains"]
        self.assertEqual(len(top), 2)
        self.assertEqual(top, r["domains"][:2])

    def test_json_days_and_protocols(self):
        r = self.json_report()
        # Everything happened just now: one day (two if the run crossed
        # midnight UTC); the days add up to the totals.
        self.assertIn(len(r["days"]), (1, 2), r["days"])
        for day in r["days"]:
            self.assertRegex(day["date"], r"^\d{4}-\d\d-\d\d$")
        for c, want in (("in-mx", (5, 2)), ("out", (3, 2)), ("in-submission", (3, 3))):
            got = (sum(d["classes"][c]["messages"] for d in r["days"]),
                   sum(d["classes"][c]["tls_messages"] for d in r["days"]))
            self.assertEqual(got, want, c)
        versions = {(p["class"], p["version"]): p["sessions"] for p in r["protocols"]}
        self.assertEqual(versions.get(("in-mx", "")), 3)
        self.assertEqual(sum(v for (c, ver), v in versions.items() if c == "in-mx" and ver), 2)
        self.assertTrue(all(ver.startswith("TLSv1.") for (c, ver) in versions if ver))

    def test_text(self):
        out = self.report()
        self.assertIn("Messages encrypted: inbound (MX) 40.0%, outbound 66.7%", out)
        self.assertRegex(out, r"(?m)^in-mx\s+5\s+2\s+5\s+2\s+\d+\s+40\.0%$")
        self.assertRegex(out, r"(?m)^\s+in-mx\s+one\.test\s+2 sessions\s+3 messages\s+33\.3%$")
        self.assertIn("plain.test", out)

    def test_csv(self):
        rows = list(csv.DictReader(io.StringIO(self.report("--csv"), newline="")))
        totals = {r["class"]: r for r in rows if r["section"] == "total"}
        self.assertEqual(set(totals), {"in-mx", "in-submission", "out"})
        self.assertEqual(int(totals["in-mx"]["messages"]), 5)
        self.assertEqual(int(totals["in-mx"]["tls_messages"]), 2)
        self.assertAlmostEqual(float(totals["out"]["share"]), 2 / 3, places=5)
        domains = {(r["class"], r["domain"]): int(r["messages"])
                   for r in rows if r["section"] == "domain"}
        self.assertEqual(domains, {k: v[0] for k, v in WANT_DOMAINS.items()})
        days = [r for r in rows if r["section"] == "day"]
        self.assertEqual({r["class"] for r in days}, {"in-mx", "in-submission", "out"})

    def test_html(self):
        path = os.path.join(self.hk.tmp, "report.html")
        self.assertEqual(self.report("--html", path), "")
        with open(path, encoding="utf-8") as f:
            page = f.read()
        self.assertTrue(page.startswith("<!DOCTYPE html>"))
        self.assertTrue(page.rstrip().endswith("</html>"))
        self.assertIn('<svg id="trend"', page)
        self.assertIn('<svg id="peers"', page)
        self.assertRegex(page, r'id="share-in-mx"><b>40\.0%</b>')
        self.assertRegex(page, r'id="share-out"><b>66\.7%</b>')
        for d in ("one.test", "two.test", "rcv.test", "plain.test", "ca.test"):
            self.assertIn(d, page)
        # Self-contained: nothing fetched from anywhere.
        for bad in ("http:", "https:", "<script", "<link", "src=", "url(", "@import"):
            self.assertNotIn(bad, page.lower())

    def test_period(self):
        every = self.json_report("--since", "3650d")["totals"]
        self.assertEqual(every["in-mx"]["messages"], 5)
        old = self.json_report("--from", "2000-01-01", "--to", "2000-01-31")
        self.assertEqual(old["period"]["from"], "2000-01-01T00:00:00Z")
        self.assertEqual(old["period"]["to"], "2000-02-01T00:00:00Z")  # --to includes the day
        for c in ("in-mx", "in-submission", "out"):
            self.assertEqual(old["totals"][c]["sessions"], 0)
            self.assertIsNone(old["totals"][c]["share"])
        self.assertEqual(old["domains"], [])
        self.assertEqual(old["days"], [])
        since = self.json_report("--since", "2w")
        self.assertEqual(since["period"]["to_unix"] - since["period"]["from_unix"], 14 * 86400)

    def test_bad_arguments(self):
        cases = [
            (["--since", "7x"], "not a duration"),
            (["--since", "yesterday"], "not a duration"),
            (["--since", "0d"], "positive"),
            (["--since"], "needs a value"),
            (["--from", "2026-02-30"], "not a date"),
            (["--to", "31/01/2026"], "not a date"),
            (["--since", "7d", "--from", "2026-01-01"], "not both"),
            (["--from", "2026-02-01", "--to", "2026-01-01"], "empty"),
            (["--top", "0"], "not a count"),
            (["--json", "--csv"], "only one output format"),
            (["--frobnicate"], "unknown option"),
        ]
        for args, msg in cases:
            p = self.hk.hk("report", "tls", *args, check=False)
            self.assertEqual(p.returncode, 2, "%r: %s" % (args, p.stderr))
            self.assertIn(msg, p.stderr, args)
            self.assertIn("usage: hikyaku report tls", p.stderr)
            self.assertEqual(p.stdout, "")
        for args in (["report"], ["report", "dns"]):
            p = self.hk.hk(*args, check=False)
            self.assertEqual(p.returncode, 2, args)

    def test_zz_after_stop(self):
        """Last (name order): the daemon stops; the report still reads the
        same numbers from the closed database, and the daemon's sanitizer
        check passes."""
        before = self.json_report()
        self.hk.stop()
        after = self.json_report()
        self.assertEqual(after["totals"], before["totals"])
        self.assertEqual(after["domains"], before["domains"])
        self.assertFalse(re.search(r"event=stats-error", self.hk.log_text()), "stats errors")


if __name__ == "__main__":
    unittest.main()
