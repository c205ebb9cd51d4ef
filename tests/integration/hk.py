"""Harness for hikyaku integration tests: one daemon instance on loopback.

Everything a test needs to drive the real daemon with real clients:
  - Instance: temp dir, throwaway self-signed certificate, config writer,
    `hikyaku` subcommands, start/stop (SIGTERM) with a check for sanitizer
    reports, SIGHUP/SIGKILL, mailbox reading, log grepping;
  - Raw: a minimal SMTP client over a raw socket (bytes exactly as given,
    for PIPELINING, BDAT, smuggling and STARTTLS-injection tests);
  - helpers for TLS contexts, free ports, Received header parsing and
    required client tools (missing tool = failure unless
    HIKYAKU_ALLOW_SKIP=1).

Network: the daemon binds only 127.0.0.1; every wait is bounded in time.
Standard library only (Debian's /usr/bin/python3).
"""

import base64
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

HOST = "127.0.0.1"
MYHOSTNAME = "mx.example.test"
DOMAIN = "example.test"
ALLOW_SKIP = os.environ.get("HIKYAKU_ALLOW_SKIP") == "1"
KEEP = os.environ.get("HIKYAKU_KEEP_TMP") == "1"

# Lines that mean the sanitizers found something in the daemon.
SANITIZER_PATTERNS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "LeakSanitizer has encountered a fatal error",
    "runtime error:",
    "ERROR: UndefinedBehaviorSanitizer",
)


def hikyaku_path():
    path = os.environ.get("HIKYAKU")
    if not path:
        raise RuntimeError("env HIKYAKU must name the hikyaku executable")
    if not os.access(path, os.X_OK):
        raise RuntimeError("HIKYAKU=%s is not executable" % path)
    return path


def require_tool(name):
    """Return the path of a client tool; a missing one fails the test
    (CI must not silently skip) unless HIKYAKU_ALLOW_SKIP=1."""
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path:
        return path
    msg = "%s not installed (run scripts/deps.sh)" % name
    if ALLOW_SKIP:
        raise unittest.SkipTest(msg)
    raise AssertionError(msg)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def make_cert(directory, name="cert", cn=MYHOSTNAME, sans=(MYHOSTNAME,)):
    """Throwaway self-signed P-256 certificate; returns (cert, key) paths.
    Both files are world-readable so that the daemon can re-read them
    after dropping privileges (SIGHUP reload)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    san = ",".join("DNS:" + s for s in sans)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san,
         "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)
    return cert, key


def pem_to_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_context(cafile=None, minimum=None, maximum=None):
    """TLS client context. With cafile: verify the chain and the name
    mx.example.test; without: no verification (self-signed test cert)."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def smtplib_starttls(s, ctx=None, hostname=MYHOSTNAME):
    """STARTTLS on an smtplib.SMTP with SNI and verification against
    `hostname` (smtplib.starttls() would use the connect address)."""
    code, resp = s.docmd("STARTTLS")
    if code != 220:
        raise AssertionError("STARTTLS -> %d %r" % (code, resp))
    s.sock = (ctx or client_context()).wrap_socket(s.sock, server_hostname=hostname)
    s.file = None
    s.helo_resp = None
    s.ehlo_resp = None
    s.esmtp_features = {}
    s.does_esmtp = False
    return code, resp


def plain_token(user, password):
    return b64(b"\0" + user.encode() + b"\0" + password.encode())


# --------------------------------------------------------------------------
# Received header

PREPENDED_FIELDS = (b"received:", b"received-spf:", b"authentication-results:")


def split_received(data):
    """Split a delivered file into (prepended trace header block, rest).
    The block is every leading header field up to and including the last
    leading Received:, Received-SPF: or Authentication-Results: field (with
    its folded continuation lines): what the daemon prepends on port 25."""
    assert data.startswith(b"Received:"), "file does not start with Received: %r" % data[:80]
    pos = 0
    end = 0
    while pos < len(data):
        nl = data.find(b"\r\n", pos)
        if nl < 0:
            break
        line = data[pos:nl]
        if pos > 0 and line[:1] not in (b" ", b"\t") and \
                not line.lower().startswith(PREPENDED_FIELDS):
            break
        pos = nl + 2
        end = pos
    return data[:end], data[end:]


def received_header(data):
    """First Received header, unfolded, as str."""
    block, _ = split_received(data)
    first = re.split(rb"\r\n(?=[^ \t])", block)[0]
    return re.sub(rb"\r\n[ \t]+", b" ", first).decode("utf-8", "replace")


