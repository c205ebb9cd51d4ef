"""Integration: the IMAP server (imap_listen with STARTTLS, imaps_listen
with implicit TLS) driven by real independent clients: curl, fetchmail and
mbsync (isync), with Python imaplib as the observer. Mail comes in over
SMTP (smtplib to the same instance) and must come back byte-identical to
the Maildir file. A missing tool fails the test unless
HIKYAKU_ALLOW_SKIP=1."""

import imaplib
import os
import re
import smtplib
import stat
import subprocess
import time
import unittest

import hk

PASSWORD = "imap-secret-%d"
USERS = {"i%d@example.test" % i: PASSWORD % i for i in range(1, 9)}


def strip_fetchmail_trace(msg):
    """The message fetchmail gave its MDA, without the Received field it
    inserted (it goes before the first Received, not on top)."""
    return re.sub(rb"Received: from [^\n]*\n(?:[ \t][^\n]*\n)*",
                  lambda m: b"" if b"(fetchmail-" in m.group(0) else m.group(0), msg)


def no_tuid(msg):
    """Without the X-TUID field mbsync adds to messages it copies (its
    own bookkeeping, RFC 822 header syntax, any line end)."""
    return re.sub(rb"(?m)^X-TUID: [^\r\n]*\r?\n", b"", msg)


def run(cmd, timeout=120, env=None):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


