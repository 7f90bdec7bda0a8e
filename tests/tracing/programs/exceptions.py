"""Errors reach the program unchanged: the same classes and errnos as without the tracer."""
import errno
import socket
import struct

closed = socket.socket()
closed.bind(("127.0.0.1", 0))
dead_port = closed.getsockname()[1]
closed.close()  # nothing listens on dead_port now

s = socket.socket()
try:
    s.connect(("127.0.0.1", dead_port))
    raise SystemExit("connect should be refused")
except ConnectionRefusedError as e:
    assert type(e) is ConnectionRefusedError and e.errno == errno.ECONNREFUSED
s.close()

s = socket.socket()
assert s.connect_ex(("127.0.0.1", dead_port)) == errno.ECONNREFUSED
s.close()

srv = socket.create_server(("127.0.0.1", 0))
c = socket.create_connection(srv.getsockname())
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() will send RST
conn, _ = srv.accept()
conn.setblocking(False)
try:
    conn.recv(10)
    raise SystemExit("nothing to read: must raise")
except BlockingIOError as e:
    assert type(e) is BlockingIOError and e.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
conn.settimeout(0.05)
try:
    conn.recv(10)
    raise SystemExit("must time out")
except TimeoutError as e:  # socket.timeout
    assert type(e) is TimeoutError and e.args == ("timed out",)
try:
    socket.socket().getpeername()
except OSError as e:
    assert e.errno == errno.ENOTCONN
try:
    c.send("not bytes")
    raise SystemExit("str must be refused")
except TypeError:
    pass
c.close()
conn.close()
srv.close()
print("ok")
