#!/usr/bin/python3
"""tests/e2e/bgp_speakers.py — many small iBGP speakers in one process, for
the tern-control scale tests (bgp_many_peers.sh, bgp_sighup.sh).

Speaker i connects from LOCAL_BASE + i (127/8 addresses are all local on lo)
to the server, sends an OPEN (AS, IPv4 unicast via MP-BGP, 4-octet AS),
answers keepalives, and reconnects a second after any close (a neighbour
tern-control does not know yet is refused until a reload adds it). Speakers
listed in --announce send one IPv4 route (10.99.<i>.0/24, next hop their own
address) once Established. Every received IPv4 unicast prefix is recorded.

The status goes to --status FILE (JSON, rewritten atomically every 0.3 s):
  {"established": N, "up": [i, ...], "got": {"i": ["10.99.0.0/24", ...]}}
Runs until SIGTERM. One thread, select(); light on CPU (idle between
messages).
"""
import argparse
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import sys
import time

MARKER = b"\xff" * 16
OPEN, UPDATE, NOTIFICATION, KEEPALIVE = 1, 2, 3, 4


def msg(kind, body=b""):
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def open_msg(asn, router_id, hold, safi=1, more_caps=b""):
    """OPEN with MP (IPv4, safi: 1 unicast, 128 VPN), 4-octet AS, more_caps."""
    caps = bytes([1, 4, 0, 1, 0, safi])                    # MP: IPv4 / safi
    caps += bytes([65, 4]) + struct.pack("!I", asn)         # 4-octet AS
    caps += more_caps
    opt = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    return msg(OPEN, struct.pack("!BHH4sB", 4, my_as, hold, router_id, len(opt)) + opt)


def update_msg(prefix, nexthop):
    net = ipaddress.ip_network(prefix)
    nbytes = (net.prefixlen + 7) // 8
    nlri = bytes([net.prefixlen]) + net.network_address.packed[:nbytes]
    attrs = bytes([0x40, 1, 1, 0])                          # ORIGIN IGP
    attrs += bytes([0x40, 2, 0])                            # AS_PATH empty (iBGP)
    attrs += bytes([0x40, 3, 4]) + socket.inet_aton(nexthop)
    attrs += bytes([0x40, 5, 4]) + struct.pack("!I", 100)   # LOCAL_PREF
    return msg(UPDATE, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + nlri)


def prefixes(data):
    """IPv4 prefixes of an NLRI field."""
    out, i = [], 0
    while i < len(data):
        plen = data[i]
        n = (plen + 7) // 8
        addr = data[i + 1:i + 1 + n] + b"\0" * (4 - n)
        out.append("%s/%d" % (socket.inet_ntoa(addr), plen))
        i += 1 + n
    return out


def path_attrs(attrs):
    """(type code, value) of each path attribute in attrs."""
    i = 0
    while i + 3 <= len(attrs):
        flags, code = attrs[i], attrs[i + 1]
        if flags & 0x10:                                    # extended length
            ln = struct.unpack("!H", attrs[i + 2:i + 4])[0]
            v, i = attrs[i + 4:i + 4 + ln], i + 4 + ln
        else:
            ln = attrs[i + 2]
            v, i = attrs[i + 3:i + 3 + ln], i + 3 + ln
        yield code, v


def update_nlri(body):
    """(announced, withdrawn) IPv4 unicast prefixes of an UPDATE body."""
    wlen = struct.unpack("!H", body[0:2])[0]
    withdrawn = prefixes(body[2:2 + wlen])
    alen = struct.unpack("!H", body[2 + wlen:4 + wlen])[0]
    attrs = body[4 + wlen:4 + wlen + alen]
    announced = prefixes(body[4 + wlen + alen:])
    for code, v in path_attrs(attrs):
        if code == 14 and v[:3] == b"\0\1\1":               # MP_REACH IPv4 unicast
            nhl = v[3]
            announced += prefixes(v[4 + nhl + 1:])
        elif code == 15 and v[:3] == b"\0\1\1":             # MP_UNREACH
            withdrawn += prefixes(v[3:])
    return announced, withdrawn


class Speaker:
    def __init__(self, i, a):
        self.i = i
        self.local = str(ipaddress.ip_address(a.local_base) + i)
        self.a = a
        self.sock = None
        self.connecting = False
        self.buf = b""
        self.up = False
        self.retry_at = 0.0
        self.ka_at = 0.0
        self.got = set()

    def connect(self, now):
        self.close()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((self.local, 0))
            s.connect_ex((self.a.server, self.a.port))
        except OSError:
            s.close()
            self.retry_at = now + 1
            return
        self.sock = s
        self.connecting = True

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None
        self.buf = b""
        self.up = False
        self.got = set()

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.close()
            self.retry_at = time.monotonic() + 1

    def on_writable(self):
        self.connecting = False
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.close()
            self.retry_at = time.monotonic() + 1
            return
        rid = (ipaddress.ip_address(self.local)).packed
        self.send(open_msg(self.a.asn, rid, 90))

    def on_readable(self):
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.close()
            self.retry_at = time.monotonic() + 1
            return
        self.buf += data
        while len(self.buf) >= 19:
            ln, kind = struct.unpack("!HB", self.buf[16:19])
            if len(self.buf) < ln:
                break
            body, self.buf = self.buf[19:ln], self.buf[ln:]
            if kind == OPEN:
                self.send(msg(KEEPALIVE))
            elif kind == KEEPALIVE and not self.up:
                self.up = True
                if self.i in self.a.announce:
                    self.send(update_msg("10.99.%d.0/24" % self.i, self.local))
            elif kind == UPDATE:
                ann, wd = update_nlri(body)
                self.got |= set(ann)
                self.got -= set(wd)
            elif kind == NOTIFICATION:
                self.close()
                self.retry_at = time.monotonic() + 1
                return
            if not self.sock:
                return


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--port", type=int, default=179)
    p.add_argument("--as", dest="asn", type=int, default=65000)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--local-base", default="127.0.1.1")
    p.add_argument("--announce", default="", help="comma-separated speaker indexes")
    p.add_argument("--status", required=True)
    a = p.parse_args()
    a.announce = {int(x) for x in a.announce.split(",") if x}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sp = [Speaker(i, a) for i in range(a.count)]
    next_status = 0.0
    while not stop:
        now = time.monotonic()
        for s in sp:
            if not s.sock and now >= s.retry_at:
                s.connect(now)
            if s.up and now >= s.ka_at:
                s.ka_at = now + 30
                s.send(msg(KEEPALIVE))
        rd = [s.sock for s in sp if s.sock and not s.connecting]
        wr = [s.sock for s in sp if s.sock and s.connecting]
        by_fd = {s.sock.fileno(): s for s in sp if s.sock}
        try:
            r, w, _ = select.select(rd, wr, [], 0.2)
        except InterruptedError:
            continue
        for x in w:
            s = by_fd.get(x.fileno())
            if s and s.sock is x:
                s.on_writable()
        for x in r:
            s = by_fd.get(x.fileno())
            if s and s.sock is x:
                s.on_readable()
        if now >= next_status:
            next_status = now + 0.3
            st = {"established": sum(s.up for s in sp),
                  "up": [s.i for s in sp if s.up],
                  "got": {str(s.i): sorted(s.got) for s in sp if s.got}}
            tmp = a.status + ".tmp"
            with open(tmp, "w") as f:
                json.dump(st, f)
            os.replace(tmp, a.status)
    for s in sp:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
