#!/usr/bin/env python3
"""Sends crafted Ethernet frames out of one interface (run inside a test namespace).

usage: frames.py IFACE DST_MAC DST_IP KIND=COUNT [KIND=COUNT ...] [--gap-us N]

Kinds (what the appliance must count them as):
  runt-eth    14-byte frame, IPv4 ethertype, no payload          -> runt
  runt-ip     IPv4 ethertype with a 10-byte payload               -> runt
  runt-arp    ARP ethertype with a 20-byte payload                -> runt
  oversized   valid IPv4/UDP frame of 1600 bytes (MTU 1500)        -> oversized
  jumbo       valid IPv4/UDP frame of 8000 bytes                   -> oversized
  bad-ihl     IPv4 header length 12 bytes                          -> ip-header
  bad-totlen  IPv4 total length beyond the frame                   -> ip-header
  bad-version version 6 in an IPv4 ethertype frame                 -> ip-header
  bad-csum    IPv4 header checksum off by one                      -> ip-checksum
  ethertype   ethertype 0x88b5 (local experimental)                -> ethertype
  ipv6        an IPv6 header                                       -> ipv6
  frag-offset fragment at offset 65520 with 100 bytes of data      -> frag-offset
  arp-other   ARP requests for addresses that are not DST_IP      -> arp-other
  arp-flood   ARP requests for DST_IP, as fast as possible         -> arp-flood (beyond the rate limit)
  transit     UDP to the address given by --transit-to=IP through the appliance's MAC,
              carrying the marker "vnetcrypt-transit"              -> transit (to the data plane)
Prints one line per kind: "sent KIND N".

usage: frames.py --recv IFACE SECONDS [--until=N]
Counts the frames carrying the transit marker seen on IFACE for SECONDS, or until N
of them arrived (SECONDS is then only the deadline); prints "listening" once it is
listening and "received N" at the end.
"""
import socket
import struct
import sys
import time


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def ipv4(src, dst, payload, proto=17, ihl_words=5, total=None, version=4, frag=0, bad_csum=False):
    total = 20 + len(payload) if total is None else total
    hdr = struct.pack("!BBHHHBBH4s4s", version << 4 | ihl_words, 0, total, 0x1234, frag, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(hdr)
    if bad_csum:
        c = (c + 1) & 0xFFFF
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def udp(payload, sport=40000, dport=9):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def arp_request(src_mac, src_ip, target_ip):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src_mac, socket.inet_aton(src_ip),
                       b"\0" * 6, socket.inet_aton(target_ip))


MARKER = b"vnetcrypt-transit"


def receive(iface, seconds, until=None):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((iface, 0))
    s.settimeout(0.2)
    print("listening", flush=True)
    seen = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end and (until is None or seen < until):
        try:
            frame = s.recv(65535)
        except socket.timeout:
            continue
        if MARKER in frame:
            seen += 1
    print(f"received {seen}", flush=True)


def main():
    if sys.argv[1] == "--recv":
        until = next((int(a.split("=", 1)[1]) for a in sys.argv[4:] if a.startswith("--until=")), None)
        receive(sys.argv[2], float(sys.argv[3]), until)
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    gap_us = 500
    transit_to = None
    for a in sys.argv[1:]:
        if a.startswith("--gap-us="):
            gap_us = int(a.split("=", 1)[1])
        if a.startswith("--transit-to="):
            transit_to = a.split("=", 1)[1]
    iface, dst_mac, dst_ip = args[0], mac_bytes(args[1]), args[2]
    plan = [(k, int(n)) for k, n in (a.split("=") for a in args[3:])]
    src_mac = mac_bytes(open(f"/sys/class/net/{iface}/address").read().strip())
    # The sender's address: same /24 as DST_IP, host .1 (the test's convention).
    src_ip = ".".join(dst_ip.split(".")[:3] + ["1"])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))

    def eth(ethertype, payload):
        return dst_mac + src_mac + struct.pack("!H", ethertype) + payload

    bcast = b"\xff" * 6
    for kind, count in plan:
        for i in range(count):
            if kind == "runt-eth":
                f = eth(0x0800, b"")
            elif kind == "runt-ip":
                f = eth(0x0800, b"\x45" + b"\0" * 9)
            elif kind == "runt-arp":
                f = eth(0x0806, b"\0\x01\x08\x00\x06\x04" + b"\0" * 14)
            elif kind in ("oversized", "jumbo"):
                size = 1600 if kind == "oversized" else 8000
                body = b"x" * (size - 14 - 20 - 8)
                f = eth(0x0800, ipv4(src_ip, dst_ip, udp(body)))
            elif kind == "bad-ihl":
                f = eth(0x0800, ipv4(src_ip, dst_ip, udp(b"hello"), ihl_words=3))
            elif kind == "bad-totlen":
                f = eth(0x0800, ipv4(src_ip, dst_ip, udp(b"hello"), total=1400))
            elif kind == "bad-version":
                f = eth(0x0800, ipv4(src_ip, dst_ip, udp(b"hello"), version=6))
            elif kind == "bad-csum":
                f = eth(0x0800, ipv4(src_ip, dst_ip, udp(b"hello"), bad_csum=True))
            elif kind == "ethertype":
                f = eth(0x88B5, b"\0" * 46)
            elif kind == "ipv6":
                f = eth(0x86DD, b"\x60" + b"\0" * 39)
            elif kind == "frag-offset":
                f = eth(0x0800, ipv4(src_ip, dst_ip, b"y" * 100, frag=8190))
            elif kind == "arp-other":
                other = ".".join(dst_ip.split(".")[:3] + [str(100 + i % 100)])
                f = bcast + src_mac + struct.pack("!H", 0x0806) + arp_request(src_mac, src_ip, other)
            elif kind == "transit":
                f = eth(0x0800, ipv4(src_ip, transit_to, udp(MARKER + b"-%d" % i)))
            elif kind == "arp-flood":
                f = bcast + src_mac + struct.pack("!H", 0x0806) + arp_request(src_mac, src_ip, dst_ip)
            else:
                sys.exit(f"unknown kind {kind}")
            s.send(f)
            if kind != "arp-flood" and gap_us:
                time.sleep(gap_us / 1e6)
        print(f"sent {kind} {count}", flush=True)


if __name__ == "__main__":
    main()
