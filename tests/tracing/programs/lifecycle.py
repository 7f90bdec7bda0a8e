"""Sockets made and ended every other way: socketpair, fromfd, dup, detach/adopt, sendfile, makefile with a
deferred close, a fork child writing on an inherited socket, a socket closed by garbage collection, and one
left open at exit."""
import gc
import json
import os
import socket
import tempfile

facts = {}
a, b = socket.socketpair()
a.sendall(b"pair")
facts["pair"] = b.recv(10).decode()
f = socket.fromfd(a.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
f.sendall(b"fromfd")
facts["fromfd"] = b.recv(10).decode()
d = a.dup()
d.close()
fd = a.detach()
a2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=fd)
a2.sendall(b"adopted")
facts["adopted"] = b.recv(10).decode()
for s in (a2, f, b):
    s.close()

srv = socket.create_server(("127.0.0.1", 0))
c = socket.create_connection(srv.getsockname())
conn, _ = srv.accept()
with tempfile.TemporaryFile() as tmp:
    tmp.write(b"x" * 10000)
    tmp.seek(0)
    facts["sendfile"] = c.sendfile(tmp)
got = 0
while got < 10000:
    got += len(conn.recv(65536))
w = c.makefile("wb")
c.close()  # deferred: the file still holds the socket
w.write(b"line through makefile\n")
w.flush()
w.close()  # now the fd closes
r = conn.makefile("rb")
facts["line"] = r.readline().decode()
r.close()
conn.close()

c2 = socket.create_connection(srv.getsockname())
conn2, _ = srv.accept()
pid = os.fork()
if pid == 0:
    c2.sendall(b"child")
    os._exit(0)
os.waitpid(pid, 0)
c2.sendall(b"parent")
data = b""
while len(data) < 11:
    data += conn2.recv(64)
facts["fork"] = data.decode()
facts["child"] = pid
del c2
gc.collect()  # closed by the garbage collector, not by close()
facts["left_open"] = conn2.fileno()
print(json.dumps(facts))
