"""Integration: the IMAP server of the real daemon (143 with STARTTLS, 993
with implicit TLS), driven by Python's imaplib and by raw sockets for what
imaplib cannot send (pipelined STARTTLS injection, LITERAL+, malformed
commands, IDLE). Mail is delivered by smtplib to the same instance, and
what IMAP serves is compared with the Maildir files byte for byte."""

import imaplib
import os
import random
import re
import smtplib
import socket
import ssl
import time
import unittest

import hk

ALICE = ("alice@example.test", "alice-secret-1")
BOB = ("bob@example.test", "bob-secret-2")


class ImapRaw(hk.LineSocket):
    """IMAP on a raw socket (hk.LineSocket): exact bytes out, lines in."""

    def __init__(self, port, tls=False, timeout=20.0):
        super().__init__(port, timeout=timeout, tls_context=hk.client_context() if tls else None)

    def until_tagged(self, tag):
        """Lines up to and including the tagged response; returns (untagged, tagged)."""
        out = []
        while True:
            l = self.line()
            if l.startswith(tag + " "):
                return out, l
            out.append(l)

    def cmd(self, tag, text):
        self.send("%s %s\r\n" % (tag, text))
        return self.until_tagged(tag)

    def greeting(self):
        l = self.line()
        assert l.startswith("* OK"), l
        return l

    def starttls(self):
        _, t = self.cmd("s1", "STARTTLS")
        assert t.startswith("s1 OK"), t
        assert not self.buf, "bytes after the STARTTLS OK: %r" % self.buf
        self.sock = hk.client_context().wrap_socket(self.sock, server_hostname=hk.MYHOSTNAME)

    def login(self, user, password):
        _, t = self.cmd("l1", 'LOGIN "%s" "%s"' % (user, password))
        assert t.startswith("l1 OK"), t

    def read_eof(self, timeout=10.0):
        data = self.buf
        self.buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                return data
            except socket.timeout:
                continue
            if not chunk:
                return data
            data += chunk
        raise TimeoutError("peer did not close; got %r" % data[:300])


