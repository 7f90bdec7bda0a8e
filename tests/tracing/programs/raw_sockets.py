"""Raw sockets on lo (run in a fresh network namespace, as root): an AF_PACKET frame and a raw IPv4 packet.

Prints JSON facts: the frame and packet sent, and what the receiving raw sockets returned, so the test
can compare the tracer's hashes with hashes of the real bytes.
"""

import json
import socket
import struct

ETH_P_ALL = 0x0003
ETH_P_LAB = 0x88B5  # IEEE local experimental EtherType: no stack in the kernel takes it


def checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def main() -> None:
    link = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    link.bind(("lo", ETH_P_ALL))
    listener = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    listener.bind(("lo", ETH_P_ALL))
    listener.settimeout(2)
    frame = b"\x00" * 6 + b"\x00" * 6 + struct.pack("!H", ETH_P_LAB) + b"hand-made frame, 0123456789abcdef"
    sent = link.send(frame)
    copies = []
    while len(copies) < 2:  # another packet socket sees the frame leave (outgoing) and come back on lo
        data, _anc, _flags, addr = listener.recvmsg(2048)
        if data == frame:
            copies.append(addr[2])
    link.close()
    listener.close()

    # raw IPv4: a UDP datagram with a header written by hand (IPPROTO_RAW implies IP_HDRINCL), read back
    # by a SOCK_RAW IPPROTO_UDP socket, which gets the packet with its IP header
    reader = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    reader.settimeout(2)
    writer = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    payload = b"raw udp payload"
    udp = struct.pack("!HHHH", 40000, 40009, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x1234, 0, 64, 17, 0,
                         socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    writer.sendto(header + udp, ("127.0.0.1", 0))
    got, source = reader.recvfrom(2048)
    writer.close()
    reader.close()
    print(json.dumps({"frame": frame.hex(), "sent": sent, "pkttypes": copies, "udp": udp.hex(),
                      "got_ip_payload": got[(got[0] & 15) * 4:].hex(), "source": source[0]}))


if __name__ == "__main__":
    main()
