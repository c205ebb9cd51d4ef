"""DKIM (src/msgauth/dkim*.c) end to end: sign, verify, keygen.

Driven through tests/integration/dkim_tool (env DKIM_TOOL), which streams
each message into the library in chunks; key records are served by a real
nsd on loopback (nsd.py) and looked up by hikyaku's real resolver.

  - RFC 8463 Appendix A vectors (ed25519-sha256 and rsa-sha256) from
    ../shared/testdata/dkim/rfc8463 verify, whatever the chunking. Without
    that folder the class is skipped with a message, except when CI is set.
  - Interop with Debian's python3-dkim (dkimpy): what we sign (RSA-2048 and
    Ed25519) verifies there (keys given through its dnsfunc hook), what it
    signs verifies here.
  - Failures as they should: altered body, altered signed header, an added
    From (oversigning), expired x=, revoked key, k= mismatch, rsa-sha1, an
    RSA key under 1024 bits, no key, a lookup that fails (temperror),
    malformed signatures, too many signatures, a header that folds forever.
Standard library plus Debian's python3-dkim, run by /usr/bin/python3.
"""

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nsd import Nsd  # noqa: E402

ALLOW_SKIP = os.environ.get("HIKYAKU_ALLOW_SKIP") == "1"
HERE = os.path.dirname(os.path.abspath(__file__))
RFC8463 = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "testdata",
                                        "dkim", "rfc8463"))
SOA = "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 127.0.0.1\n"
CHUNKS = ("1", "7", "0", "1000000")  # 0: random sizes (fixed seed)

try:
    import dkim  # Debian python3-dkim
except ImportError:  # pragma: no cover - reported by the tests that need it
    dkim = None


def tool():
    path = os.environ.get("DKIM_TOOL")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("env DKIM_TOOL must name the dkim_tool executable")
    return path


