"""Integration: `hikyaku check DOMAIN...` (issue 6, first half) against real
servers on loopback, with DNS from a real nsd.

  127.0.0.31  good.test     hikyaku, certificate for mx.good.test from a test CA
                            (plus SPF, DMARC, MTA-STS and TLS-RPT records)
  127.0.0.32  plain.test    Python SMTP server that never offers STARTTLS
  127.0.0.33  badname.test  hikyaku, test-CA certificate for mx.ca.test (not
                            its MX name mx.badname.test)
  127.0.0.34  silent.test   accepts TCP, never says a word
  127.0.0.35  mta-sts.*     HTTPS (test CA) serving MTA-STS policies: enforce
                            covering the MX (good.test), enforce not covering
                            it (stsbad.test), testing (ststest.test)
  127.0.0.36  mta-sts.stscert.test  HTTPS with a certificate for another name
  127.0.0.38  stall.test    says 220 to STARTTLS, then never sends a byte
  127.0.0.39  endless.test  an endless multi-line banner ("220-" forever)
  127.0.0.37  pfx.test      Postfix (Debian's), test-CA certificate for another
                            name (mx.ca.test): encrypted, not authenticated
              dane.test     MX mx.dane.test (127.0.0.31) with TLSA records
                            (unsigned zone: reported, never trusted)
              nullmx.test   "@ MX 0 ." (RFC 7505)
              nomx.test     no MX, no address

Checked: the table lines, the verdict sentence, the JSON and the exit code
(0 all good, 1 warnings, 2 failures); a silent server ends as a timeout;
arguments that are not domains are a usage error. No durations asserted:
the command itself bounds every step (--timeout), the test only caps the
subprocess so a hang fails instead of blocking CI.
"""

import hashlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import unittest

import hk
import nsd
from hk import Node
from test_outbound import FakeSmtp, Pki, openssl, shared_port, zone
from test_postfix import Postfix

GOOD, PLAIN, BADNAME, SILENT = "127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"
STS, STS_BADCERT, POSTFIX, STALL = "127.0.0.35", "127.0.0.36", "127.0.0.37", "127.0.0.38"
ENDLESS = "127.0.0.39"

POLICIES = {
    "mta-sts.good.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.good.test\r\n"
                         "max_age: 604800\r\n",
    "mta-sts.stsbad.test": "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\n"
                           "max_age: 86400\n",
    "mta-sts.ststest.test": "version: STSv1\nmode: testing\nmx: mx.good.test\nmax_age: 86400\n",
    "mta-sts.stscert.test": "version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n",
    # 80 KB: over RFC 8461's 64 KiB.
    "mta-sts.stsbig.test": "version: STSv1\nmode: enforce\nmax_age: 86400\n" +
                           "mx: mx.good.test\n" * 5000,
}


def sts_records(label):
    return ("_mta-sts TXT \"v=STSv1; id=%s\"\nmta-sts A %s\n"
            % (label, STS_BADCERT if label == "cert" else STS))

ZONES = {
    "good.test": zone("@ MX 10 mx\n",
                      "mx A %s\n"
                      "@ TXT \"v=spf1 mx -all\"\n"
                      "_dmarc TXT \"v=DMARC1; p=reject; rua=mailto:d@good.test\"\n"
                      "_smtp._tls TXT \"v=TLSRPTv1; rua=mailto:t@good.test\"\n" % GOOD
                      + sts_records("20261124")),
    "stsbad.test": zone("@ MX 10 mx.good.test.\n", sts_records("bad")),
    "ststest.test": zone("@ MX 10 mx.good.test.\n", sts_records("testing")),
    "stscert.test": zone("@ MX 10 mx.good.test.\n", sts_records("cert")),
    "dane.test": zone("@ MX 10 mx\n", "mx A %s\n_25._tcp.mx TLSA 3 1 1 SPKI\n"
                      "_25._tcp.mx TLSA 3 1 1 %s\n" % (GOOD, "00" * 32)),
    "plain.test": zone("@ MX 10 mx\n", "mx A %s\n" % PLAIN),
    "badname.test": zone("@ MX 10 mx\n", "mx A %s\n"
                         "@ TXT \"v=spf1 -all\"\n@ TXT \"v=spf1 mx -all\"\n" % BADNAME),
    "silent.test": zone("@ MX 10 mx\n", "mx A %s\n" % SILENT),
    "nullmx.test": zone("@ MX 0 .\n"),
    "stsbig.test": zone("@ MX 10 mx.good.test.\n", sts_records("big")),
    "stall.test": zone("@ MX 10 mx\n", "mx A %s\n" % STALL),
    "endless.test": zone("@ MX 10 mx\n", "mx A %s\n" % ENDLESS),
    "pfx.test": zone("@ MX 10 mx\n", "mx A %s\n" % POSTFIX),
    # SPF: eleven lookups in a chain of includes; and a syntax error.
    "spfmany.test": zone("@ MX 10 mx.good.test.\n",
                         "@ TXT \"v=spf1 include:i1.spfmany.test -all\"\n" +
                         "".join("i%d TXT \"v=spf1 a include:i%d.spfmany.test -all\"\n" % (i, i + 1)
                                 for i in range(1, 12))),
    "dmarcweak.test": zone("@ MX 10 mx.good.test.\n", "_dmarc TXT \"v=DMARC1; p=none\"\n"),
    "dmarcbad.test": zone("@ MX 10 mx.good.test.\n",
                          "_dmarc TXT \"v=DMARC1; p=bogus; rua=mailto:x@y\"\n"),
    "spfbad.test": zone("@ MX 10 mx.good.test.\n", "@ TXT \"v=spf1 ip4:300.1.2.3 -all\"\n"),
    "nomx.test": zone(""),
}

