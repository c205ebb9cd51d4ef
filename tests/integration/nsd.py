"""A throwaway authoritative DNS server (Debian's nsd) on loopback, for tests.

    with Nsd({"example.test": ZONE_TEXT}) as dns:
        conf["dns_server"] = dns.server          # "127.0.0.1@PORT"
        ...
        dns.update({"example.test": OTHER_TEXT})  # same port, new data

Nsd writes nsd.conf and one file per zone into a temporary directory,
checks every zone with nsd-checkzone (a typo fails loudly, with nsd's own
message), starts `nsd -d` in the foreground on 127.0.0.1 and a port that
was free for UDP and TCP a moment ago, and waits (bounded) until it
answers an SOA query for every zone with NOERROR. nsd runs as the current
user (`username: ""`: as root it would otherwise switch to the "nsd" user,
which cannot read the temporary directory) and dies with the test process
(PR_SET_PDEATHSIG) if that crashes. stop() ends it and removes the
directory (kept when HIKYAKU_KEEP_TMP=1).

Nsd(zones, failing=[names]) also configures zones nsd has no data for: it
answers SERVFAIL for every name in them (a server that cannot answer; the
resolver reports it like a timeout, see test_spf_suite.py).

Zone text is the caller's, in zone-file syntax; without a $ORIGIN line the
zone's name is used as origin. Names under .test are fine: hikyaku's
resolver forwards them when dns_server is set.

A missing nsd fails the test (CI must not silently skip) unless
HIKYAKU_ALLOW_SKIP=1, which turns it into unittest.SkipTest.
Standard library only (Debian's /usr/bin/python3). Run this file alone for
a self-test.
"""

import ctypes
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

HOST = "127.0.0.1"
NSD = "/usr/sbin/nsd"
NSD_CHECKZONE = "/usr/sbin/nsd-checkzone"
ALLOW_SKIP = os.environ.get("HIKYAKU_ALLOW_SKIP") == "1"
KEEP = os.environ.get("HIKYAKU_KEEP_TMP") == "1"

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
         "AAAA": 28, "TLSA": 52}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED"}


def require_nsd():
    """Fail (or skip, with HIKYAKU_ALLOW_SKIP=1) when nsd is not installed."""
    for tool in (NSD, NSD_CHECKZONE):
        if not os.access(tool, os.X_OK):
            msg = "%s not installed (Debian package nsd; run scripts/deps.sh)" % tool
            if ALLOW_SKIP:
                raise unittest.SkipTest(msg)
            raise AssertionError(msg)


def free_port():
    """A port on 127.0.0.1 that was free for both UDP and TCP a moment ago."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            u.bind((HOST, 0))
            port = u.getsockname()[1]
            try:
                t.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on %s" % HOST)


def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            if len(raw) > 63:
                raise ValueError("label too long: %r" % label)
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def query(port, name, qtype="A", host=HOST, timeout=1.0):
    """One UDP query, no recursion wanted. Returns (rcode name, answer
    count), or None when nothing came back in time."""
    qid = random.randrange(1 << 16)
    packet = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)
    packet += _encode_name(name) + struct.pack("!HH", TYPES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (host, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = s.recv(65535)
            except socket.timeout:
                return None
            if len(reply) < 12:
                continue
            rid, flags, _, ancount, _, _ = struct.unpack("!HHHHHH", reply[:12])
            if rid == qid and flags & 0x8000:
                return RCODES.get(flags & 0xF, str(flags & 0xF)), ancount
    return None


def _set_subreaper(on):
    """Orphans of our children become ours (PR_SET_CHILD_SUBREAPER)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1 if on else 0)
    except (OSError, AttributeError):
        pass


def _reap_nsd_orphans(seconds=1.0):
    """Wait for nsd processes re-parented to us: nsd's server children can
    outlive its main process, and init in a container may never reap them.
    Only zombies named nsd are waited for, so no other child's exit status
    is taken from its Popen."""
    deadline = time.monotonic() + seconds
    me = os.getpid()
    while time.monotonic() < deadline:
        left = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.find("(") + 1:stat.rfind(")")]
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[1]) != me or not comm.startswith("nsd"):
                continue
            left += 1
            try:
                os.waitpid(int(entry), os.WNOHANG)
            except ChildProcessError:
                pass
        if left == 0:
            return
        time.sleep(0.05)