def run(args, data=None, check=True):
    r = subprocess.run([tool()] + args, input=data, capture_output=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("dkim_tool %s failed (%d): %s" %
                             (" ".join(args), r.returncode, r.stderr.decode(errors="replace")))
    return r


def zone_txt(text):
    """TXT rdata in zone syntax: 255-byte character-strings."""
    return " ".join('"%s"' % text[i:i + 255] for i in range(0, len(text), 255)) or '""'


def verify(server, msg, chunk="0", now=None):
    """[(result, {d, s, a, b, testing, reason})], skipped."""
    args = ["verify", "-r", server, "-c", chunk]
    if now is not None:
        args += ["-t", str(now)]
    out = run(args, msg).stdout.decode()
    results, skipped = [], None
    for line in out.splitlines():
        if line.startswith("skipped="):
            skipped = int(line.split("=", 1)[1])
            continue
        word, *fields = line.split(" ")
        results.append((word, dict(f.split("=", 1) for f in fields)))
    if skipped is None:
        raise AssertionError("no summary line in %r" % out)
    return results, skipped


def need_dkimpy():
    if dkim is None:
        msg = "python3-dkim not installed (run scripts/deps.sh)"
        if ALLOW_SKIP:
            raise unittest.SkipTest(msg)
        raise AssertionError(msg)


MESSAGE = (b"From: Alice <alice@example.test>\r\n"
           b"To: Bob <bob@example.org>\r\n"
           b"Subject: Lunch  tomorrow?\r\n"
           b"Date: Tue, 24 Nov 2026 08:00:00 +0000\r\n"
           b"Message-ID: <1@example.test>\r\n"
           b"X-Unsigned: whatever\r\n"
           b"\r\n"
           b"Hi Bob,  \r\n"
           b"\r\n"
           b" shall we\tmeet at noon?\r\n"
           b"\r\n"
           b"\r\n")


@unittest.skipIf(not os.path.isdir(RFC8463) and not os.environ.get("CI"),
                 "%s absent: RFC 8463 vectors not run" % RFC8463)
class Rfc8463(unittest.TestCase):
    """RFC 8463 Appendix A: two signatures over one message."""

    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(RFC8463):
            raise AssertionError("CI is set but %s is missing" % RFC8463)
        zone = SOA
        with open(os.path.join(RFC8463, "dns-records.txt")) as f:
            for line in f.read().splitlines():
                if line.strip():
                    name, _, value = line.split(" ", 2)
                    zone += "%s. TXT %s\n" % (name, zone_txt(value))
        with open(os.path.join(RFC8463, "rfc8463-A3-signed.eml"), "rb") as f:
            cls.signed = f.read()
        cls.dns = Nsd({"football.example.com": zone}).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def test_both_signatures_pass_in_any_chunking(self):
        for chunk in CHUNKS:
            res, skipped = verify(self.dns.server, self.signed, chunk)
            self.assertEqual(skipped, 0)
            self.assertEqual([(r, f["s"], f["a"]) for r, f in res],
                             [("pass", "brisbane", "ed25519-sha256"),
                              ("pass", "test", "rsa-sha256")], chunk)
            self.assertEqual(res[0][1]["d"], "football.example.com")
            self.assertEqual(res[0][1]["b"], "/gCrinpc")
            self.assertEqual(res[1][1]["b"], "F45dVWDf")

    def test_altered_body_fails(self):
        res, _ = verify(self.dns.server, self.signed.replace(b"Joe.", b"Jim."))
        self.assertEqual([r for r, _ in res], ["fail", "fail"])
        self.assertTrue(all("body_hash" in f["reason"] for _, f in res))

    def test_altered_header_fails(self):
        res, _ = verify(self.dns.server, self.signed.replace(b"dinner ready", b"dinner late"))
        self.assertEqual([r for r, _ in res], ["fail", "fail"])
        self.assertTrue(all("signature_did_not_verify" in f["reason"] for _, f in res))


class Keys(unittest.TestCase):
    """Keys made by the library, published by nsd, used by both sides."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hk-dkim-")
        cls.rsa = run(["path", cls.tmp, "example.test", "rsa1"]).stdout.decode().strip()
        cls.ed = run(["path", cls.tmp, "example.test", "ed1"]).stdout.decode().strip()
        cls.rsa_txt = run(["keygen", "rsa", cls.rsa]).stdout.decode().strip()
        cls.ed_txt = run(["keygen", "ed25519", cls.ed]).stdout.decode().strip()
        cls.short = os.path.join(cls.tmp, "short.pem")
        subprocess.run(["openssl", "genrsa", "-traditional", "-out", cls.short, "512"],
                       check=True, capture_output=True, timeout=60)
        short_der = subprocess.run(["openssl", "rsa", "-in", cls.short, "-pubout", "-outform",
                                    "DER"], check=True, capture_output=True, timeout=60).stdout
        ed_p = cls.ed_txt.split("p=", 1)[1]
        cls.records = {
            "rsa1": cls.rsa_txt,
            "ed1": cls.ed_txt,
            "revoked": "v=DKIM1; k=rsa; p=",
            "badtype": "v=DKIM1; k=rsa; p=" + ed_p,
            "short": "v=DKIM1; k=rsa; p=" + base64.b64encode(short_der).decode(),
            "testing": cls.ed_txt.replace("v=DKIM1;", "v=DKIM1; t=y;"),
            "garbage": "v=DKIM1; k=rsa; p=%%%",
        }
        zone = SOA + "".join("%s._domainkey TXT %s\n" % (s, zone_txt(t))
                             for s, t in cls.records.items())
        cls.dns = Nsd({"example.test": zone}).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # helpers

    def sign(self, msg, *keys, now=None, expire=None, chunk="0"):
        args = ["sign", "-c", chunk]
        for sel, path in keys:
            args += ["-k", "example.test:%s:%s" % (sel, path)]
        if now is not None:
            args += ["-t", str(now)]
        if expire is not None:
            args += ["-x", str(expire)]
        return run(args, msg).stdout

    def both(self, msg):
        return self.sign(msg, ("rsa1", self.rsa), ("ed1", self.ed))

    def verify(self, msg, chunk="0", now=None):
        return verify(self.dns.server, msg, chunk, now)

    def dnsfunc(self, name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        sel = name.split("._domainkey.", 1)[0]
        return self.records.get(sel, "").encode() or None

    def dkimpy_verify(self, msg, idx):
        try:
            return dkim.DKIM(msg).verify(idx=idx, dnsfunc=self.dnsfunc)
        except dkim.DKIMException:
            return False

    def dkimpy_rsa_key(self, path):
        """dkimpy wants an RSAPrivateKey (traditional) PEM."""
        return subprocess.run(["openssl", "rsa", "-in", path, "-traditional"], check=True,
                              capture_output=True, timeout=60).stdout

    def dkimpy_ed_key(self):
        """dkimpy wants the Ed25519 seed in base64: the PKCS#8 DER's tail."""
        der = subprocess.run(["openssl", "pkey", "-in", self.ed, "-outform", "DER"],
                             check=True, capture_output=True, timeout=60).stdout
        return base64.b64encode(der[-32:])

    def dkimpy_sign(self, msg, sel, key, alg=b"rsa-sha256", canon=(b"relaxed", b"relaxed"),
                    length=False):
        return dkim.sign(msg, sel.encode(), b"example.test", key, signature_algorithm=alg,
                         canonicalize=canon, length=length,
                         include_headers=[b"from", b"to", b"subject"]) + msg

    def results(self, msg, now=None):
        return [(r, f["s"], f["reason"]) for r, f in self.verify(msg, now=now)[0]]

    # keys and records

    def test_keygen_files(self):
        for path in (self.rsa, self.ed):
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            self.assertEqual(os.stat(os.path.dirname(path)).st_mode & 0o777, 0o700)
        self.assertTrue(self.rsa.endswith("/dkim/example.test/rsa1.key"))
        r = run(["keygen", "rsa", self.rsa], check=False)
        self.assertNotEqual(r.returncode, 0, "an existing key must not be overwritten")
        self.assertIn(b"exists", r.stderr)
        self.assertNotEqual(run(["path", self.tmp, "../etc", "x"], check=False).returncode, 0)
        self.assertRegex(self.ed_txt, r"^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$")
        self.assertTrue(self.rsa_txt.startswith("v=DKIM1; k=rsa; p=MII"))
        zone = run(["txt", self.rsa]).stdout.decode().strip()
        parts = zone[1:-1].split('" "')
        self.assertGreater(len(parts), 1)
        self.assertTrue(all(len(p) <= 255 for p in parts))
        self.assertEqual("".join(parts), self.rsa_txt)

    # interop

    def test_we_sign_dkimpy_and_we_verify(self):
        need_dkimpy()
        signed = self.both(MESSAGE)
        self.assertTrue(signed.endswith(MESSAGE))
        self.assertTrue(self.dkimpy_verify(signed, 0), "rsa-sha256 by dkimpy")
        self.assertTrue(self.dkimpy_verify(signed, 1), "ed25519-sha256 by dkimpy")
        for chunk in CHUNKS:
            self.assertEqual([(r, s) for r, s, _ in self.results(signed)],
                             [("pass", "rsa1"), ("pass", "ed1")], chunk)

    def test_keys_from_data_dir(self):
        """The signer picks the domain's RSA and Ed25519 keys by itself."""
        signed = run(["sign", "-D", self.tmp, "-d", "example.test"], MESSAGE).stdout
        self.assertEqual([(r, s) for r, s, _ in self.results(signed)],
                         [("pass", "rsa1"), ("pass", "ed1")])
        r = run(["sign", "-D", self.tmp, "-d", "nokeys.test"], MESSAGE, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"no usable key", r.stderr)

    def test_signature_shape(self):
        head = self.both(MESSAGE)[:-len(MESSAGE)].decode()
        for line in head.split("\r\n"):
            self.assertLessEqual(len(line), 78)
        self.assertIn("c=relaxed/relaxed", head)
        # From once more than present, the unsigned field left out.
        h = [f for f in head.replace("\r\n\t", " ").split("; ") if f.startswith("h=")][0]
        self.assertEqual(h.split("=", 1)[1].split(":").count("from"), 2)
        self.assertNotIn("x-unsigned", h)

    def test_signing_is_chunking_independent(self):
        a = self.sign(MESSAGE, ("ed1", self.ed), now=1700000000, chunk="1")
        b = self.sign(MESSAGE, ("ed1", self.ed), now=1700000000, chunk="1000000")
        self.assertEqual(a, b)  # Ed25519 is deterministic

    def test_dkimpy_signs_we_verify(self):
        need_dkimpy()
        rsa = self.dkimpy_rsa_key(self.rsa)
        cases = [("rsa1", rsa, b"rsa-sha256", (b"relaxed", b"relaxed")),
                 ("rsa1", rsa, b"rsa-sha256", (b"simple", b"simple")),
                 ("rsa1", rsa, b"rsa-sha256", (b"relaxed", b"simple")),
                 ("ed1", self.dkimpy_ed_key(), b"ed25519-sha256", (b"relaxed", b"relaxed")),
                 ("ed1", self.dkimpy_ed_key(), b"ed25519-sha256", (b"simple", b"simple"))]
        for sel, key, alg, canon in cases:
            signed = self.dkimpy_sign(MESSAGE, sel, key, alg, canon)
            for chunk in CHUNKS:
                res = [(r, s) for r, f in self.verify(signed, chunk)[0] for s in [f["s"]]]
                self.assertEqual(res, [("pass", sel)], (sel, alg, canon, chunk))

    def test_body_length_tag(self):
        need_dkimpy()
        signed = self.dkimpy_sign(MESSAGE, "rsa1", self.dkimpy_rsa_key(self.rsa), length=True)
        self.assertIn(b"l=", signed)
        self.assertEqual(self.results(signed)[0][0], "pass")
        # Content past l= is not covered (RFC 6376 3.5 warns about this).
        self.assertEqual(self.results(signed + b"appended\r\n")[0][0], "pass")
        # Content inside l= is.
        self.assertEqual(self.results(signed.replace(b"noon", b"nine"))[0][0], "fail")

    # failures

    def test_altered_body_and_header_fail(self):
        need_dkimpy()
        signed = self.both(MESSAGE)
        for bad, why in ((signed.replace(b"noon", b"nine"), "body_hash"),
                         (signed.replace(b"Lunch", b"Dinner"), "signature_did_not_verify")):
            res = self.results(bad)
            self.assertEqual([r for r, _, _ in res], ["fail", "fail"])
            self.assertTrue(all(why in reason for _, _, reason in res))
            self.assertFalse(self.dkimpy_verify(bad, 0))
        # A field not in h= may change.
        res = self.results(signed.replace(b"whatever", b"anything"))
        self.assertEqual([r for r, _, _ in res], ["pass", "pass"])

    def test_added_from_fails(self):
        need_dkimpy()
        signed = self.both(MESSAGE)
        for extra in (b"From: Mallory <m@evil.example>\r\n",):
            cut = signed.index(b"From: Alice")
            for bad in (signed[:cut] + extra + signed[cut:],
                        signed.replace(b"\r\n\r\n", b"\r\n" + extra + b"\r\n", 1)):
                self.assertEqual([r for r, _, _ in self.results(bad)], ["fail", "fail"])
                self.assertFalse(self.dkimpy_verify(bad, 0))

    def test_expired_signature_fails(self):
        need_dkimpy()
        # dkimpy allows 10 hours of clock slop; we allow none.
        now = int(time.time())
        signed = self.sign(MESSAGE, ("ed1", self.ed), now=now - 100000, expire=now - 50000)
        self.assertIn(b"x=%d" % (now - 50000), signed)
        res = self.results(signed)
        self.assertEqual(res[0][0], "fail")
        self.assertIn("expired", res[0][2])
        self.assertFalse(self.dkimpy_verify(signed, 0))
        # The same signature before x=: pass.
        self.assertEqual(self.results(signed, now=now - 60000)[0][0], "pass")

    def test_key_problems(self):
        need_dkimpy()
        rsa = self.dkimpy_rsa_key(self.rsa)
        cases = [
            (self.dkimpy_sign(MESSAGE, "revoked", rsa), "fail", "revoked"),
            (self.sign(MESSAGE, ("badtype", self.ed)), "permerror", "k="),
            (self.dkimpy_sign(MESSAGE, "rsa1", rsa, alg=b"rsa-sha1"), "fail", "rsa-sha1"),
            (self.dkimpy_sign(MESSAGE, "short", self.dkimpy_rsa_key(self.short)), "fail",
             "512_bits"),
            (self.sign(MESSAGE, ("nokey", self.ed)), "permerror", "no_key_record"),
            (self.sign(MESSAGE, ("garbage", self.ed)), "permerror", "malformed_key_record"),
        ]
        for msg, want, why in cases:
            res = self.results(msg)
            self.assertEqual(len(res), 1, res)
            self.assertEqual(res[0][0], want, res)
            self.assertIn(why, res[0][2])
        res, _ = self.verify(self.sign(MESSAGE, ("testing", self.ed)))
        self.assertEqual((res[0][0], res[0][1]["testing"]), ("pass", "1"))

    def test_lookup_failure_is_temperror(self):
        # d= outside every zone nsd serves: REFUSED, so SERVFAIL to us.
        signed = self.sign(MESSAGE, ("ed1", self.ed)).replace(b"d=example.test",
                                                               b"d=other.test", 1)
        msg = signed.replace(b"alice@example.test", b"alice@other.test")
        res = self.results(msg)
        self.assertIn(res[0][0], ("temperror",), res)

    def test_cancel_with_lookups_in_flight(self):
        signed = self.both(MESSAGE)
        out = run(["verify", "-r", self.dns.server, "-C"], signed).stdout
        self.assertEqual(out, b"cancelled\n")

    def test_malformed_signatures_are_permerror(self):
        signed = self.sign(MESSAGE, ("ed1", self.ed))
        bads = [signed.replace(b"v=1;", b"v=2;", 1),
                signed.replace(b"bh=", b"bx=", 1),
                signed.replace(b"a=ed25519-sha256", b"a=rot13", 1),
                signed.replace(b"c=relaxed/relaxed", b"c=loose", 1),
                signed.replace(b"s=ed1;", b"s=ed1; s=ed1;", 1),
                signed.replace(b"h=from:from:", b"h=", 1),
                b"DKIM-Signature: garbage\r\n" + MESSAGE,
                b"DKIM-Signature: v=1; a=rsa-sha256; b=%%%\r\n" + MESSAGE]
        for bad in bads:
            res = self.results(bad)
            self.assertEqual(res[0][0], "permerror", (bad[:200], res))
            self.assertIn("malformed_signature", res[0][2])

    def test_many_signatures_are_bounded(self):
        signed = self.sign(MESSAGE, ("ed1", self.ed))
        head = signed[:-len(MESSAGE)]
        res, skipped = self.verify(head * 30 + MESSAGE)
        self.assertEqual(len(res), 8)
        self.assertEqual(skipped, 22)
        self.assertTrue(all(r == "pass" for r, _ in res))

    def test_header_folding_forever_is_bounded(self):
        signed = self.sign(MESSAGE, ("ed1", self.ed))
        fold = b"X-Fold: a\r\n" + b" b\r\n" * 100000  # 400 kB in one field
        res = self.results(signed.replace(b"X-Unsigned", fold + b"X-Unsigned", 1))
        self.assertEqual(res[0][0], "permerror")
        self.assertIn("too_large", res[0][2])
        # Without a body or an empty line at all: still one clean answer.
        res = self.results(signed[:signed.index(b"\r\n\r\n") + 2])
        self.assertEqual(res[0][0], "fail")


if __name__ == "__main__":
    unittest.main()
