"""Integration: `hikyaku sendmail` and `hikyaku queue` on a real instance.

sendmail(1) as cron and mail(1) use it: -t (To/Cc/Bcc, Bcc removed), -f,
-i/-oi, recipients as arguments, bare-LF input, malformed addresses
(exit 64 for arguments, 65 for headers), and the argv[0] "sendmail"
symlink. `queue list` shows what was queued, with its recipients;
`queue show` prints envelope and headers; `queue delete` removes it.
Recipients are in remote domains so that nothing is delivered locally.
"""

import os
import re
import time
import unittest

import hk

LIST_LINE = re.compile(r"^([0-9A-F]{14}\.[0-9A-F]{6}\.[0-9A-F]{4}) (\d+) "
                       r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) <([^>]*)>$")


class Sendmail(hk.InstanceTestCase):

    def sendmail(self, args, message, check=True):
        p = self.hk.hk("sendmail", *args, input=message, check=False)
        if check and p.returncode != 0:
            raise AssertionError("sendmail %r exited %d: %s" % (args, p.returncode, p.stderr))
        return p

    def queue(self):
        """{id: (sender, size, [(rcpt, status line)])} from `queue list`."""
        out = self.hk.hk("queue", "list").stdout
        msgs, cur = {}, None
        for line in out.splitlines():
            m = LIST_LINE.match(line)
            if m:
                cur = m.group(1)
                msgs[cur] = (m.group(4), int(m.group(2)), [])
                continue
            self.assertTrue(line.startswith("  <") and cur, "unexpected list line %r" % line)
            rcpt = line[3:line.index(">")]
            msgs[cur][2].append((rcpt, line))
        return msgs

    def new_ids(self, before):
        return [i for i in self.queue() if i not in before]

    def message_file(self, qid):
        with open(os.path.join(self.hk.data_dir, "queue", "msg", qid), "rb") as f:
            return f.read()

    def test_t_extracts_and_drops_bcc(self):
        before = self.queue()
        msg = ("From: Alice <alice@example.test>\nTo: Bob <bob@remote.test>, carol@remote.test\n"
               "Cc: \"D, E\" <dave@other.test> (comment)\nBcc: hidden@other.test\n"
               "Subject: t-test\n\nhello\n")
        self.sendmail(["-t", "-f", "alice@example.test"], msg)
        ids = self.new_ids(before)
        self.assertEqual(len(ids), 1)
        sender, size, rcpts = self.queue()[ids[0]]
        self.assertEqual(sender, "alice@example.test")
        self.assertEqual(sorted(r for r, _ in rcpts),
                         ["bob@remote.test", "carol@remote.test", "dave@other.test",
                          "hidden@other.test"])
        for _, line in rcpts:
            self.assertIn("status=pending", line)
        data = self.message_file(ids[0])
        self.assertEqual(size, len(data))
        self.assertNotIn(b"hidden@other.test", data)
        self.assertNotIn(b"Bcc:", data)
        self.assertTrue(data.startswith(b"Received: by mx.example.test (hikyaku sendmail"), data[:80])
        for h in (b"\r\nDate: ", b"\r\nMessage-ID: <", b"\r\nFrom: Alice <alice@example.test>\r\n"):
            self.assertIn(h, data)
        self.assertTrue(data.endswith(b"\r\n\r\nhello\r\n"), data[-40:])
        self.assertNotRegex(data.replace(b"\r\n", b""), rb"[\r\n]", "bare CR/LF stored")

    def test_args_and_default_headers(self):
        before = self.queue()
        self.sendmail(["-f", "bob@example.test", "-F", "Bob B", "x@remote.test", "y@remote.test"],
                      "Subject: args\n\nbody\n")
        ids = self.new_ids(before)
        self.assertEqual(len(ids), 1)
        sender, _, rcpts = self.queue()[ids[0]]
        self.assertEqual(sender, "bob@example.test")
        self.assertEqual([r for r, _ in rcpts], ["x@remote.test", "y@remote.test"])
        data = self.message_file(ids[0])
        self.assertIn(b"\r\nFrom: \"Bob B\" <bob@example.test>\r\n", data)
        self.assertIn(("Message-ID: <%s@mx.example.test>" % ids[0]).encode(), data)

    def test_dot_handling(self):
        before = self.queue()
        self.sendmail(["-i", "a@remote.test"], "Subject: dot-i\n\nline\n.\nafter\n")
        self.sendmail(["-oi", "a@remote.test"], "Subject: dot-oi\n\nline\n.\nafter\n")
        self.sendmail(["a@remote.test"], "Subject: dot-end\n\nline\n.\nafter\n")
        got = {}
        for qid in self.new_ids(before):
            data = self.message_file(qid)
            subj = re.search(rb"Subject: (dot-\w+)", data).group(1).decode()
            got[subj] = data
        self.assertEqual(sorted(got), ["dot-end", "dot-i", "dot-oi"])
        self.assertTrue(got["dot-i"].endswith(b"line\r\n.\r\nafter\r\n"))
        self.assertTrue(got["dot-oi"].endswith(b"line\r\n.\r\nafter\r\n"))
        self.assertTrue(got["dot-end"].endswith(b"\r\n\r\nline\r\n"))

    def test_bad_addresses(self):
        before = self.queue()
        p = self.sendmail(["bad@@remote.test"], "Subject: x\n\nb\n", check=False)
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertIn("bad@@remote.test", p.stderr)
        self.assertIn("bad address", p.stderr)
        p = self.sendmail(["-t"], "To: <broken@>\nSubject: x\n\nb\n", check=False)
        self.assertEqual(p.returncode, 65, p.stderr)
        self.assertIn("broken@", p.stderr)
        p = self.sendmail(["-t"], "Subject: nobody\n\nb\n", check=False)
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertIn("no recipients", p.stderr)
        p = self.sendmail(["-f", "a b@c", "x@remote.test"], "Subject: x\n\nb\n", check=False)
        self.assertEqual(p.returncode, 64, p.stderr)
        p = self.sendmail(["-bs"], "", check=False)
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertEqual(self.new_ids(before), [], "a refused message was queued")

    def test_argv0_sendmail(self):
        link = os.path.join(self.hk.tmp, "sendmail")
        if not os.path.exists(link):
            os.symlink(self.hk.bin, link)
        before = self.queue()
        import subprocess
        p = subprocess.run([link, "-c", self.hk.conf_file, "-oi", "-t"],
                           input="To: z@remote.test\nSubject: argv0\n\nb\n",
                           capture_output=True, text=True, timeout=60)
        hk.check_sanitizer_text(p.stderr, "sendmail symlink")
        self.assertEqual(p.returncode, 0, p.stderr)
        ids = self.new_ids(before)
        self.assertEqual(len(ids), 1)
        self.assertEqual([r for r, _ in self.queue()[ids[0]][2]], ["z@remote.test"])

    def test_show_and_delete(self):
        before = self.queue()
        self.sendmail(["-f", "alice@example.test", "del@remote.test"], "Subject: to-delete\n\nb\n")
        ids = self.new_ids(before)
        self.assertEqual(len(ids), 1)
        qid = ids[0]
        out = self.hk.hk("queue", "show", qid).stdout
        self.assertIn("id %s\n" % qid, out)
        self.assertIn("rcpt del@remote.test\n", out)
        self.assertIn("Subject: to-delete", out)
        self.hk.hk("queue", "delete", qid, check=False)
        deadline = time.monotonic() + 15
        while qid in self.queue() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertNotIn(qid, self.queue())
        self.assertFalse(os.path.exists(os.path.join(self.hk.data_dir, "queue", "msg", qid)))
        p = self.hk.hk("queue", "show", qid, check=False)
        self.assertEqual(p.returncode, 1)
        p = self.hk.hk("queue", "delete", "../../etc", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a queue id", p.stderr)

    # ---- users who may not write the spool: the maildrop

    def as_user(self, uid, argv, **kw):
        """Run argv as an ordinary uid (not root, not run_user)."""
        import subprocess
        setpriv = hk.require_tool("setpriv")
        return subprocess.run([setpriv, "--reuid=%d" % uid, "--regid=%d" % uid,
                               "--clear-groups", "--"] + argv,
                              capture_output=True, timeout=60, **kw)

    def need_root(self):
        if os.geteuid() != 0:
            if hk.ALLOW_SKIP:
                self.skipTest("needs root to run sendmail as another user")
            raise AssertionError("the maildrop test needs root (to act as another user)")

    def wait_new_ids(self, before, n=1, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.new_ids(before)
            if len(ids) >= n:
                return ids
            time.sleep(0.1)
        return self.new_ids(before)

    def test_maildrop_ordinary_user(self):
        self.need_root()
        uid = 4242
        drop = os.path.join(self.hk.data_dir, "maildrop")
        self.assertEqual(os.stat(drop).st_mode & 0o7777, 0o1733)
        before = self.queue()
        p = self.as_user(uid, [self.hk.bin, "sendmail", "-c", self.hk.conf_file, "-oi",
                               "-f", "cron@example.test", "ops@remote.test"],
                         input=b"Subject: from cron\n\nnightly job done\n")
        hk.check_sanitizer_text(p.stderr.decode(), "sendmail as uid %d" % uid)
        self.assertEqual(p.returncode, 0, p.stderr)
        ids = self.wait_new_ids(before)
        self.assertEqual(len(ids), 1, self.hk.logs()[-3000:])
        sender, _, rcpts = self.queue()[ids[0]]
        self.assertEqual(sender, "cron@example.test")
        self.assertEqual([r for r, _ in rcpts], ["ops@remote.test"])
        data = self.message_file(ids[0])
        # The daemon vouches for the uid from the file's owner.
        self.assertRegex(data, rb"^Received: by \S+ \(hikyaku pickup, from userid 4242\)")
        self.assertEqual(data.count(b"Received:"), 1, data)
        self.assertIn(b"\r\nSubject: from cron\r\n", data)
        self.assertTrue(data.endswith(b"\r\n\r\nnightly job done\r\n"), data)
        self.assertEqual([f for f in os.listdir(drop) if not f.endswith(".tmp")], [])
        # The user can drop files but not list the directory.
        self.assertNotEqual(self.as_user(uid, ["/bin/ls", drop]).returncode, 0)

    def test_maildrop_rejects_forgeries(self):
        self.need_root()
        uid = 4243
        drop = os.path.join(self.hk.data_dir, "maildrop")
        before = self.queue()
        bad = {"0" * 31 + "1": b"garbage\n",
               "0" * 31 + "2": (b"hikyaku-queue 1\nid 00000000000000.000000.0000\narrival 0\n"
                                b"sender <>\nflags\nrcpt not an address\nstatus pending\n"
                                b"attempts 0\nnext 0\nend\n\nbody\r\n")}
        for name, content in bad.items():
            script = "import sys; open(sys.argv[1], 'wb').write(sys.stdin.buffer.read())"
            p = self.as_user(uid, ["/usr/bin/python3", "-c", script, os.path.join(drop, name)],
                             input=content)
            self.assertEqual(p.returncode, 0, p.stderr)
        for name in bad:
            self.assertTrue(self.hk.wait_log(r"event=pickup-reject file=%s " % name, 70),
                            self.hk.logs()[-3000:])
        self.assertEqual(self.new_ids(before), [])
        self.assertEqual(sorted(os.listdir(drop)), [])

if __name__ == "__main__":
    unittest.main()
