"""For tests on live networks: a unique run id per network (other runs share the machine, and every kernel
resource carries its run id), and a real TCP or UDP echo exchange between two nodes, which is how a test
shows that a link, a route or a condition works rather than that a command was issued."""

from __future__ import annotations

import secrets
import subprocess
import sys

from lab.emulation import Network

ECHO_SERVER = """
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
kind = socket.SOCK_STREAM if sys.argv[3] == 'tcp' else socket.SOCK_DGRAM
s = socket.socket(fam, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(10)
if kind == socket.SOCK_STREAM:
    s.listen(1)
print('ready', flush=True)
if kind == socket.SOCK_STREAM:
    c, _ = s.accept(); c.sendall(c.recv(100).upper()); c.close()
else:
    while True:  # answer every datagram (a lossy link may eat one) until killed
        data, peer = s.recvfrom(100); s.sendto(data.upper(), peer)
"""

ECHO_CLIENT = """
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
kind = socket.SOCK_STREAM if sys.argv[3] == 'tcp' else socket.SOCK_DGRAM
s = socket.socket(fam, kind); s.settimeout(5 if kind == socket.SOCK_STREAM else 0.5)
s.connect((sys.argv[1], int(sys.argv[2])))
for attempt in range(1 if kind == socket.SOCK_STREAM else 8):  # UDP: resend on a lossy link
    s.send(b'hello lab')
    try:
        print(s.recv(100).decode()); break
    except TimeoutError:
        continue
"""


def run_id(prefix: str = "t") -> str:
    """A fresh run id (``prefix`` and six hex digits), so networks of concurrent tests never collide."""
    return f"{prefix}{secrets.token_hex(3)}"


def exchange(net: Network, client: str, server: str, version: int = 4, proto: str = "tcp",
             port: int = 5555) -> str:
    """A real echo exchange between two nodes; returns what the client received."""
    addr = net.ip(server, version)
    srv = net.popen(server, [sys.executable, "-c", ECHO_SERVER, addr, str(port), proto],
                    stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        out = net.run(client, [sys.executable, "-c", ECHO_CLIENT, addr, str(port), proto], timeout=10)
        return out.stdout.strip()
    finally:
        srv.kill()
        srv.wait()
