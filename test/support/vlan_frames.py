#!/usr/bin/env python3
"""Send or receive 802.1Q-tagged Ethernet frames on a raw AF_PACKET socket.

send IFNAME VID MARKER COUNT  -- broadcast COUNT frames tagged VID, payload MARKER
recv IFNAME SECONDS            -- print each distinct marker seen (payloads starting "VNT")
vids IFNAME SECONDS            -- print each distinct VLAN id seen on received frames
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

SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4

def vids(ifname, seconds):
    """VLAN ids of frames arriving on IFNAME. The kernel strips the tag into
    packet metadata (tpacket_auxdata.tp_vlan_tci) when it offloads VLANs, and
    leaves it in the frame otherwise; both are read."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.settimeout(0.1)
    seen = set()
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            data, anc, _, addr = s.recvmsg(2048, 1024)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        for level, kind, cdata in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(cdata) >= 20:
                status, _len, _snap, _mac, _net, tci = struct.unpack("IIIHHH", cdata[:18])
                if status & TP_STATUS_VLAN_VALID:
                    seen.add(tci & 0x0FFF)
        if len(data) >= 16 and struct.unpack("!H", data[12:14])[0] == ETH_P_8021Q:
            seen.add(struct.unpack("!H", data[14:16])[0] & 0x0FFF)
    print(" ".join(str(v) for v in sorted(seen)))

if __name__ == "__main__":
    {"send": send, "recv": recv, "vids": vids}[sys.argv[1]](*sys.argv[2:])
