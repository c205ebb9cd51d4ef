"""Integration: the real daemon driven by real command-line clients:
swaks, curl and `openssl s_client -starttls smtp`. A missing tool fails the
test unless HIKYAKU_ALLOW_SKIP=1."""

import os
import queue
import subprocess
import threading
import time
import unittest

import hk

ALICE = ("alice@example.test", "alice-secret-1")
BOB = ("bob@example.test", "bob-secret-2")


def run(cmd, input=None, timeout=60):
    p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


class Clients(hk.InstanceTestCase):

    def check_delivered(self, rcpt, tag, proto, tls=True):
        data = self.hk.find_message(rcpt, tag)
        self.assertIsNotNone(data, "%s not delivered to %s" % (tag, rcpt))
        rcv = hk.received_header(data)
        self.assertIn("by mx.example.test", rcv)
        if proto == "ESMTP":
            self.assertRegex(rcv, r"with ESMTP(?![SA])")
        else:
            self.assertIn("with " + proto, rcv)
        if tls:
            self.assertRegex(rcv, r"TLSv1\.[23]")
            self.assertRegex(rcv, r"cipher \S+")
        return data

    # ---- swaks

    def swaks(self, port, *args):
        swaks = hk.require_tool("swaks")
        tag = "swaks-%d" % time.time_ns()
        cmd = [swaks, "--server", hk.HOST, "--port", str(port), "--helo", "client.example.net",
               "--header", "Subject: " + tag, "--body", "Hello from swaks.\n", "--timeout", "30"]
        rc, out = run(cmd + list(args))
        return rc, out, tag

    def test_swaks_starttls_25(self):
        rc, out, tag = self.swaks(self.port("smtp"), "--tls", "--from", "x@remote.test",
                                  "--to", ALICE[0])
        self.assertEqual(rc, 0, out)
        self.check_delivered(ALICE[0], tag, "ESMTPS")

    def test_swaks_plain_pipeline_25(self):
        rc, out, tag = self.swaks(self.port("smtp"), "--pipeline", "--from", "x@remote.test",
                                  "--to", ALICE[0] + "," + BOB[0])
        self.assertEqual(rc, 0, out)
        self.check_delivered(ALICE[0], tag, "ESMTP", tls=False)
        self.check_delivered(BOB[0], tag, "ESMTP", tls=False)

    def test_swaks_starttls_pipeline_25(self):
        rc, out, tag = self.swaks(self.port("smtp"), "--tls", "--pipeline", "--from", "x@remote.test",
                                  "--to", BOB[0])
        self.assertEqual(rc, 0, out)
        self.check_delivered(BOB[0], tag, "ESMTPS")

    def test_swaks_relay_refused_25(self):
        rc, out, _ = self.swaks(self.port("smtp"), "--tls", "--from", "x@remote.test",
                                "--to", "victim@other.test")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("550 5.7.1", out)

    def test_swaks_submission_auth_plain(self):
        rc, out, tag = self.swaks(self.port("submission"), "--tls", "--auth", "PLAIN",
                                  "--auth-user", ALICE[0], "--auth-password", ALICE[1],
                                  "--from", ALICE[0], "--to", BOB[0])
        self.assertEqual(rc, 0, out)
        self.check_delivered(BOB[0], tag, "ESMTPSA")

    def test_swaks_submission_auth_login_pipeline(self):
        rc, out, tag = self.swaks(self.port("submission"), "--tls", "--pipeline", "--auth", "LOGIN",
                                  "--auth-user", BOB[0], "--auth-password", BOB[1],
                                  "--from", BOB[0], "--to", ALICE[0])
        self.assertEqual(rc, 0, out)
        self.check_delivered(ALICE[0], tag, "ESMTPSA")

    def test_swaks_submissions_tlsc(self):
        rc, out, tag = self.swaks(self.port("submissions"), "--tlsc", "--auth", "PLAIN",
                                  "--auth-user", ALICE[0], "--auth-password", ALICE[1],
                                  "--from", ALICE[0], "--to", ALICE[0])
        self.assertEqual(rc, 0, out)
        self.check_delivered(ALICE[0], tag, "ESMTPSA")

    def test_swaks_submission_without_tls_fails(self):
        n = self.hk.count(BOB[0])
        rc, out, _ = self.swaks(self.port("submission"), "--auth", "PLAIN",
                                "--auth-user", ALICE[0], "--auth-password", ALICE[1],
                                "--from", ALICE[0], "--to", BOB[0])
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(self.hk.count(BOB[0]), n)

    def test_swaks_bad_password(self):
        rc, out, _ = self.swaks(self.port("submission"), "--tls", "--auth", "PLAIN",
                                "--auth-user", ALICE[0], "--auth-password", "wrong",
                                "--from", ALICE[0], "--to", BOB[0])
        self.assertNotEqual(rc, 0, out)
        self.assertIn("535 5.7.8", out)

    # ---- curl

    def curl(self, url, rcpts, sender, *args):
        curl = hk.require_tool("curl")
        tag = "curl-%d" % time.time_ns()
        msg = hk.make_message(subject=tag, sender=sender, to=rcpts[0],
                              body=b"Hello from curl.\r\n.a line with a leading dot\r\n")
        path = os.path.join(self.hk.tmp, tag + ".eml")
        with open(path, "wb") as f:
            f.write(msg)
        cmd = [curl, "-sS", "--max-time", "30", url, "--mail-from", sender, "--upload-file", path]
        for r in rcpts:
            cmd += ["--mail-rcpt", r]
        rc, out = run(cmd + list(args))
        return rc, out, tag, msg

    def test_curl_starttls_25(self):
        rc, out, tag, msg = self.curl("smtp://%s:%d" % (hk.HOST, self.port("smtp")), [ALICE[0]],
                                      "x@remote.test", "--ssl-reqd", "-k")
        self.assertEqual(rc, 0, out)
        data = self.check_delivered(ALICE[0], tag, "ESMTPS")
        self.assertEqual(hk.split_received(data)[1], msg, "curl message not stored byte-exact")

    def test_curl_starttls_25_verified(self):
        port = self.port("smtp")
        rc, out, tag, _ = self.curl("smtp://%s:%d" % (hk.MYHOSTNAME, port), [BOB[0]], "x@remote.test",
                                    "--ssl-reqd", "--cacert", self.hk.cert,
                                    "--resolve", "%s:%d:%s" % (hk.MYHOSTNAME, port, hk.HOST))
        self.assertEqual(rc, 0, out)
        self.check_delivered(BOB[0], tag, "ESMTPS")

    def test_curl_submission_auth(self):
        for mech in ("PLAIN", "LOGIN"):
            rc, out, tag, _ = self.curl("smtp://%s:%d" % (hk.HOST, self.port("submission")), [BOB[0]],
                                        ALICE[0], "--ssl-reqd", "-k", "-u", "%s:%s" % ALICE,
                                        "--login-options", "AUTH=" + mech)
            self.assertEqual(rc, 0, mech + ": " + out)
            self.check_delivered(BOB[0], tag, "ESMTPSA")

    def test_curl_smtps(self):
        port = self.port("submissions")
        rc, out, tag, _ = self.curl("smtps://%s:%d" % (hk.MYHOSTNAME, port), [ALICE[0], BOB[0]],
                                    BOB[0], "-u", "%s:%s" % BOB, "--cacert", self.hk.cert,
                                    "--resolve", "%s:%d:%s" % (hk.MYHOSTNAME, port, hk.HOST))
        self.assertEqual(rc, 0, out)
        self.check_delivered(ALICE[0], tag, "ESMTPSA")
        self.check_delivered(BOB[0], tag, "ESMTPSA")

    def test_curl_smtps_insecure(self):
        rc, out, tag, _ = self.curl("smtps://%s:%d" % (hk.HOST, self.port("submissions")), [ALICE[0]],
                                    ALICE[0], "-k", "-u", "%s:%s" % ALICE)
        self.assertEqual(rc, 0, out)
        self.check_delivered(ALICE[0], tag, "ESMTPSA")

    def test_curl_submission_refusals(self):
        n = self.hk.count(BOB[0])
        # no TLS: AUTH is not offered, MAIL is refused
        rc, out, _, _ = self.curl("smtp://%s:%d" % (hk.HOST, self.port("submission")), [BOB[0]],
                                  ALICE[0], "-u", "%s:%s" % ALICE)
        self.assertNotEqual(rc, 0, out)
        # someone else's sender address
        rc, out, _, _ = self.curl("smtp://%s:%d" % (hk.HOST, self.port("submission")), [BOB[0]],
                                  BOB[0], "--ssl-reqd", "-k", "-u", "%s:%s" % ALICE)
        self.assertNotEqual(rc, 0, out)
        # no AUTH: nothing for another domain (no open relay)
        rc, out, _, _ = self.curl("smtps://%s:%d" % (hk.HOST, self.port("submissions")),
                                  ["friend@other.test"], ALICE[0], "-k")
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(self.hk.count(BOB[0]), n)

    # ---- openssl s_client

    def s_client(self, port, starttls):
        openssl = hk.require_tool("openssl")
        cmd = [openssl, "s_client", "-connect", "%s:%d" % (hk.HOST, port), "-servername", hk.MYHOSTNAME,
               "-crlf", "-quiet"]
        if starttls:
            cmd[2:2] = ["-starttls", "smtp", "-name", "client.example.net"]
        return SClient(cmd)

    def test_openssl_s_client_starttls_25(self):
        tag = "s_client-%d" % time.time_ns()
        with self.s_client(self.port("smtp"), True) as c:
            # EHLO is required again inside TLS
            self.assertEqual(c.cmd("MAIL FROM:<x@remote.test>")[0], 503)
            code, lines = c.cmd("EHLO client.example.net")
            self.assertEqual(code, 250)
            self.assertNotIn("STARTTLS", " ".join(lines).upper())
            self.assertEqual(c.cmd("STARTTLS")[0], 503)
            self.assertEqual(c.cmd("MAIL FROM:<x@remote.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % ALICE[0])[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<victim@other.test>")[0], 550)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send("Subject: %s\n\nHello from openssl s_client.\n..dot-stuffed line\n" % tag)
            self.assertEqual(c.cmd(".")[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        data = self.check_delivered(ALICE[0], tag, "ESMTPS")
        self.assertIn(b"\r\n.dot-stuffed line\r\n", data)

    def test_openssl_s_client_submissions(self):
        tag = "s_client465-%d" % time.time_ns()
        with self.s_client(self.port("submissions"), False) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.example.net")[0], 250)
            self.assertEqual(c.cmd("AUTH PLAIN " + hk.plain_token(*BOB))[0], 235)
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % BOB[0])[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % ALICE[0])[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send("Subject: %s\n\nHello over implicit TLS.\n" % tag)
            self.assertEqual(c.cmd(".")[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        self.check_delivered(ALICE[0], tag, "ESMTPSA")

    def test_openssl_s_client_submission_starttls(self):
        with self.s_client(self.port("submission"), True) as c:
            code, lines = c.cmd("EHLO client.example.net")
            self.assertEqual(code, 250)
            self.assertIn("AUTH", " ".join(lines).upper())
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % ALICE[0])[0], 530)
            self.assertEqual(c.cmd("AUTH PLAIN " + hk.plain_token(ALICE[0], "bad"))[0], 535)
            self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
            self.assertEqual(c.cmd(hk.b64(ALICE[0]))[0], 334)
            self.assertEqual(c.cmd(hk.b64(ALICE[1]))[0], 235)
            self.assertEqual(c.cmd("QUIT")[0], 221)


class SClient:
    """Drive `openssl s_client ... -crlf -quiet` line by line: stdin lines
    in, server reply lines out of stdout (read by a thread, bounded waits)."""

    def __init__(self, cmd):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.err = b""
        self.et = threading.Thread(target=self._read_err, daemon=True)
        self.et.start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line.decode("utf-8", "replace").rstrip("\r\n"))
        self.q.put(None)

    def _read_err(self):
        self.err = self.p.stderr.read()

    def send(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def reply(self, timeout=20):
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("s_client: no reply; have %r; stderr %r" % (lines, self.err[-500:]))
            if line is None:
                raise AssertionError("s_client: connection closed; have %r; stderr %r" % (lines, self.err[-500:]))
            if len(line) < 4 or not line[:3].isdigit():
                continue  # s_client chatter
            lines.append(line)
            if line[3] == " ":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\n")
        return self.reply()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.t.join(timeout=5)
        self.et.join(timeout=5)
        self.p.stdout.close()
        self.p.stderr.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