def _die_with_parent():
    """In the child before exec: SIGTERM when the test process dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Nsd:
    """nsd serving `zones` ({name: zone text}) on 127.0.0.1."""

    def __init__(self, zones, port=None, failing=()):
        if not zones:
            raise ValueError("at least one zone")
        self.zones = dict(zones)
        # Zones nsd is told about but has no data for: it answers SERVFAIL
        # for every name in them (a server that cannot answer).
        self.failing = list(failing)
        self.port = port
        self.dir = None
        self.proc = None

    @property
    def server(self):
        """The value for hikyaku's dns_server."""
        return "%s@%d" % (HOST, self.port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _write_zones(self):
        for name, text in self.zones.items():
            origin = name.rstrip(".") + "."
            if "$ORIGIN" not in text:
                text = "$ORIGIN %s\n%s" % (origin, text)
            if not text.endswith("\n"):
                text += "\n"
            path = self._path(origin + "zone")
            with open(path, "w") as f:
                f.write(text)
            check = subprocess.run([NSD_CHECKZONE, origin, path], capture_output=True,
                                   text=True, timeout=30)
            if check.returncode != 0:
                raise AssertionError("zone %s does not load: %s" %
                                     (name, (check.stdout + check.stderr).strip()))

    def _write_conf(self):
        d = self.dir
        lines = [
            "server:",
            "\tip-address: %s" % HOST,
            "\tport: %d" % self.port,
            "\tdo-ip6: no",
            '\tusername: ""',
            '\tchroot: ""',
            '\tzonesdir: "%s"' % d,
            '\tzonelistfile: "%s/zone.list"' % d,
            '\tdatabase: ""',
            '\tpidfile: "%s/nsd.pid"' % d,
            '\txfrdfile: "%s/xfrd.state"' % d,
            '\txfrdir: "%s"' % d,
            '\tlogfile: "%s/nsd.log"' % d,
            "\tserver-count: 1",
            "\tverbosity: 1",
            "remote-control:",
            "\tcontrol-enable: no",
        ]
        for name in self.zones:
            origin = name.rstrip(".") + "."
            lines += ["zone:", '\tname: "%s"' % origin,
                      '\tzonefile: "%s"' % self._path(origin + "zone")]
        for name in self.failing:
            origin = name.rstrip(".") + "."
            lines += ["zone:", '\tname: "%s"' % origin,
                      '\tzonefile: "%s"' % self._path(origin + "missing")]
        with open(self._path("nsd.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def log(self):
        """nsd's log and its stdout/stderr, for failure messages."""
        text = ""
        for name in ("nsd.log", "nsd.out"):
            try:
                with open(self._path(name)) as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def _answers(self):
        for name in self.zones:
            r = query(self.port, name, "SOA", timeout=0.2)
            if r is None or r[0] != "NOERROR":
                return False
        return True

    def _spawn(self, timeout):
        out = open(self._path("nsd.out"), "ab")
        try:
            self.proc = subprocess.Popen([NSD, "-d", "-c", self._path("nsd.conf")],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         preexec_fn=_die_with_parent)
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self._answers():
                return True
            time.sleep(0.05)
        return False

    def start(self, timeout=10.0):
        """Write the files, start nsd, wait until every zone answers."""
        require_nsd()
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="hk-nsd-")
        try:
            self._write_zones()
        except BaseException:
            self.stop()
            raise
        fixed = self.port is not None
        for _ in range(1 if fixed else 3):
            if not fixed:
                self.port = free_port()
            self._write_conf()
            if self._spawn(timeout):
                return self
            self._kill()
        log = self.log()
        self.stop()
        raise AssertionError("nsd did not start on %s:%s:\n%s" % (HOST, self.port, log))

    def update(self, zones, timeout=10.0):
        """Serve new zone data on the same port (restarts nsd)."""
        self._kill()
        self.zones = dict(zones)
        return self.start(timeout)

    def _kill(self):
        if self.proc is None:
            return
        _set_subreaper(True)
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            _reap_nsd_orphans()
        finally:
            _set_subreaper(False)
        self.proc = None

    def stop(self):
        """End nsd and remove its directory (unless HIKYAKU_KEEP_TMP=1)."""
        self._kill()
        if self.dir is not None and not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class _SelfTest(unittest.TestCase):
    ZONE = """$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
@ MX 10 mx
mx A 192.0.2.25
"""

    def test_serves_and_stops(self):
        with Nsd({"example.test": self.ZONE}) as dns:
            self.assertRegex(dns.server, r"^127\.0\.0\.1@\d+$")
            self.assertEqual(query(dns.port, "example.test", "MX"), ("NOERROR", 1))
            self.assertEqual(query(dns.port, "nope.example.test", "A"), ("NXDOMAIN", 0))
            self.assertEqual(query(dns.port, "other.invalid", "A"), ("REFUSED", 0))
            port = dns.port
            dns.update({"example.test": self.ZONE + "www A 192.0.2.80\n"})
            self.assertEqual(dns.port, port)
            self.assertEqual(query(dns.port, "www.example.test", "A"), ("NOERROR", 1))
            directory = dns.dir
        self.assertIsNone(query(port, "example.test", "SOA", timeout=0.3))
        if not KEEP:
            self.assertFalse(os.path.exists(directory))

    def test_bad_zone_fails_loudly(self):
        with self.assertRaisesRegex(AssertionError, "does not load"):
            Nsd({"example.test": "@ SOA ns hostmaster 1 2 3 4 5\nbroken line here\n"}).start()


if __name__ == "__main__":
    unittest.main()
