"""Mailbox store: kill -9 of the daemon under IMAP load, then `hikyaku
reindex`, against the real daemon over loopback.

- every APPEND the server answered OK (with APPENDUID) is there after the
  SIGKILL, with its UID; an acknowledged STORE and EXPUNGE hold too;
- `hikyaku reindex` on the untouched index keeps UIDs, UIDVALIDITY and
  flags; on a destroyed index it rebuilds every message under a new,
  greater UIDVALIDITY;
- reindex of an unknown account fails cleanly.
The unit test test_mailbox.c kills a store process at random points many
times; this one checks the same promise end to end, through the engine.
"""

import imaplib
import os
import random
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hk  # noqa: E402

ALICE = ("alice@example.test", "alice-secret-1")


class MailboxCrash(hk.InstanceTestCase):
    services = ("smtp", "imaps")

    def imaps(self):
        c = imaplib.IMAP4_SSL(hk.HOST, self.port("imaps"), ssl_context=hk.client_context(),
                              timeout=30)
        c.login(*ALICE)
        return c

    def append(self, c, subject, flags=None):
        msg = hk.make_message(subject=subject, body=b"crash test body\r\n")
        typ, data = c.append("INBOX", flags, None, msg)
        if typ != "OK":
            raise AssertionError("APPEND %s: %r" % (subject, data))
        m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
        self.assertIsNotNone(m, data)
        return int(m.group(1)), int(m.group(2))

    def state(self):
        """{uid: (subject, flags)} of INBOX, and its UIDVALIDITY."""
        c = self.imaps()
        try:
            typ, data = c.select("INBOX")
            self.assertEqual(typ, "OK", data)
            typ, data = c.status("INBOX", "(UIDVALIDITY)")
            uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
            typ, data = c.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])")
            self.assertEqual(typ, "OK", data)
            out = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                subject = item[1].decode().strip().partition(": ")[2]
                out[uid] = (subject, flags.group(1).decode() if flags else "")
            return out, uidvalidity
        finally:
            c.logout()

    def background_appends(self, acked, stop):
        """Appends until the server dies; records what was acknowledged."""
        c = None
        try:
            c = self.imaps()
            for i in range(2000):
                if stop.is_set():
                    break
                subject = "load-%d" % i
                acked[subject] = self.append(c, subject)[1]
        except (OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error, AssertionError):
            pass  # the SIGKILL
        finally:
            if c is not None:
                try:
                    c.shutdown()
                except OSError:
                    pass

    def test_kill9_then_reindex(self):
        c = self.imaps()
        try:
            uids = [self.append(c, "first-%d" % i)[1] for i in range(5)]
            c.select("INBOX")
            typ, data = c.uid("STORE", str(uids[1]), "+FLAGS", "(\\Flagged)")
            self.assertEqual(typ, "OK", data)
            typ, data = c.uid("STORE", str(uids[2]), "+FLAGS", "(\\Deleted)")
            self.assertEqual(typ, "OK", data)
            typ, data = c.expunge()
            self.assertEqual(typ, "OK", data)
        finally:
            c.logout()
        with hk.Raw(self.port("smtp")) as r:
            r.greeting()
            r.ehlo()
            code, _ = r.mail_transaction("sender@remote.test", [ALICE[0]],
                                         hk.make_message(subject="via-smtp", to=ALICE[0]))
            self.assertEqual(code, 250)

        acked, stop = {}, threading.Event()
        t = threading.Thread(target=self.background_appends, args=(acked, stop))
        t.start()
        # Some acknowledged appends first, then SIGKILL at a random moment.
        deadline = time.monotonic() + 30
        while len(acked) < 5 and t.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.uniform(0.0, 0.3))
        self.hk.kill9()
        stop.set()
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertGreaterEqual(len(acked), 5)
        print("killed after %d acknowledged background APPENDs" % len(acked))

        # Restart as is: the store repairs what the crash left.
        self.hk.start()
        before, uidvalidity = self.state()
        self.check_acked(before, uids, acked)
        self.hk.stop()

        p = self.hk.hk("reindex", ALICE[0])
        self.assertIn("reindexed", p.stdout)
        self.hk.start()
        after, uidvalidity2 = self.state()
        self.assertEqual(after, before)
        self.assertEqual(uidvalidity2, uidvalidity)
        self.hk.stop()

        # The index is lost: every message comes back, new UIDVALIDITY.
        maildir = self.hk.maildir(ALICE[0])
        with open(os.path.join(maildir, "index.db"), "wb") as f:
            f.write(b"not a database " * 100)
        for sfx in ("-wal", "-shm"):
            try:
                os.unlink(os.path.join(maildir, "index.db" + sfx))
            except FileNotFoundError:
                pass
        self.hk.hk("reindex", ALICE[0])
        self.hk.start()
        rebuilt, uidvalidity3 = self.state()
        self.assertGreater(uidvalidity3, uidvalidity)
        self.assertEqual(sorted(s for s, _ in rebuilt.values()),
                         sorted(s for s, _ in before.values()))

        p = self.hk.hk("reindex", "nobody@example.test", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("no such account", p.stderr)

    def check_acked(self, state, uids, acked):
        subjects = {s: uid for uid, (s, _) in state.items()}
        self.assertEqual(len(subjects), len(state), "a message is there twice")
        for i, uid in enumerate(uids):
            if i == 2:
                self.assertNotIn("first-2", subjects, "an acknowledged EXPUNGE came back")
                continue
            self.assertEqual(subjects.get("first-%d" % i), uid)
        self.assertIn("\\Flagged", state[uids[1]][1])
        self.assertIn("via-smtp", subjects)
        for subject, uid in acked.items():
            self.assertEqual(subjects.get(subject), uid, "acknowledged %s lost" % subject)


if __name__ == "__main__":
    unittest.main(verbosity=2)
