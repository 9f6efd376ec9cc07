#!/usr/bin/env python3
"""Send or receive 802.1Q-tagged Ethernet frames on a raw AF_PACKET socket.

send IFNAME VID MARKER COUNT  -- broadcast COUNT frames tagged VID, payload MARKER
recv IFNAME SECONDS            -- print each distinct marker seen (payloads starting "VNT")
The kernel may move a received tag into packet metadata (VLAN offload), so the
receiver identifies frames by their payload marker, never by the header.
"""
import socket, struct, sys, time

ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100
ETH_P_EXPERIMENTAL = 0x88B5  # IEEE 802 local experimental ethertype

def send(ifname, vid, marker, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    src = s.getsockname()[4]
    frame = b"\xff" * 6 + src + struct.pack("!HHH", ETH_P_8021Q, int(vid) & 0x0FFF, ETH_P_EXPERIMENTAL)
    frame += marker.encode().ljust(46, b"\0")
    for _ in range(int(count)):
        s.send(frame)
        time.sleep(0.01)

def recv(ifname, seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.settimeout(0.1)
    seen = set()
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        i = data.find(b"VNT")
        if i >= 0:
            seen.add(data[i:].split(b"\0")[0].decode())
    print(" ".join(sorted(seen)))

if __name__ == "__main__":
    {"send": send, "recv": recv}[sys.argv[1]](*sys.argv[2:])