# --------------------------------------------------------------------------
# raw clients

class LineSocket:
    """A raw (optionally TLS) socket for line protocols: send exactly the
    given bytes, read CRLF lines. Every read is bounded by timeout."""

    def __init__(self, port, host=HOST, timeout=20.0, tls_context=None, server_hostname=MYHOSTNAME):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self, timeout=None):
        """The next CRLF line (decoded, without CRLF)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete line; have %r" % self.buf[:300])
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed; have %r" % self.buf[:300])
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")


class Raw(LineSocket):
    """SMTP on a LineSocket. reply() returns (code, [text lines]) for one
    complete (multi-line) reply, e.g. (250, ['2.1.0 Ok'])."""

    def reply(self):
        lines = []
        while True:
            line = self.line()
            if len(line) < 3 or not line[:3].isdigit():
                raise AssertionError("malformed reply line %r" % line)
            lines.append(line)
            if len(line) == 3 or line[3] == " ":
                break
            if line[3] != "-":
                raise AssertionError("malformed reply line %r" % line)
        codes = {l[:3] for l in lines}
        if len(codes) != 1:
            raise AssertionError("mixed codes in one reply: %r" % lines)
        return int(lines[0][:3]), [l[4:] for l in lines]

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def greeting(self):
        code, text = self.reply()
        if code != 220:
            raise AssertionError("greeting %d %r" % (code, text))
        return text

    def ehlo(self, name="client.example.net"):
        code, lines = self.cmd("EHLO " + name)
        if code != 250:
            raise AssertionError("EHLO -> %d %r" % (code, lines))
        return [l.upper() for l in lines[1:]]

    def starttls(self, ctx=None, server_hostname=MYHOSTNAME):
        code, text = self.cmd("STARTTLS")
        if code != 220:
            raise AssertionError("STARTTLS -> %d %r" % (code, text))
        self.upgrade(ctx, server_hostname)
        return text

    def upgrade(self, ctx=None, server_hostname=MYHOSTNAME):
        """TLS handshake on the socket as it is (after a 220 was read).
        Bytes the server sent after its 220 would be a protocol error."""
        if self.buf:
            raise AssertionError("server sent bytes after 220 before TLS: %r" % self.buf)
        ctx = ctx or client_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    def read_eof(self, timeout=None):
        """Read until the peer closes; returns the bytes read (bounded)."""
        self.sock.settimeout(timeout or self.timeout)
        data = self.buf
        self.buf = b""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            data += chunk
        else:
            raise TimeoutError("peer did not close; got %r" % data[:200])
        return data

    def mail_transaction(self, sender, rcpts, message):
        """MAIL, RCPT..., DATA, message (CRLF, will be dot-stuffed) and the
        final dot; returns the reply to the final dot."""
        code, text = self.cmd("MAIL FROM:<%s>" % sender)
        if code != 250:
            raise AssertionError("MAIL -> %d %r" % (code, text))
        for r in rcpts:
            code, text = self.cmd("RCPT TO:<%s>" % r)
            if code != 250:
                raise AssertionError("RCPT %s -> %d %r" % (r, code, text))
        code, text = self.cmd("DATA")
        if code != 354:
            raise AssertionError("DATA -> %d %r" % (code, text))
        self.send(dot_stuff(message) + b".\r\n")
        return self.reply()


def dot_stuff(message):
    if isinstance(message, str):
        message = message.encode()
    assert message.endswith(b"\r\n")
    out = re.sub(rb"(?m)^\.", b"..", message)
    return out


def make_message(subject="test", sender="sender@remote.test", to="alice@example.test", body=None, extra=b""):
    """A small RFC 5322 message with CRLF line endings."""
    if body is None:
        body = b"Hello.\r\n"
    if isinstance(body, str):
        body = body.encode()
    hdr = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@client.example.net>\r\n"
           % (sender, to, subject, os.urandom(8).hex())).encode()
    return hdr + extra + b"\r\n" + body


# --------------------------------------------------------------------------
# the daemon instance

_default_nsd = None


def default_dns_server():
    """"127.0.0.1@PORT" of one nsd per test process, serving only a zone
    nobody mails to (see Instance settings)."""
    global _default_nsd
    if _default_nsd is None:
        import atexit
        import nsd
        _default_nsd = nsd.Nsd({"unused.hikyaku.test":
                                "$TTL 60\n@ SOA ns root 1 60 60 60 60\n@ NS ns\nns A 127.0.0.1\n"})
        _default_nsd.start()
        atexit.register(_default_nsd.stop)
    return _default_nsd.server


class Instance:
    """One hikyaku daemon with its own temp dir, config, cert and ports."""

    addr = HOST  # where the listeners are (subclasses may use another 127.0.0.x)

    def __init__(self, services=("smtp", "submission", "submissions"), **settings):
        self.bin = hikyaku_path()
        self.tmp = tempfile.mkdtemp(prefix="hk-it-")
        os.chmod(self.tmp, 0o755)   # run_user must reach data_dir and certs
        self.as_root = os.geteuid() == 0
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_dir = os.path.join(self.tmp, "log")
        self.tls_dir = os.path.join(self.tmp, "tls")
        for d in (self.data_dir, self.log_dir, self.tls_dir):
            os.mkdir(d, 0o755)
        if self.as_root:
            # Subcommands and the daemon drop to run_user; give it the dirs
            # it writes to. tls/ stays root-owned but world-readable.
            for d in (self.data_dir, self.log_dir):
                os.chown(d, 65534, 65534)
        self.log_file = os.path.join(self.log_dir, "hikyaku.log")
        self.stderr_file = os.path.join(self.tmp, "stderr.log")
        self.conf_file = os.path.join(self.tmp, "hikyaku.conf")
        self.cert, self.key = make_cert(self.tls_dir)
        self.ports = {}
        for svc in services:
            self.ports[svc] = free_port()
        self.settings = {
            "myhostname": MYHOSTNAME,
            "data_dir": self.data_dir,
            "log_file": self.log_file,
            "smtpd_tls_cert_file": self.cert,
            "smtpd_tls_key_file": self.key,
            "message_size_limit": "1048576",
            "smtpd_timeout": "300s",
            "smtpd_recipient_limit": "1000",
            "smtpd_hard_error_limit": "20",
            "smtpd_client_connection_count_limit": "50",
            "smtpd_auth_failure_limit": "1000",
            "smtpd_auth_lockout_time": "600s",
            "smtpd_error_sleep_time": "0s",
            # Tests never ask the system's resolver (no traffic leaves the
            # machine): by default DNS is a shared nsd on loopback that
            # knows no zone a test mails to, so it answers REFUSED at once
            # and outbound mail is deferred and stays queued. Tests of
            # delivery pass dns_server= their own nsd with real zones.
            "dns_server": default_dns_server(),
        }
        if self.as_root:
            self.settings["run_user"] = "nobody"
        for svc, port in self.ports.items():
            self.settings[svc + "_listen"] = "%s:%d" % (HOST, port)
        self.settings.update({k: str(v) for k, v in settings.items()})
        self.proc = None
        self.stderr_fh = None
        self.history_stderr = ""  # stderr of earlier runs (restarts)
        self.write_config()

    # ---- config and subcommands

    def write_config(self):
        with open(self.conf_file, "w") as f:
            f.write("# hikyaku integration test instance\n")
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))
        os.chmod(self.conf_file, 0o644)

    def hk(self, *args, input=None, check=True, timeout=60):
        """Run `hikyaku -c CONF args...`; returns CompletedProcess (text)."""
        p = subprocess.run([self.bin, "-c", self.conf_file] + list(args), input=input,
                           capture_output=True, text=True, timeout=timeout)
        check_sanitizer_text(p.stderr, "hikyaku " + " ".join(args))
        if check and p.returncode != 0:
            raise AssertionError("hikyaku %s exited %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def add_domain(self, domain=DOMAIN):
        return self.hk("domain", "add", domain)

    def add_user(self, address, password):
        return self.hk("user", "add", address, input=password + "\n")

    # ---- run

    def start(self, wait=30.0):
        assert self.proc is None or self.proc.poll() is not None
        self.stderr_fh = open(self.stderr_file, "ab")
        self.proc = subprocess.Popen([self.bin, "-c", self.conf_file, "serve"],
                                     stdin=subprocess.DEVNULL, stdout=self.stderr_fh,
                                     stderr=self.stderr_fh, start_new_session=True,
                                     env=self.sanitizer_env())
        self.wait_ready(wait)
        return self

    def wait_ready(self, wait=30.0):
        deadline = time.monotonic() + wait
        pending = dict(self.ports)
        while pending:
            if self.proc.poll() is not None:
                raise AssertionError("hikyaku serve exited %s during start-up\n%s"
                                     % (self.proc.returncode, self.logs()[-4000:]))
            if time.monotonic() > deadline:
                raise AssertionError("hikyaku serve not listening on %s %r after %.0fs\n%s"
                                     % (self.addr, pending, wait, self.logs()[-4000:]))
            for svc, port in list(pending.items()):
                try:
                    with socket.create_connection((self.addr, port), timeout=2):
                        pass
                    del pending[svc]
                except OSError:
                    pass
            if pending:
                time.sleep(0.05)

    def sanitizer_env(self):
        """Sanitizer reports of the daemon also go to files in log_dir
        (writable after the privilege drop), so that they are found even
        if the daemon ever detaches from its stderr."""
        env = dict(os.environ)
        for var, name in (("ASAN_OPTIONS", "asan"), ("UBSAN_OPTIONS", "ubsan")):
            opts = env.get(var, "")
            env[var] = (opts + ":" if opts else "") + "log_path=" + os.path.join(self.log_dir, name)
        return env

    def sanitizer_reports(self):
        out = ""
        for n in sorted(os.listdir(self.log_dir)):
            if n.startswith(("asan.", "ubsan.")):
                with open(os.path.join(self.log_dir, n), "rb") as f:
                    out += "--- %s ---\n%s" % (n, f.read().decode("utf-8", "replace"))
        return out

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        """SIGKILL and reap; no sanitizer check is possible for this run."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._close_stderr()

    def stop(self, timeout=30.0):
        """SIGTERM, wait, and fail on a sanitizer report or a bad exit."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                self._close_stderr()
                raise AssertionError("hikyaku did not exit within %.0fs of SIGTERM\n%s"
                                     % (timeout, self.logs()[-4000:]))
        rc = self.proc.returncode
        self._close_stderr()
        self.check_sanitizers()
        if rc not in (0, -signal.SIGTERM):
            raise AssertionError("hikyaku serve exited with %d after SIGTERM\n%s"
                                 % (rc, self.logs()[-4000:]))

    def _close_stderr(self):
        if self.stderr_fh:
            self.stderr_fh.close()
            self.stderr_fh = None

    def cleanup(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._close_stderr()
        if not KEEP:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- logs

    def stderr_text(self):
        try:
            with open(self.stderr_file, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_text(self):
        try:
            with open(self.log_file, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def logs(self):
        return (self.log_text() + "\n--- stderr ---\n" + self.stderr_text()
                + self.sanitizer_reports())

    def check_sanitizers(self):
        check_sanitizer_text(self.logs(), "hikyaku serve (%s)" % self.tmp)

    def wait_sessions_closed(self, timeout=15.0):
        """Bounded wait until the daemon has logged as many session ends
        as session starts (event=connect vs event=disconnect lines), i.e.
        it has noticed every close of ours. Falls back to a short sleep if
        the log has no disconnect events. Returns True when settled."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            opened = len(re.findall(r"\bevent=connect\b", text))
            closed = len(re.findall(r"\bevent=disconnect\b", text))
            if closed == 0:
                time.sleep(1.0)
                return False
            if closed >= opened:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def wait_log(self, pattern, timeout=10.0):
        """Wait (bounded) until a log line matches the regex; returns the match."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_text())
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    # ---- mailboxes

    def maildir(self, address, domain=None):
        local, _, dom = address.partition("@")
        return os.path.join(self.data_dir, "mail", domain or dom, local)

    def messages(self, address, sub=("new", "cur")):
        """Sorted list of (path, bytes) of delivered files."""
        out = []
        for s in sub:
            d = os.path.join(self.maildir(address), s)
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            for n in names:
                p = os.path.join(d, n)
                with open(p, "rb") as f:
                    out.append((p, f.read()))
        out.sort()
        return out

    def count(self, address):
        return len(self.messages(address))

    def find_message(self, address, needle, timeout=5.0):
        """The delivered file (bytes) containing needle; bounded wait."""
        if isinstance(needle, str):
            needle = needle.encode()
        deadline = time.monotonic() + timeout
        while True:
            hits = [d for _, d in self.messages(address) if needle in d]
            if hits or time.monotonic() > deadline:
                if len(hits) > 1:
                    raise AssertionError("%d copies of %r for %s" % (len(hits), needle, address))
                return hits[0] if hits else None
            time.sleep(0.05)


def check_sanitizer_text(text, what):
    for pat in SANITIZER_PATTERNS:
        i = text.find(pat)
        if i >= 0:
            raise AssertionError("%s: sanitizer report:\n%s" % (what, text[max(0, i - 200): i + 6000]))


class Node(Instance):
    """Instance whose listeners are on `addr` (127.0.0.x); `smtp_port`
    fixes the smtp port (receivers share the sender's relay_port)."""

    def __init__(self, addr, services, smtp_port=None, **settings):
        self.addr = addr
        super().__init__(services=services, **settings)
        if smtp_port is not None:
            self.ports["smtp"] = smtp_port
        for svc, port in self.ports.items():
            self.settings[svc + "_listen"] = "%s:%d" % (addr, port)
        self.write_config()


def wait_for(cond, timeout, what):
    """Poll cond() until it returns something true (returned), bounded."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(0.1)


def fetchmail(inst, addr, password, port, proto, mode, keep=False):
    """Runs Debian's fetchmail once against inst (its own home, config and
    id file under inst.tmp; messages delivered by an MDA script into files).
    proto: "IMAP" or "POP3" (with UIDL); mode: "ssl" or "sslproto TLS1.2+".
    Returns (exit status, its output, [message bytes, in delivery order])."""
    import getpass
    import stat
    prog = require_tool("fetchmail")
    home = os.path.join(inst.tmp, "fm-%d" % time.time_ns())
    out_dir = os.path.join(home, "out")
    os.makedirs(out_dir, 0o700)
    mda = os.path.join(home, "mda.sh")
    with open(mda, "w") as f:
        f.write("#!/bin/sh\nexec cat > \"%s/msg.$$.$(date +%%s%%N)\"\n" % out_dir)
    os.chmod(mda, 0o700)
    rc_file = os.path.join(home, "fetchmailrc")
    with open(rc_file, "w") as f:
        f.write('poll %s via %s port %d proto %s%s\n'
                '  user "%s" there with password "%s" is "%s" here\n'
                '  %s sslcertck sslcertfile "%s" sslcommonname "%s"\n  mda "%s"\n  %s\n'
                % (MYHOSTNAME, HOST, port, proto, " uidl" if proto == "POP3" else "", addr,
                   password, getpass.getuser(), mode, inst.cert, MYHOSTNAME, mda,
                   "keep" if keep else "nokeep"))
    os.chmod(rc_file, stat.S_IRUSR | stat.S_IWUSR)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    p = subprocess.run([prog, "-f", rc_file, "--nosyslog", "--nodetach", "-v", "--pidfile",
                        os.path.join(home, "pid"), "--idfile", os.path.join(home, "ids")],
                       capture_output=True, timeout=120, env=env)
    got = []
    for n in sorted(os.listdir(out_dir)):
        with open(os.path.join(out_dir, n), "rb") as f:
            got.append(f.read())
    return p.returncode, p.stdout.decode("utf-8", "replace") + \
        p.stderr.decode("utf-8", "replace"), got


class InstanceTestCase(unittest.TestCase):
    """Base class: one started instance per test class, with domain
    example.test and users alice and bob. Override `settings` for other
    config values. tearDownClass stops it and fails on sanitizer reports."""

    settings = {}
    services = ("smtp", "submission", "submissions")
    users = {"alice@example.test": "alice-secret-1", "bob@example.test": "bob-secret-2"}

    @classmethod
    def prepare(cls, inst):
        """Hook: change the instance (config, files) before it starts."""

    @classmethod
    def setUpClass(cls):
        cls.hk = Instance(services=cls.services, **cls.settings)
        try:
            cls.prepare(cls.hk)
            cls.hk.write_config()
            cls.hk.add_domain(DOMAIN)
            for u, p in cls.users.items():
                cls.hk.add_user(u, p)
            cls.hk.start()
        except BaseException:
            cls.hk.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.hk.stop()
        finally:
            cls.hk.cleanup()

    def port(self, svc):
        return self.hk.ports[svc]

    def raw(self, svc="smtp", **kw):
        return Raw(self.port(svc), **kw)

    def assertReply(self, reply, code, enhanced=None, msg=None):
        got_code, lines = reply
        text = " ".join(lines)
        self.assertEqual(got_code, code, msg or "reply %d %r" % (got_code, lines))
        if enhanced:
            self.assertTrue(text.startswith(enhanced),
                            msg or "expected enhanced code %s in %d %r" % (enhanced, got_code, lines))

    def assertAlive(self):
        self.assertTrue(self.hk.alive(), "daemon died:\n" + self.hk.logs()[-4000:])
