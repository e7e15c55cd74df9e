#!/usr/bin/python3
"""tests/e2e/bgp_aprecv.py — a minimal iBGP speaker that receives VPNv4
with ADD-PATH (RFC 7911) and logs every NLRI in the order it came, for
bgp_addpath_move.sh (gobgp's RIB shows the result, not the order).

Connects from --local to --server:179, sends an OPEN (AS, MP VPNv4, 4-octet
AS, ADD-PATH receive for VPNv4), answers with KEEPALIVEs, and appends one
line per NLRI to --out (flushed at once):
  A <path-id> <rd-as>:<rd-value>:<prefix> <next-hop> <label>
  W <path-id> <rd-as>:<rd-value>:<prefix>
"UP" when Established. Runs until SIGTERM or the session ends.
"""
import argparse
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bgp_speakers import (KEEPALIVE, NOTIFICATION, OPEN, UPDATE,  # noqa: E402
                          msg, open_msg, path_attrs)

ADDPATH_RX_VPNV4 = bytes([69, 4, 0, 1, 128, 1])             # ADD-PATH: receive VPNv4


def vpn_nlri(data, reach):
    """(path id, "rd:prefix", label) of each ADD-PATH VPNv4 NLRI."""
    out, i = [], 0
    while i < len(data):
        pid = struct.unpack("!I", data[i:i + 4])[0]
        bits = data[i + 4]
        n = (bits + 7) // 8
        b = data[i + 5:i + 5 + n]
        label = (b[0] << 16 | b[1] << 8 | b[2]) >> 4
        rd_as, rd_v = struct.unpack("!HI", b[5:11])  # type 0: 2-byte AS, 4-byte value
        plen = bits - 88
        addr = b[11:] + b"\0" * (4 - len(b[11:]))
        out.append((pid, "%d:%d:%s/%d" % (rd_as, rd_v, socket.inet_ntoa(addr), plen),
                    label if reach else None))
        i += 5 + n
    return out


def update_lines(body):
    wlen = struct.unpack("!H", body[0:2])[0]
    alen = struct.unpack("!H", body[2 + wlen:4 + wlen])[0]
    attrs = body[4 + wlen:4 + wlen + alen]
    lines = []
    for code, v in path_attrs(attrs):
        if code == 14 and v[0:3] == b"\0\x01\x80":       # MP_REACH VPNv4
            nhl = v[3]
            nh = socket.inet_ntoa(v[4 + 8:4 + nhl])         # RD 0 + IPv4
            for pid, key, label in vpn_nlri(v[5 + nhl:], True):
                lines.append("A %d %s %s %d" % (pid, key, nh, label))
        elif code == 15 and v[0:3] == b"\0\x01\x80":     # MP_UNREACH VPNv4
            for pid, key, _ in vpn_nlri(v[3:], False):
                lines.append("W %d %s" % (pid, key))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--as", dest="asn", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    out = open(a.out, "a", buffering=1)
    while True:
        s = socket.socket()
        s.bind((a.local, 0))
        try:
            s.connect((a.server, 179))
        except OSError:
            s.close()
            time.sleep(0.5)
            continue
        break
    s.sendall(open_msg(a.asn, socket.inet_aton(a.local), 90, safi=128,
                           more_caps=ADDPATH_RX_VPNV4))
    buf, last_ka, up = b"", time.time(), False
    while True:
        s.settimeout(10)
        try:
            data = s.recv(65536)
        except socket.timeout:
            data = b""
            if time.time() - last_ka < 10:
                continue
        else:
            if not data:
                out.write("DOWN\n")
                return
        buf += data
        if time.time() - last_ka >= 10:
            s.sendall(msg(KEEPALIVE))
            last_ka = time.time()
        while len(buf) >= 19:
            ln, kind = struct.unpack("!HB", buf[16:19])
            if len(buf) < ln:
                break
            body, buf = buf[19:ln], buf[ln:]
            if kind == OPEN:
                s.sendall(msg(KEEPALIVE))
            elif kind == KEEPALIVE and not up:
                out.write("UP\n")
                up = True
            elif kind == UPDATE:
                for line in update_lines(body):
                    out.write(line + "\n")
            elif kind == NOTIFICATION:
                out.write("NOTIFICATION %d/%d\n" % (body[0], body[1]))
                return


if __name__ == "__main__":
    main()
