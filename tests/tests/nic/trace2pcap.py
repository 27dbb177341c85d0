#!/usr/bin/env python3
"""Turns the appliance's frame trace (kernel command line `net.trace`; defmt lines
`pcap IFACE in|out MICROSECONDS LENGTH [bytes]` in the decoded defmt log) into a pcap
file for tshark or Wireshark.

usage: trace2pcap.py DEFMT_LOG IFACE OUT.pcap     (prints the number of frames written)
"""
import re
import struct
import sys

LINE = re.compile(r"pcap (\w+) (in|out) (\d+) (\d+) \[([0-9a-fA-F, ]*)\]")
SNAPLEN = 256  # the kernel records at most this many bytes of each frame


def main():
    log, iface, out = sys.argv[1:4]
    frames = 0
    with open(log, errors="replace") as src, open(out, "wb") as dst:
        dst.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1))  # LINKTYPE_ETHERNET
        for line in src:
            m = LINE.search(line)
            if not m or m.group(1) != iface:
                continue
            us, length = int(m.group(3)), int(m.group(4))
            data = bytes(int(b, 16) for b in m.group(5).split(",") if b.strip())
            dst.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(data), length))
            dst.write(data)
            frames += 1
    print(frames)


if __name__ == "__main__":
    main()