class ImapClients(hk.InstanceTestCase):

    services = ("smtp", "imap", "imaps")
    users = USERS

    # ---- helpers

    def user(self, n):
        addr = "i%d@example.test" % n
        return addr, USERS[addr]

    def send(self, rcpt, tag, body=None):
        msg = hk.make_message(subject=tag, to=rcpt, body=body)
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=60) as s:
            s.sendmail("sender@remote.test", [rcpt], msg)
        data = self.hk.find_message(rcpt, tag, timeout=15)
        self.assertIsNotNone(data, "%s not delivered" % tag)
        return data

    def imap(self, addr, pw):
        m = imaplib.IMAP4_SSL(hk.HOST, self.port("imaps"), ssl_context=hk.client_context(),
                              timeout=60)
        m.login(addr, pw)
        return m

    def server_flags(self, addr, pw):
        """{subject tag: set of flags} of the INBOX, seen over IMAP."""
        m = self.imap(addr, pw)
        try:
            m.select("INBOX")
            typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual(typ, "OK")
            out = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
                subj = item[1].decode().split(":", 1)[1].strip()
                out[subj] = flags
            return out
        finally:
            m.logout()

    def files(self, addr):
        return [d for _, d in self.hk.messages(addr)]

    # ---- curl

    def test_curl_imap_starttls_and_imaps(self):
        curl = hk.require_tool("curl")
        addr, pw = self.user(1)
        tag = "curl-%d" % time.time_ns()
        stored = self.send(addr, tag, body=b"curl body\r\n.dotted\r\n")
        base = [curl, "-sS", "--max-time", "60", "-u", "%s:%s" % (addr, pw)]
        port, ports = self.port("imap"), self.port("imaps")
        rc, out, err = run(base + ["--ssl-reqd", "-k", "imap://%s:%d/" % (hk.HOST, port)])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.decode(), r'(?m)^\* LIST \([^)]*\) "/" "?INBOX"?\r?$')
        rc, out, err = run(base + ["--ssl-reqd", "-k",
                                   "imap://%s:%d/INBOX;MAILINDEX=1" % (hk.HOST, port)])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, stored)
        rc, out, err = run(base + ["--cacert", self.hk.cert, "--resolve",
                                   "%s:%d:%s" % (hk.MYHOSTNAME, ports, hk.HOST),
                                   "imaps://%s:%d/INBOX;UID=1" % (hk.MYHOSTNAME, ports)])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, stored)
        # No TLS, no login (LOGINDISABLED): curl must fail.
        rc, out, err = run(base + ["imap://%s:%d/INBOX;UID=1" % (hk.HOST, port)])
        self.assertNotEqual(rc, 0, out)

    # ---- fetchmail

    def fetchmail(self, addr, pw, port, mode):
        return hk.fetchmail(self.hk, addr, pw, port, "IMAP", mode)

    def test_fetchmail_imaps_and_starttls(self):
        for i, (port, mode) in enumerate(((self.port("imaps"), "ssl"),
                                          (self.port("imap"), 'sslproto "TLS1.2+"'))):
            addr, pw = self.user(2 + i)
            tags = ["fm%d-%d-%d" % (i, k, time.time_ns()) for k in range(2)]
            stored = [self.send(addr, t, body=b"fetch me\r\n.dotted\r\n") for t in tags]
            rc, log, got = self.fetchmail(addr, pw, port, mode)
            self.assertEqual(rc, 0, log)
            self.assertEqual(len(got), len(stored), log)
            # fetchmail hands the MDA LF line ends and inserts its own
            # Received field; without it the message must be intact.
            got = [strip_fetchmail_trace(g) for g in got]
            for data in stored:
                self.assertIn(data.replace(b"\r\n", b"\n"), got, log)
            # nokeep: \Deleted and EXPUNGE on the server.
            self.assertEqual(self.files(addr), [], log)

    # ---- mbsync (isync)

    def mbsync_setup(self, addr, pw):
        home = os.path.join(self.hk.tmp, "mbsync-%d" % time.time_ns())
        local = os.path.join(home, "mail")
        os.makedirs(local, 0o700)
        rc_file = os.path.join(home, "mbsyncrc")
        with open(rc_file, "w") as f:
            # mbsync checks the certificate against Host by DNS name only,
            # and the test has no DNS name for 127.0.0.1: openssl s_client
            # makes the TLS connection (imaps port) and verifies the chain
            # and the name mx.example.test; mbsync speaks IMAP through it.
            f.write("IMAPAccount hk\nUser %s\nPass %s\nTimeout 60\n"
                    "Tunnel \"openssl s_client -quiet -nocommands -connect %s:%d -servername %s "
                    "-CAfile %s -verify_return_error -verify_hostname %s\"\n\n"
                    "IMAPStore hk-remote\nAccount hk\n\n"
                    "MaildirStore hk-local\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
                    "Channel hk\nFar :hk-remote:\nNear :hk-local:\nPatterns INBOX\n"
                    "Create Both\nExpunge Both\nSyncState *\nSync All\n"
                    % (addr, pw, hk.HOST, self.port("imaps"), hk.MYHOSTNAME, self.hk.cert,
                       hk.MYHOSTNAME, local, local))
        os.chmod(rc_file, stat.S_IRUSR | stat.S_IWUSR)
        return home, rc_file, os.path.join(local, "INBOX")

    def mbsync(self, home, rc_file):
        mbsync = hk.require_tool("mbsync")
        env = dict(os.environ, HOME=home)
        rc, out, err = run([mbsync, "-c", rc_file, "-V", "hk"], env=env)
        self.assertEqual(rc, 0, err + out.decode("utf-8", "replace"))
        return err

    def local_messages(self, inbox):
        """{subject tag: (path, bytes, maildir flags)} of the local INBOX."""
        out = {}
        for sub in ("new", "cur"):
            d = os.path.join(inbox, sub)
            for n in os.listdir(d) if os.path.isdir(d) else ():
                p = os.path.join(d, n)
                with open(p, "rb") as f:
                    data = f.read()
                subj = re.search(rb"(?m)^Subject: (\S+)", data).group(1).decode()
                flags = n.split(":2,", 1)[1] if ":2," in n else ""
                out[subj] = (p, data, flags)
        return out

    def test_mbsync_two_way(self):
        addr, pw = self.user(5)
        t1, t2 = "mb1-%d" % time.time_ns(), "mb2-%d" % time.time_ns()
        s1, s2 = self.send(addr, t1), self.send(addr, t2)
        home, rc_file, inbox = self.mbsync_setup(addr, pw)

        # Server -> local: both messages, byte-identical but for the line
        # ends (mbsync keeps local Maildir files with LF, as Unix does).
        self.mbsync(home, rc_file)
        local = self.local_messages(inbox)
        self.assertEqual(no_tuid(local[t1][1]), s1.replace(b"\r\n", b"\n"))
        self.assertEqual(no_tuid(local[t2][1]), s2.replace(b"\r\n", b"\n"))

        # Local -> server: a flag (Seen on t1) and a new message.
        p, _, flags = local[t1]
        base = p.split(":2,", 1)[0]
        os.rename(p, os.path.join(inbox, "cur", os.path.basename(base) + ":2," + "".join(
            sorted(set(flags + "S")))))
        t3 = "mb3-%d" % time.time_ns()
        new_msg = hk.make_message(subject=t3, to=addr, body=b"written locally\r\n")
        with open(os.path.join(inbox, "new", "%d.local.hk" % time.time_ns()), "wb") as f:
            f.write(new_msg.replace(b"\r\n", b"\n"))
        self.mbsync(home, rc_file)
        flags = self.server_flags(addr, pw)
        self.assertIn("\\Seen", flags[t1])
        self.assertNotIn("\\Seen", flags[t2])
        self.assertIn(t3, flags)
        stored3 = self.hk.find_message(addr, t3)
        self.assertEqual(no_tuid(stored3), new_msg)

        # Server -> local: a flag set over IMAP.
        m = self.imap(addr, pw)
        try:
            m.select("INBOX")
            typ, data = m.search(None, "SUBJECT", t2)
            self.assertEqual(typ, "OK")
            m.store(data[0].decode(), "+FLAGS", "(\\Flagged)")
        finally:
            m.logout()
        self.mbsync(home, rc_file)
        self.assertIn("F", self.local_messages(inbox)[t2][2])

        # Local deletion (T flag + Expunge Both) removes it on the server.
        p, _, flags = self.local_messages(inbox)[t1]
        os.rename(p, p.split(":2,", 1)[0] + ":2," + "".join(sorted(set(flags + "T"))))
        self.mbsync(home, rc_file)
        self.assertNotIn(t1, self.server_flags(addr, pw))
        self.assertFalse([d for d in self.files(addr) if t1.encode() in d])
        self.assertTrue([d for d in self.files(addr) if t2.encode() in d])


if __name__ == "__main__":
    unittest.main(verbosity=2)