DNS = PKI = None
PORT = None
# The good node's client ports (RFC 6186 SRV records point at them).
CLIENT_SVCS = ("submission", "submissions", "imap", "imaps", "pop3", "pop3s")
CLIENT_PORTS = {}


class StallingTls:
    """Offers STARTTLS, says 220 to it, then holds the connection in
    silence: a handshake that never completes."""

    def __init__(self, addr, port, endless=False):
        self.endless = endless  # send an endless banner instead
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.held = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.held.append(c)
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        try:
            c.settimeout(30)
            if self.endless:
                for _ in range(20000):  # bounded: the client must give up first
                    if self.stop.is_set():
                        return
                    c.sendall(b"220-stall.test says hello, and hello again\r\n")
                return
            f = c.makefile("rb")
            c.sendall(b"220 stall.test ESMTP\r\n")
            for line in f:
                verb = line.split()[0].upper() if line.split() else b""
                if verb == b"EHLO":
                    c.sendall(b"250-stall.test\r\n250 STARTTLS\r\n")
                elif verb == b"STARTTLS":
                    c.sendall(b"220 go ahead\r\n")
                    self.stop.wait(60)  # never answer the ClientHello
                    return
                else:
                    c.sendall(b"221 bye\r\n")
                    return
        except OSError:
            pass

    def close(self):
        self.stop.set()
        for c in self.held:
            c.close()
        self.sock.close()


class StsHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        body = POLICIES.get(host)
        if self.path != "/.well-known/mta-sts.txt" or body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def https_server(addr, port, cert, key):
    srv = http.server.ThreadingHTTPServer((addr, port), StsHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def multi_name_cert(name, hosts):
    """A test-CA certificate for several DNS names."""
    d = PKI.dir
    key, csr, cert, ext = (os.path.join(d, name + x) for x in (".key", ".csr", ".pem", ".ext"))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=" + hosts[0], "-keyout", key, "-out", csr, cwd=d)
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n"
                % ",".join("DNS:" + h for h in hosts))
    openssl("x509", "-req", "-in", csr, "-CA", PKI.ca, "-CAkey", PKI.ca_key, "-CAcreateserial",
            "-days", "90", "-extfile", ext, "-out", cert, cwd=d)
    return cert, key


def dkim_p(algorithm, bits=None):
    """A fresh public key as DKIM's p= (base64 SubjectPublicKeyInfo)."""
    args = ["openssl", "genpkey", "-algorithm", algorithm]
    if bits:
        args += ["-pkeyopt", "rsa_keygen_bits:%d" % bits]
    key = subprocess.run(args, capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=key,
                         capture_output=True, check=True).stdout
    import base64
    return base64.b64encode(der).decode()


def txt(value):
    """A TXT rdata in zone syntax, split into 255-octet strings."""
    return " ".join('"%s"' % value[i:i + 255] for i in range(0, len(value), 255))


def spki_sha256(cert):
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


GOOD_CERT = None
SELF = None  # an instance (not running) whose data_dir has selfdom.test


def self_instance():
    """selfdom.test as `hikyaku domain add` makes it (DKIM keys), served
    from the zone `domain dns` prints, minus its DMARC record."""
    inst = hk.Instance(services=(), myhostname="mx.good.test",
                       smtpd_tls_cert_file=GOOD_CERT[0], smtpd_tls_key_file=GOOD_CERT[1])
    inst.add_domain("selfdom.test")
    out = inst.hk("domain", "dns", "selfdom.test").stdout
    lines = [l for l in out.splitlines()
             if l and not l.startswith(";") and not l.startswith("_dmarc.")]
    return inst, zone("", "\n".join(lines) + "\n")