class Imap(hk.InstanceTestCase):
    services = ("smtp", "imap", "imaps")

    # ---- helpers

    def imap143(self):
        c = imaplib.IMAP4(hk.HOST, self.port("imap"), timeout=30)
        return c

    def imap143_tls(self):
        c = self.imap143()
        c.starttls(ssl_context=hk.client_context())
        return c

    def imaps(self, user=ALICE):
        c = imaplib.IMAP4_SSL(hk.HOST, self.port("imaps"), ssl_context=hk.client_context(),
                              timeout=30)
        if user:
            c.login(*user)
        return c

    def raw(self, tls=True, login=ALICE):
        r = ImapRaw(self.port("imaps") if tls else self.port("imap"), tls=tls)
        r.greeting()
        if login:
            r.login(*login)
        return r

    def deliver(self, to, subject, body=b"Hello over SMTP.\r\n"):
        msg = hk.make_message(subject=subject, to=to, body=body)
        with smtplib.SMTP(hk.HOST, self.port("smtp"), timeout=30) as s:
            s.ehlo("client.example.net")
            s.sendmail("sender@remote.test", [to], msg)
        return msg

    def append(self, c, mailbox, subject, flags=None, date=None, body=b"Body line.\r\n"):
        msg = hk.make_message(subject=subject, body=body)
        typ, data = c.append(mailbox, flags, date, msg)
        self.assertEqual(typ, "OK", data)
        m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
        self.assertIsNotNone(m, data)
        return msg, int(m.group(2))

    def fresh_mailbox(self, c, name):
        typ, data = c.create(name)
        self.assertEqual(typ, "OK", data)
        return name

    # ---- 143 before TLS

    def test_143_capabilities_before_tls(self):
        c = self.imap143()
        try:
            caps = c.capabilities
            self.assertIn("STARTTLS", caps)
            self.assertIn("LOGINDISABLED", caps)
            self.assertIn("IMAP4REV2", caps)
            for cap in ("IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE", "NAMESPACE", "LITERAL+",
                        "ENABLE", "SASL-IR", "UNSELECT", "ID", "BINARY", "IMAP4REV1"):
                self.assertIn(cap, caps)
            self.assertFalse([x for x in caps if x.startswith("AUTH=")], caps)
            with self.assertRaises(imaplib.IMAP4.error) as e:
                c.login(*ALICE)
            self.assertIn("PRIVACYREQUIRED", str(e.exception))
            typ, data = c._simple_command("AUTHENTICATE", "PLAIN", hk.plain_token(*ALICE))
            self.assertEqual(typ, "NO", data)
            self.assertIn(b"Unsupported", data[-1])
        finally:
            c.logout()
        self.assertAlive()

    def test_143_starttls_login(self):
        c = self.imap143_tls()
        caps = c.capabilities
        self.assertNotIn("STARTTLS", caps)
        self.assertNotIn("LOGINDISABLED", caps)
        self.assertIn("AUTH=PLAIN", caps)
        typ, _ = c.login(*ALICE)
        self.assertEqual(typ, "OK")
        typ, data = c.select("INBOX")
        self.assertEqual(typ, "OK", data)
        c.logout()
        m = self.hk.wait_log(r"event=login result=ok user=alice@example.test tls=TLSv1\.[23]")
        self.assertIsNotNone(m, self.hk.log_text()[-2000:])

    def test_starttls_discards_pipelined_plaintext(self):
        with ImapRaw(self.port("imap")) as r:
            r.greeting()
            # An injected command in the same segment as STARTTLS.
            r.send("s1 STARTTLS\r\nx1 LOGIN alice@example.test alice-secret-1\r\n")
            _, t = r.until_tagged("s1")
            self.assertTrue(t.startswith("s1 OK"), t)
            self.assertEqual(r.buf, b"")
            r.sock = hk.client_context().wrap_socket(r.sock, server_hostname=hk.MYHOSTNAME)
            untagged, t = r.cmd("c1", "CAPABILITY")
            self.assertTrue(t.startswith("c1 OK"), t)
            self.assertFalse([l for l in untagged if l.startswith("x1")], untagged)
            # Still not logged in: the injected LOGIN was never run.
            _, t = r.cmd("c2", "SELECT INBOX")
            self.assertTrue(t.startswith("c2 BAD"), t)
        self.assertIsNotNone(self.hk.wait_log(r"event=starttls-pipelined discarded=\d+"))

    # ---- logins

    def test_993_login_and_bad_password(self):
        c = self.imaps()
        self.assertEqual(c.state, "AUTH")
        c.logout()
        c = self.imaps(user=None)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            c.login(ALICE[0], "wrong-password")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        c.logout()

    def test_authenticate_plain_sasl_ir_and_continuation(self):
        with self.raw(login=None) as r:
            _, t = r.cmd("a1", "AUTHENTICATE PLAIN " + hk.plain_token(*ALICE))
            self.assertTrue(t.startswith("a1 OK"), t)
        with self.raw(login=None) as r:
            r.send("a2 AUTHENTICATE PLAIN\r\n")
            self.assertEqual(r.line(), "+ ")
            r.send(hk.plain_token(*BOB) + "\r\n")
            _, t = r.until_tagged("a2")
            self.assertTrue(t.startswith("a2 OK"), t)
        with self.raw(login=None) as r:
            r.send("a3 AUTHENTICATE PLAIN\r\n")
            self.assertEqual(r.line(), "+ ")
            r.send("*\r\n")
            _, t = r.until_tagged("a3")
            self.assertTrue(t.startswith("a3 BAD"), t)

    # ---- SMTP in, IMAP out

    def test_smtp_message_read_back_byte_identical(self):
        subject = "byte-identical-%s" % os.urandom(4).hex()
        sent = self.deliver(ALICE[0], subject, body=b"Line one.\r\n.dot line\r\n\r\nEnd.\r\n")
        on_disk = self.hk.find_message(ALICE[0], subject, timeout=10)
        self.assertIsNotNone(on_disk)
        self.assertTrue(on_disk.endswith(sent), "delivered file does not end with the message")
        c = self.imaps()
        try:
            c.select("INBOX")
            typ, data = c.uid("SEARCH", "SUBJECT", subject)
            self.assertEqual(typ, "OK", data)
            uids = data[0].split()
            self.assertEqual(len(uids), 1, data)
            typ, data = c.uid("FETCH", uids[0], "(BODY.PEEK[] RFC822.SIZE FLAGS)")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(data[0][1], on_disk)
            self.assertIn(b"RFC822.SIZE %d" % len(on_disk), data[0][0] + data[1])
            self.assertNotIn(b"\\Seen", data[0][0] + data[1])
            self.assertTrue(data[0][1].startswith(b"Received: "))
        finally:
            c.logout()

    def test_fetch_items(self):
        c = self.imaps()
        try:
            box = self.fresh_mailbox(c, "Fetch%s" % os.urandom(3).hex())
            date = imaplib.Time2Internaldate(time.mktime((2026, 11, 24, 8, 0, 0, 0, 0, -1)))
            body = b"Part of the body.\r\nSecond line.\r\n"
            msg, uid = self.append(c, box, "fetch-items", flags="(\\Flagged $Label1)",
                                   date=date, body=body)
            typ, data = c.select(box)
            self.assertEqual((typ, data), ("OK", [b"1"]))
            typ, data = c.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE UID)")
            self.assertEqual(typ, "OK", data)
            line = data[0]
            self.assertIn(b"\\Flagged", line)
            self.assertIn(b"$Label1", line)
            self.assertIn(b"RFC822.SIZE %d" % len(msg), line)
            self.assertIn(b"UID %d" % uid, line)
            self.assertRegex(line, rb'INTERNALDATE "\d\d-Nov-2026 \d\d:\d\d:\d\d [+-]\d{4}"')
            typ, data = c.fetch("1", "(ENVELOPE)")
            self.assertIn(b'"fetch-items"', data[0])
            self.assertIn(b'((NIL NIL "sender" "remote.test"))', data[0])
            self.assertIn(b'((NIL NIL "alice" "example.test"))', data[0])
            typ, data = c.fetch("1", "(BODYSTRUCTURE)")
            self.assertRegex(data[0], rb'BODYSTRUCTURE \("(?i:text)" "(?i:plain)"')
            typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject)])")
            self.assertEqual(data[0][1], b"Subject: fetch-items\r\n\r\n")
            typ, data = c.fetch("1", "(BODY.PEEK[]<0.10>)")
            self.assertEqual(data[0][1], msg[:10])
            self.assertIn(b"<0>", data[0][0])
            typ, data = c.fetch("1", "(BODY.PEEK[TEXT])")
            self.assertEqual(data[0][1], body)
            typ, data = c.fetch("1", "(FLAGS)")
            self.assertNotIn(b"\\Seen", data[0])
            # A non-PEEK fetch sets \Seen and reports it.
            typ, data = c.fetch("1", "(BODY[TEXT])")
            self.assertEqual(typ, "OK", data)
            self.assertIn(b"\\Seen", b"".join(x if isinstance(x, bytes) else x[0] for x in data))
            typ, data = c.fetch("1", "(FLAGS)")
            self.assertIn(b"\\Seen", data[0])
        finally:
            c.logout()

    def test_search(self):
        c = self.imaps()
        try:
            box = self.fresh_mailbox(c, "Search%s" % os.urandom(3).hex())
            self.append(c, box, "apple pie", flags="(\\Seen)")
            self.append(c, box, "banana split")
            self.append(c, box, "apple crumble", body=b"contains kiwi\r\n")
            c.select(box)
            self.assertEqual(c.search(None, "SUBJECT", "apple"), ("OK", [b"1 3"]))
            self.assertEqual(c.search(None, "UNSEEN"), ("OK", [b"2 3"]))
            self.assertEqual(c.search(None, "BODY", "kiwi"), ("OK", [b"3"]))
            self.assertEqual(c.search("UTF-8", "NOT", "SUBJECT", "apple"), ("OK", [b"2"]))
            self.assertEqual(c.search(None, "OR", "SEEN", "SUBJECT", "banana"), ("OK", [b"1 2"]))
            # Header keys again, now from the cached header sections, and
            # a header search next to a body search (which maps the file).
            self.assertEqual(c.search(None, "SUBJECT", "apple"), ("OK", [b"1 3"]))
            self.assertEqual(c.search(None, "HEADER", "Subject", "crumble", "BODY", "kiwi"),
                             ("OK", [b"3"]))
            self.assertEqual(c.search(None, "SUBJECT", "crumble", "NOT", "BODY", "kiwi"),
                             ("OK", [b""]))
            typ, data = c.search("X-UNKNOWN-CHARSET", "ALL")
            self.assertEqual(typ, "NO", data)
            self.assertIn(b"BADCHARSET", data[-1])
        finally:
            c.logout()

    def test_store_copy_move_expunge_seen_by_other_session(self):
        a = self.imaps()
        b = self.imaps()
        try:
            box = self.fresh_mailbox(a, "Shared%s" % os.urandom(3).hex())
            dst = self.fresh_mailbox(a, box + "-dst")
            for i in range(4):
                self.append(a, box, "m%d" % i)
            a.select(box)
            b.select(box)
            typ, data = a.store("1", "+FLAGS", "(\\Flagged)")
            self.assertEqual(typ, "OK", data)
            self.assertIn(b"\\Flagged", data[0])
            typ, data = a.store("1", "-FLAGS.SILENT", "(\\Flagged)")
            self.assertEqual((typ, data), ("OK", [None]))
            typ, data = a.copy("2", dst)
            self.assertEqual(typ, "OK", data)
            self.assertRegex(data[0], rb"\[COPYUID \d+ \d+ \d+\]")
            typ, data = a.uid("MOVE", "3", dst)
            self.assertEqual(typ, "OK", data)
            # RFC 6851: COPYUID in an untagged OK, then the EXPUNGE.
            self.assertRegex(a.response("COPYUID")[1][-1], rb"^\d+ 3 \d+$")
            self.assertEqual(a.response("EXPUNGE")[1], [b"3"])
            a.store("1", "+FLAGS", "(\\Deleted)")
            typ, data = a.expunge()
            self.assertEqual(typ, "OK", data)
            self.assertEqual(data, [b"1"])
            # The other session learns of both removals at its next command.
            typ, _ = b.noop()
            expunged = b.untagged_responses.get("EXPUNGE", [])
            self.assertEqual(len(expunged), 2, b.untagged_responses)
            typ, data = b.select(dst)
            self.assertEqual(data, [b"2"])
            typ, data = b.fetch("1:2", "(BODY.PEEK[HEADER.FIELDS (Subject)])")
            subjects = sorted(x[1] for x in data if isinstance(x, tuple))
            self.assertEqual(subjects, [b"Subject: m1\r\n\r\n", b"Subject: m2\r\n\r\n"])
        finally:
            a.logout()
            b.logout()

    def test_pipelined_and_split_commands(self):
        with self.raw() as r:
            box = "Pipe%s" % os.urandom(3).hex()
            # Several commands in one segment, a LITERAL+ and a bad one among them.
            r.send("q1 CREATE %s\r\nq2 APPEND %s (\\Seen) {14+}\r\nSubject: x\r\n\r\n\r\n"
                   "q3 NOOP (\r\nq4 SELECT %s\r\nq5 FETCH 1 (FLAGS)\r\n" % (box, box, box))
            for tag, want in (("q1", "OK"), ("q2", "OK"), ("q3", "BAD"), ("q4", "OK")):
                _, t = r.until_tagged(tag)
                self.assertTrue(t.startswith(tag + " " + want), t)
            untagged, t = r.until_tagged("q5")
            self.assertTrue(t.startswith("q5 OK"), t)
            self.assertEqual(untagged, ["* 1 FETCH (FLAGS (\\Seen))"])
            # One command trickled byte by byte.
            for b in b"q6 APPEND %s (\\Seen) {14+}\r\nSubject: y\r\n\r\n\r\n" % box.encode():
                r.send(bytes([b]))
            untagged, t = r.until_tagged("q6")
            self.assertRegex(t, r"^q6 OK \[APPENDUID \d+ 2\]")
            more, t = r.cmd("q7", "NOOP")
            self.assertIn("* 2 EXISTS", untagged + more)

    def test_binary_and_literal8(self):
        with self.raw() as r:
            _, t = r.cmd("c1", "CAPABILITY")
            body = (b"Subject: bin\r\nContent-Type: text/plain\r\n"
                    b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8AIHdvcmxk\r\n")
            box = "Bin%s" % os.urandom(3).hex()
            r.cmd("c2", "CREATE " + box)
            r.send(b"c3 APPEND %s ~{%d+}\r\n" % (box.encode(), len(body)) + body + b"\r\n")
            _, t = r.until_tagged("c3")
            self.assertTrue(t.startswith("c3 OK"), t)
            r.cmd("c4", "SELECT " + box)
            r.send("c5 FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n")
            head = r.line()
            # "hello\0 world" has a NUL: it must come as literal8 (RFC 3516 4.2).
            self.assertRegex(head, r"^\* 1 FETCH \(BINARY\[1\] ~\{12\}$")
            while len(r.buf) < 12:
                r.buf += r.sock.recv(4096)
            self.assertEqual(r.buf[:12], b"hello\0 world")
            r.buf = r.buf[12:]
            rest, t = r.until_tagged("c5")
            self.assertIn("BINARY.SIZE[1] 12", rest[0])
            self.assertTrue(t.startswith("c5 OK"), t)

    def test_large_fetch_is_streamed(self):
        """Three messages of ~900 KB in one FETCH: more than the 1 MiB the
        connection queues, so the response goes out in drained steps."""
        c = self.imaps()
        try:
            box = self.fresh_mailbox(c, "Big%s" % os.urandom(3).hex())
            sent = []
            for i in range(3):
                line = (b"%d" % i) * 75 + b"\r\n"
                msg, _ = self.append(c, box, "big%d" % i, body=line * 12000)
                sent.append(msg)
            c.select(box)
            typ, data = c.fetch("1:*", "(BODY.PEEK[])")
            self.assertEqual(typ, "OK")
            got = [x[1] for x in data if isinstance(x, tuple)]
            self.assertEqual(got, sent)
            typ, data = c.fetch("2", "(BODY.PEEK[]<100000.20>)")
            self.assertEqual(data[0][1], sent[1][100000:100020])
        finally:
            c.logout()

    def test_close_unselect_uid_expunge(self):
        c = self.imaps()
        try:
            box = self.fresh_mailbox(c, "Close%s" % os.urandom(3).hex())
            uids = [self.append(c, box, "c%d" % i)[1] for i in range(4)]
            c.select(box)
            c.store("1:4", "+FLAGS.SILENT", "(\\Deleted)")
            # UID EXPUNGE removes only the given UIDs (RFC 4315).
            typ, data = c.uid("EXPUNGE", "%d" % uids[1])
            self.assertEqual(typ, "OK", data)
            self.assertEqual(c.response("EXPUNGE")[1], [b"2"])
            typ, data = c._simple_command("UNSELECT")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(c.status(box, "(MESSAGES)")[1], [b'"%s" (MESSAGES 3)' % box.encode()])
            c.select(box)
            typ, data = c.close()  # expunges the \Deleted ones, silently
            self.assertEqual(typ, "OK", data)
            self.assertEqual(c.response("EXPUNGE")[1], [None])
            self.assertEqual(c.status(box, "(MESSAGES)")[1], [b'"%s" (MESSAGES 0)' % box.encode()])
            # EXAMINE is read-only.
            self.append(c, box, "ro")
            typ, data = c.select(box, readonly=True)
            self.assertEqual(typ, "OK")
            typ, data = c._simple_command("STORE", "1", "+FLAGS", "(\\Seen)")
            self.assertEqual(typ, "NO")
        finally:
            c.logout()

    def test_utf7_mailbox_names(self):
        c = self.imaps()
        try:
            name = "Entw&APw-rfe%s" % os.urandom(2).hex()  # "Entwürfe" for IMAP4rev1
            self.assertEqual(c.create(name)[0], "OK")
            typ, data = c.list('""', name)
            self.assertEqual(len(data), 1, data)
            self.assertTrue(data[0].endswith(b'"%s"' % name.encode()), data)
            self.assertEqual(c.create("Bad&-Ok&AOk")[0], "NO")  # unterminated
        finally:
            c.logout()
        with self.raw() as r:
            r.cmd("u1", "ENABLE IMAP4rev2")
            untagged, t = r.cmd("u2", 'LIST "" "Entw*"')
            self.assertTrue([l for l in untagged if "Entwürfe" in l], untagged)

    def test_append_flags_date_and_literal_plus(self):
        c = self.imaps()
        try:
            box = self.fresh_mailbox(c, "Append%s" % os.urandom(3).hex())
            msg, uid = self.append(c, box, "appended", flags="(\\Draft)",
                                   date='"01-Feb-2024 10:20:30 +0100"')
            c.select(box)
            typ, data = c.uid("FETCH", str(uid), "(FLAGS INTERNALDATE BODY.PEEK[])")
            self.assertIn(b"\\Draft", data[0][0])
            # date-time allows a space-padded day (RFC 9051 9).
            self.assertRegex(data[0][0], rb'INTERNALDATE "( 1|01)-Feb-2024 10:20:30 \+0100"')
            self.assertEqual(data[0][1], msg)
        finally:
            c.logout()
        with self.raw() as r:
            body = b"Subject: plus\r\n\r\nnon-synchronizing\r\n"
            r.send(b"p1 APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
            _, t = r.until_tagged("p1")
            self.assertRegex(t, r"^p1 OK \[APPENDUID \d+ \d+\]")

    def test_list_special_use_status(self):
        c = self.imaps()
        try:
            typ, data = c.list()
            self.assertEqual(typ, "OK")
            names = {}
            for l in data:
                m = re.search(rb'"/" "([^"]*)"$', l)
                if m:
                    names[m.group(1)] = l
            for n in (b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk"):
                self.assertIn(n, names, data)
            self.assertIn(b"\\Sent", names[b"Sent"])
            self.assertIn(b"\\Trash", names[b"Trash"])
            typ, data = c._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
            typ, data = c._untagged_response(typ, data, "LIST")
            self.assertEqual(typ, "OK")
            self.assertFalse([l for l in data if b"INBOX" in l], data)
            self.assertTrue([l for l in data if b"\\Junk" in l], data)
            typ, data = c._simple_command("LIST", '""', "*", "RETURN", "(SPECIAL-USE SUBSCRIBED)")
            typ, data = c._untagged_response(typ, data, "LIST")
            self.assertEqual(typ, "OK")
            inbox = [l for l in data if l.endswith(b'"INBOX"')]
            self.assertEqual(len(inbox), 1, data)
            self.assertIn(b"\\Subscribed", inbox[0])
            typ, data = c.list('""', '""')
            self.assertEqual(data, [b'(\\Noselect) "/" ""'])
            typ, data = c.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
            self.assertEqual(typ, "OK", data)
            self.assertRegex(data[0], rb"MESSAGES \d+ UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN \d+")
            typ, data = c.status("NoSuchBox", "(MESSAGES)")
            self.assertEqual(typ, "NO")
            typ, data = c.namespace()
            self.assertEqual(data, [b'(("" "/")) NIL NIL'])
        finally:
            c.logout()

    def test_create_rename_delete_subscribe(self):
        c = self.imaps()
        try:
            base = "Tree%s" % os.urandom(3).hex()
            self.assertEqual(c.create(base + "/child")[0], "OK")
            typ, data = c.list('""', base + "*")
            self.assertEqual(len(data), 2, data)
            self.assertEqual(c.create(base + "/child")[0], "NO")
            self.assertEqual(c.rename(base + "/child", base + "/renamed")[0], "OK")
            self.assertEqual(c.subscribe(base + "/renamed")[0], "OK")
            typ, data = c.lsub('""', base + "/*")
            self.assertEqual(len(data), 1, data)
            self.assertIn(b"renamed", data[0])
            typ, data = c.list('""', base + "/%")
            self.assertEqual(len(data), 1, data)
            self.assertEqual(c.unsubscribe(base + "/renamed")[0], "OK")
            self.assertEqual(c.delete(base + "/renamed")[0], "OK")
            self.assertEqual(c.select(base + "/renamed")[0], "NO")
            self.assertEqual(c.delete("INBOX")[0], "NO")
        finally:
            c.logout()

    def test_hostile_mailbox_names(self):
        top = os.path.join(self.hk.data_dir, "mail")
        before = sorted(os.listdir(self.hk.data_dir))
        with self.raw() as r:
            for i, name in enumerate(['"../../escape"', '"a/../../b"', '"/abs"', '"a//b"',
                                      '"a/"', '".."', '"a\\\\b"', '"x.y"', '"ctl\x01"',
                                      "{4+}\r\n../x"]):
                _, t = r.cmd("h%d" % i, "CREATE " + name)
                self.assertRegex(t, r"^h%d (NO|BAD|OK)" % i)
                if name == '"a/"':
                    continue  # "a/" asks for a parent "a" (RFC 9051 6.3.4): allowed
                self.assertFalse(t.startswith("h%d OK" % i), "%s -> %s" % (name, t))
            _, t = r.cmd("s1", 'SELECT "../INBOX"')
            self.assertTrue(t.startswith("s1 NO") or t.startswith("s1 BAD"), t)
            _, t = r.cmd("r1", 'RENAME INBOX "../../stolen"')
            self.assertTrue(t.startswith("r1 NO") or t.startswith("r1 BAD"), t)
        self.assertEqual(sorted(os.listdir(self.hk.data_dir)), before)
        self.assertFalse(os.path.exists(os.path.join(top, "escape")))
        self.assertFalse(os.path.exists(os.path.join(self.hk.data_dir, "escape")))
        self.assertAlive()

    def test_bad_input(self):
        with self.raw(login=None) as r:
            for tag, text, want in (("b1", "SELECT INBOX", "BAD"),       # wrong state
                                    ("b2", "NOOP (a b", "BAD"),          # unbalanced
                                    ("b3", "NOOP a)", "BAD"),
                                    ("b4", "LOGIN {-1}", "BAD"),         # negative literal
                                    ("b5", "LOGIN {99999999999999}", "BAD"),
                                    ("b6", "FROBNICATE", "BAD"),
                                    ("b7", 'LOGIN "unterminated', "BAD")):
                _, t = r.cmd(tag, text)
                self.assertTrue(t.startswith("%s %s" % (tag, want)), "%s -> %s" % (text, t))
            # Before login only LOGIN may send a literal.
            r.send("b8 ID {5}\r\n")
            _, t = r.until_tagged("b8")
            self.assertTrue(t.startswith("b8 BAD"), t)
            r.login(*ALICE)
            _, t = r.cmd("b9", "SELECT INBOX")
            self.assertTrue(t.startswith("b9 OK"), t)
            for tag, text in (("c1", "FETCH 0 FLAGS"), ("c2", "FETCH 1:x FLAGS"),
                              ("c3", "FETCH 999999 FLAGS"), ("c4", "FETCH 1 (FLAGS"),
                              ("c5", "FETCH 1 NOSUCHITEM"), ("c6", "STORE 1 FLAGS (\\Bogus]"),
                              ("c7", "UID FROB 1"), ("c8", "APPEND INBOX {99999999999}"),
                              ("c9", "SELECT {100000}")):  # only APPEND takes big literals
                _, t = r.cmd(tag, text)
                self.assertTrue(t.startswith(tag + " BAD") or t.startswith(tag + " NO"),
                                "%s -> %s" % (text, t))
        # A literal that never arrives: the client goes away mid-literal.
        with self.raw() as r:
            r.send("x1 APPEND INBOX {100}\r\n")
            self.assertTrue(r.line().startswith("+"))
            r.send("only part of it")
        # A client that leaves while its password is being checked.
        with self.raw(login=None) as r:
            r.send('x2 LOGIN "%s" "%s"\r\n' % ALICE)
        # An over-long line ends the session.
        with self.raw(login=None) as r:
            r.send("l1 NOOP " + "x" * 70000 + "\r\n")
            data = r.read_eof()
            self.assertIn(b"* BYE", data)
        # A huge non-synchronizing literal cannot be skipped: BYE.
        with self.raw() as r:
            r.send("l2 APPEND INBOX {99999999999+}\r\n")
            data = r.read_eof()
            self.assertIn(b"* BYE", data)
        # Repeated abuse: BYE after smtpd_hard_error_limit errors.
        with self.raw(login=None) as r:
            r.send("".join("e%d NOSUCH\r\n" % i for i in range(25)))
            data = r.read_eof()
            self.assertIn(b"* BYE Too many errors", data)
            self.assertNotIn(b"e24 ", data)
        self.assertAlive()

    def test_random_commands_in_selected_state(self):
        """Commands assembled at random from IMAP words (no literals, so
        every one gets an answer): each must be answered, the daemon must
        stay up and the sanitizers quiet (checked at tearDown)."""
        rnd = random.Random(4242)
        words = ["FETCH", "UID", "STORE", "SEARCH", "COPY", "MOVE", "EXPUNGE", "LIST", "LSUB",
                 "STATUS", "SELECT", "EXAMINE", "CREATE", "RENAME", "DELETE", "SUBSCRIBE",
                 "NOOP", "CHECK", "CLOSE", "UNSELECT", "ENABLE", "ID", "NAMESPACE", "APPEND",
                 "1", "2:*", "*", "1,3:5", "0", "4294967295", "1:4294967296", "$", "INBOX",
                 '"Trash"', '""', "%", "*", "NIL", "(", ")", "()", "(FLAGS)", "BODY[]",
                 "BODY.PEEK[HEADER.FIELDS (Subject)]", "BINARY[1]<0.5>", "ENVELOPE",
                 "BODYSTRUCTURE", "+FLAGS", "-FLAGS.SILENT", "FLAGS", "(\\Seen)", "\\Deleted",
                 "ALL", "OR", "NOT", "SUBJECT", "x", "BEFORE", "1-Jan-2000", "LARGER", "99",
                 "CHARSET", "UTF-8", "RETURN", "(MIN", "MAX)", "IMAP4rev2", "[", "]", "<1.2>"]
        self.append_to("INBOX", 3)
        for round_ in range(10):
            with self.raw() as r:
                r.cmd("s0", "SELECT INBOX")
                for i in range(25):
                    line = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 6)))
                    try:
                        _, t = r.cmd("r%d" % i, line)
                    except ConnectionError:
                        break  # BYE after too many errors
                    self.assertRegex(t, r"^r%d (OK|NO|BAD)" % i, line)
        self.assertAlive()

    def append_to(self, box, n):
        c = self.imaps()
        try:
            for i in range(n):
                self.append(c, box, "random-%d" % i)
        finally:
            c.logout()

    def test_enable_imap4rev2_esearch(self):
        with self.raw() as r:
            untagged, t = r.cmd("e1", "ENABLE IMAP4rev2")
            self.assertIn("* ENABLED IMAP4rev2", untagged)
            untagged, t = r.cmd("e2", "SELECT INBOX")
            self.assertTrue(t.startswith("e2 OK"), t)
            self.assertTrue([l for l in untagged if l.startswith("* LIST ")], untagged)
            untagged, t = r.cmd("e3", "SEARCH ALL")
            self.assertTrue(t.startswith("e3 OK"), t)
            self.assertTrue(untagged and untagged[0].startswith('* ESEARCH (TAG "e3")'), untagged)
            untagged, t = r.cmd("e4", "ID NIL")
            self.assertIn('* ID ("name" "hikyaku")', untagged)

    def test_idle_sees_smtp_delivery(self):
        with self.raw() as r:
            untagged, t = r.cmd("i1", "SELECT INBOX")
            exists = int([l for l in untagged if l.endswith(" EXISTS")][0].split()[1])
            r.send("i2 IDLE\r\n")
            self.assertTrue(r.line().startswith("+ "))
            start = time.monotonic()
            self.deliver(ALICE[0], "idle-%s" % os.urandom(4).hex())
            got = None
            deadline = start + 10.0
            while time.monotonic() < deadline:
                try:
                    l = r.line(timeout=max(0.1, deadline - time.monotonic()))
                except TimeoutError:
                    break
                m = re.match(r"\* (\d+) EXISTS$", l)
                if m and int(m.group(1)) > exists:
                    got = time.monotonic() - start
                    break
            self.assertIsNotNone(got, "no EXISTS during IDLE within 10 s")
            print("IDLE: EXISTS %.3f s after the SMTP delivery began" % got)
            r.send("DONE\r\n")
            _, t = r.until_tagged("i2")
            self.assertTrue(t.startswith("i2 OK"), t)


if __name__ == "__main__":
    unittest.main(verbosity=2)
