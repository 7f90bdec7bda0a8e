"""UDP: unconnected sendto/recvfrom both ways, then connected send/recv."""
import json
import socket

a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("127.0.0.1", 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.sendto(b"ping over udp", a.getsockname())
data, addr = a.recvfrom(2048)
a.sendto(b"pong", addr)
reply, _ = b.recvfrom(2048)
b.connect(a.getsockname())
b.send(b"connected datagram")
buf = bytearray(64)
n, _ = a.recvfrom_into(buf)
facts = {"a": list(a.getsockname()), "b": list(b.getsockname()), "data": data.decode(),
         "reply": reply.decode(), "third": bytes(buf[:n]).decode()}
a.close()
b.close()
print(json.dumps(facts))