def setUpModule():
    global DNS, PKI, PORT, GOOD_CERT, SELF
    PORT = shared_port((GOOD, PLAIN, BADNAME, SILENT, STS, STS_BADCERT, POSTFIX, STALL,
                        ENDLESS))
    for svc in CLIENT_SVCS:
        while svc not in CLIENT_PORTS or CLIENT_PORTS[svc] in (
                [PORT] + [v for k, v in CLIENT_PORTS.items() if k != svc]):
            CLIENT_PORTS[svc] = shared_port((GOOD,))
    PKI = Pki()
    GOOD_CERT = PKI.make_server("mx-good", "mx.good.test", PKI.ca, PKI.ca_key, days=90)
    zones = dict(ZONES)
    SELF, zones["selfdom.test"] = self_instance()
    zones["dkim.test"] = zone("@ MX 10 mx.good.test.\n", "".join(
        "%s._domainkey TXT %s\n" % (sel, txt(rec)) for sel, rec in (
            ("rsa", "v=DKIM1; k=rsa; p=" + dkim_p("RSA", 2048)),
            ("weak", "v=DKIM1; k=rsa; p=" + dkim_p("RSA", 512)),
            ("ed", "v=DKIM1; k=ed25519; p=" + "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
            ("gone", "v=DKIM1; p="),
            ("junk", "v=DKIM1; k=rsa; p=!!!"))))
    zones["dane.test"] = zones["dane.test"].replace("SPKI", spki_sha256(GOOD_CERT[0]))
    # RFC 6186 / 8314 SRV records: good.test's users submit to the good
    # node; plain.test's "submission" server never offers STARTTLS.
    zones["good.test"] += "".join("_%s._tcp SRV 0 1 %d mx\n" % (svc, port)
                                  for svc, port in CLIENT_PORTS.items())
    zones["plain.test"] += "_submission._tcp SRV 0 1 %d mx\n_imaps._tcp SRV 0 0 0 .\n" % PORT
    DNS = nsd.Nsd(zones)
    DNS.start()
    SELF.settings["dns_server"] = DNS.server
    SELF.write_config()


def tearDownModule():
    if SELF is not None:
        SELF.cleanup()
    if DNS is not None:
        DNS.stop()
    if PKI is not None:
        PKI.cleanup()


class Check(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.nodes = []
        for addr, (cert, key), host in ((GOOD, GOOD_CERT, "mx.good.test"),
                                        (BADNAME, (PKI.cert, PKI.key), "mx.badname.test")):
            svcs = ("smtp",) + CLIENT_SVCS if addr == GOOD else ("smtp",)
            n = Node(addr, svcs, smtp_port=PORT, myhostname=host,
                     smtpd_tls_cert_file=cert, smtpd_tls_key_file=key)
            if addr == GOOD:
                for svc, port in CLIENT_PORTS.items():
                    n.ports[svc] = port
                    n.settings[svc + "_listen"] = "%s:%d" % (GOOD, port)
                n.write_config()
            cls.nodes.append(n)
            n.start()
        cls.plain = FakeSmtp(PLAIN, PORT)
        cls.stall = StallingTls(STALL, PORT)
        cls.endless = StallingTls(ENDLESS, PORT, endless=True)
        # Postfix as the peer with a certificate for the wrong name.
        if os.geteuid() != 0 and hk.ALLOW_SKIP:
            cls.postfix = None
        else:
            hk.require_tool("postfix")
            cls.postfix = Postfix(POSTFIX, PORT, "pfx.test", {}, extra={
                "myhostname": "mx.pfx.test", "smtpd_tls_cert_file": PKI.cert,
                "smtpd_tls_key_file": PKI.key})
            cls.postfix.start()
        sts_cert = multi_name_cert("mta-sts", [h for h in POLICIES if "stscert" not in h])
        cls.https = [https_server(STS, PORT, *sts_cert),
                     https_server(STS_BADCERT, PORT, *PKI.cert_key_for_other())]
        cls.silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.silent.bind((SILENT, PORT))
        cls.silent.listen(8)  # the kernel completes handshakes; nobody speaks
        # A config for the CLI: our nsd as resolver.
        cls.cli = hk.Instance(services=(), dns_server=DNS.server)

    @classmethod
    def tearDownClass(cls):
        if cls.postfix is not None:
            cls.postfix.cleanup()
        for h in cls.https:
            h.shutdown()
            h.server_close()
        cls.silent.close()
        cls.stall.close()
        cls.endless.close()
        cls.plain.close()
        for n in cls.nodes:
            try:
                n.stop()
            finally:
                n.cleanup()
        cls.cli.cleanup()

    def check(self, *args):
        return self.cli.hk("check", "--port", str(PORT), "--https-port", str(PORT), "--ca",
                           PKI.ca, "--timeout", "3", *args, check=False, timeout=120)

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
        self.assertIn("mode enforce (id 20261124, max_age 604800), covers every MX",
                      self.lines(p.stdout, "OK", "sts-policy")[0])
        for rec in ("spf", "dmarc", "mta-sts", "tls-rpt"):
            self.assertTrue(self.lines(p.stdout, "OK", rec), "%s missing:\n%s" % (rec, p.stdout))
        self.assertNotIn("WARN", p.stdout)
        self.assertNotIn("FAIL", p.stdout)

    def sts_line(self, domain):
        p = self.check(domain)
        return p, [l for l in p.stdout.splitlines() if " sts-policy " in l]

    def test_mta_sts_not_covering_the_mx(self):
        p, lines = self.sts_line("stsbad.test")
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertTrue(lines and lines[0].split()[0] == "FAIL", p.stdout)
        self.assertIn("MX mx.good.test is not in its mx list", lines[0])

    def test_mta_sts_testing_mode(self):
        p, lines = self.sts_line("ststest.test")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(lines[0].split()[0], "WARN", p.stdout)
        self.assertIn("mode testing", lines[0])
        self.assertIn("no MTA-STS (enforce) or DANE tells senders to insist", p.stdout)

    def test_mta_sts_bad_certificate(self):
        p, lines = self.sts_line("stscert.test")
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertEqual(lines[0].split()[0], "FAIL", p.stdout)
        self.assertRegex(lines[0], r"(?i)certificate|SSL")

    def test_dane_records_reported_not_trusted(self):
        rc, j, p = self.check_json("dane.test")
        dane = [c for c in j["domains"][0]["checks"] if c["check"] == "dane"]
        self.assertEqual(len(dane), 1, p.stdout)
        # nsd serves the zone unsigned: reported, with the match, but WARN.
        self.assertEqual(dane[0]["status"], "WARN")
        self.assertIn("2 TLSA records not DNSSEC-validated", dane[0]["detail"])
        self.assertIn("1 of 1 addresses match", dane[0]["detail"])

    def test_clients(self):
        p = self.check("--clients", "good.test", "plain.test")
        self.assertEqual(p.returncode, 2, p.stdout)
        good, plain = p.stdout.split("\nplain.test\n")
        ok = {l.split()[2]: l for l in good.splitlines() if l.split()[:2] == ["OK", "client"]}
        # Submission (STARTTLS, AUTH only after it) and 465, IMAP (STARTTLS,
        # LOGINDISABLED until then) and 993, POP3 (STLS, no USER until then)
        # and 995: hikyaku's own.
        self.assertEqual(sorted(ok), sorted(CLIENT_SVCS), good)
        for svc, port in CLIENT_PORTS.items():
            self.assertRegex(ok[svc], r"%s mx\.good\.test\[127\.0\.0\.31\]:%d: TLSv1\.[23] .*"
                             r"chain verified; name matches" % (svc, port))
        self.assertIn("_imaps._tcp.plain.test: not offered", plain)
        self.assertIn("OK    clients   every published client service protects passwords", good)
        self.assertIn("FAIL  client    submission mx.plain.test[127.0.0.32]:%d: no STARTTLS"
                      % PORT, plain)
        self.assertIn("FAIL  clients   a client can send its password in clear", plain)
        # The same as JSON.
        rc, j, _ = self.check_json("--clients", "good.test")
        svcs = sorted(c["service"] for c in j["domains"][0]["clients"])
        self.assertEqual(svcs, sorted(CLIENT_SVCS))
        self.assertTrue(all(c["tls"] and not c["login_before_tls"]
                            for c in j["domains"][0]["clients"]))

    def test_spf_lookups_and_syntax(self):
        p = self.check("good.test", "spfmany.test", "spfbad.test")
        spf = [l for l in p.stdout.splitlines() if " spf " in l]
        self.assertRegex(spf[0], r"^  OK .*\(1 of 10 DNS lookups\)$")
        self.assertRegex(spf[1], r"^  FAIL .*permerror: .*(lookup|limit)")
        self.assertRegex(spf[2], r"^  FAIL .*ip4:300\.1\.2\.3.*permerror for every receiver")

    def test_dkim_selectors(self):
        args = []
        for sel in ("rsa", "ed", "weak", "gone", "junk", "missing"):
            args += ["--dkim-selector", sel]
        p = self.check(*args, "dkim.test")
        lines = {l.split()[2].split("._")[0]: l for l in p.stdout.splitlines()
                 if " dkim " in l}
        self.assertRegex(lines["rsa"], r"^  OK .*RSA 2048 bits$")
        self.assertRegex(lines["ed"], r"^  OK .*ed25519$")
        self.assertRegex(lines["weak"], r"^  FAIL .*RSA 512 bits: verifiers reject")
        self.assertRegex(lines["gone"], r"^  WARN .*revoked")
        self.assertRegex(lines["junk"], r"^  FAIL .*malformed key record")
        self.assertRegex(lines["missing"], r"^  FAIL .*no key record")
        self.assertEqual(p.returncode, 2, p.stdout)

    def test_dmarc(self):
        p = self.check("good.test", "dmarcweak.test", "dmarcbad.test")
        dm = [l for l in p.stdout.splitlines() if " dmarc " in l]
        self.assertRegex(dm[0], r"^  OK .*p=reject sp=reject pct=100 adkim=r aspf=r "
                         r"rua=mailto:d@good\.test$")
        self.assertRegex(dm[1], r"^  WARN .*p=none .*only monitors.*no rua")
        self.assertRegex(dm[2], r"^  FAIL .*receivers ignore it")

    def test_self(self):
        p = SELF.hk("check", "--self", "--port", str(PORT), "--ca", PKI.ca, "--timeout", "3",
                    check=False, timeout=120)
        out = p.stdout
        self.assertIn("this server (mx.good.test)", out)
        self.assertRegex(out, r"OK    cert      \S+ names mx\.good\.test")
        self.assertRegex(out, r"OK    cert      \S+: (89|90) days left")
        self.assertIn("\nselfdom.test\n", out)
        self.assertRegex(out, r"OK    published selfdom\.test\. MX 10 mx\.good\.test\.")
        self.assertRegex(out, r'OK    published selfdom\.test\. TXT "v=spf1 mx -all"')
        dkim = [l for l in out.splitlines() if "._domainkey.selfdom.test." in l]
        self.assertEqual(len(dkim), 2, out)  # RSA and Ed25519, as published
        self.assertTrue(all(l.startswith("  OK ") for l in dkim), dkim)
        self.assertRegex(out, r"FAIL  published _dmarc\.selfdom\.test\. TXT missing: publish ")
        self.assertEqual(p.returncode, 2, out)
        # --self takes no domain arguments.
        self.assertEqual(SELF.hk("check", "--self", "x.test", check=False).returncode, 2)

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

    def test_postfix_wrong_name_warns(self):
        if self.postfix is None:
            self.skipTest("Postfix needs root")
        rc, j, p = self.check_json("pfx.test")
        d = j["domains"][0]
        m = d["mx"][0]
        self.assertTrue(m["starttls"] and m["tls"], p.stdout)
        self.assertTrue(m["chain_verified"])
        self.assertFalse(m["name_matches"])
        self.assertEqual(d["verdict"],
                         "mail to pfx.test is encrypted when possible, not authenticated")
        self.assertEqual(d["status"], "WARN")
        self.assertEqual(rc, 1, p.stdout)

    def test_mta_sts_policy_too_large(self):
        p, lines = self.sts_line("stsbig.test")
        self.assertEqual(lines[0].split()[0], "FAIL", p.stdout)
        self.assertIn("policy larger than 64 KiB", lines[0])

    def test_handshake_that_never_completes(self):
        rc, j, p = self.check_json("stall.test")
        m = j["domains"][0]["mx"][0]
        self.assertTrue(m["starttls"], p.stdout)
        self.assertFalse(m["tls"])
        self.assertTrue(m["timeout"], m)
        self.assertIn("handshake", m["error"])
        self.assertEqual(j["domains"][0]["verdict"], "mail to stall.test can travel in clear")
        self.assertEqual(rc, 2)

    def test_endless_banner(self):
        rc, j, p = self.check_json("endless.test")
        m = j["domains"][0]["mx"][0]
        self.assertIn("malformed reply", m["error"], m)
        self.assertEqual(j["domains"][0]["status"], "FAIL")
        self.assertEqual(rc, 2)

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
