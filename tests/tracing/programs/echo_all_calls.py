"""TCP over IPv4 (or IPv6 with argv[1] == "6"): nearly every socket method once, facts printed as JSON."""
import json
import socket
import sys
import threading

fam, host = (socket.AF_INET6, "::1") if sys.argv[1:] == ["6"] else (socket.AF_INET, "127.0.0.1")
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
reuse = srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
srv.bind((host, 0))
srv.listen(4)
port = srv.getsockname()[1]
facts = {"port": port, "reuse": reuse}


def serve():
    conn, addr = srv.accept()
    facts["accepted_peer"] = list(addr[:2])
    got = b""
    while len(got) < 5 + 6 + 7:
        got += conn.recv(64)
    buf = bytearray(16)
    n = conn.recv_into(buf)
    data, _ = conn.recvfrom(16)
    buf2 = bytearray(16)
    n2, _ = conn.recvfrom_into(buf2)
    msg = conn.recvmsg(16)
    facts["server_got"] = [got.decode(), bytes(buf[:n]).decode(), data.decode(), bytes(buf2[:n2]).decode(),
                           msg[0].decode()]
    conn.sendall(b"bye")
    conn.shutdown(socket.SHUT_WR)
    facts["eof"] = conn.recv(10)
    conn.close()


t = threading.Thread(target=serve)
t.start()
c = socket.socket(fam, socket.SOCK_STREAM)
c.settimeout(5)
c.setblocking(True)
c.connect((host, port))
facts["client_local"] = list(c.getsockname()[:2])
facts["client_peer"] = list(c.getpeername()[:2])
facts["fileno"] = c.fileno()
facts["send"] = c.send(b"hello")
c.sendall(b"world!")
facts["sendmsg"] = c.sendmsg([b"sen", b"dmsg"])
import time  # noqa: E402

for chunk in (b"recvinto", b"recvfrom", b"rfinto", b"rmsg"):
    time.sleep(0.05)  # one recv per chunk on the server side
    c.sendall(chunk)
reply = b""
while True:
    b = c.recv(10)
    if not b:
        break
    reply += b
facts["reply"] = reply.decode()
c.shutdown(socket.SHUT_WR)
t.join()
c.close()
c.close()  # a second close of a closed socket
srv.close()
facts["eof"] = facts["eof"].decode()
print(json.dumps(facts))
