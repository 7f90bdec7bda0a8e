"""Non-blocking send() until the buffers are full: partial returns, then the reader drains everything."""
import json
import socket

srv = socket.create_server(("127.0.0.1", 0))
c = socket.create_connection(srv.getsockname())
conn, _ = srv.accept()
c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
c.setblocking(False)
block = bytes(range(256)) * 256  # 64 KiB
returns = []
blocked = 0
while blocked < 2:
    try:
        returns.append(c.send(block))
    except BlockingIOError:
        blocked += 1
        chunk = conn.recv(100000)  # make a little room, then fill again
        returns.append(-len(chunk))
total_sent = sum(r for r in returns if r > 0)
c.shutdown(socket.SHUT_WR)
received = sum(-r for r in returns if r < 0)
while True:
    b = conn.recv(1 << 20)
    if not b:
        break
    received += len(b)
assert received == total_sent, (received, total_sent)
c.close()
conn.close()
srv.close()
print(json.dumps({"sends": [r for r in returns if r > 0], "total": total_sent}))
