"""Re-record the strace outputs the parser's unit tests read (run as root-or-not, loopback only).

    .venv/bin/python tests/tracing/data/record.py

Each scenario runs real programs on 127.0.0.1 under the same strace flags ``wrap_command`` uses. Lines that
name files outside the scenario's temporary directory (shared libraries, the venv) are dropped to keep the
files small and free of this machine's paths; the temporary directory itself is renamed ``/tmp/rec``.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.tracing.wrap import strace_argv

DATA = Path(__file__).resolve().parent
# lines naming these (the checkout, the interpreter's prefix, the home directory) are dropped
PRIVATE = (str(DATA.parents[2]), sys.prefix, sys.base_prefix, str(Path.home()))
HELLO = b"hello from the lab\n"

PY_THREADS = r'''
import os, socket, sys, threading
port = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen()
def serve():
    for _ in range(2):
        c, _ = srv.accept()
        total = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            total += len(b)
        c.sendall(str(total).encode())
        c.close()
t = threading.Thread(target=serve); t.start()
cli = socket.socket(); cli.bind(("127.0.0.1", 0)); cli.connect(("127.0.0.1", port))
cli.sendall(b"a" * 300000)
cli.shutdown(socket.SHUT_WR); print(cli.recv(100)); cli.close()
cli2 = socket.create_connection(("127.0.0.1", port))
pid = os.fork()
if pid == 0:
    cli2.sendall(b"from the child\n"); os._exit(0)
os.waitpid(pid, 0)
cli2.sendall(b"from the parent\n"); cli2.shutdown(socket.SHUT_WR); print(cli2.recv(100)); cli2.close()
t.join(); srv.close()
'''

DNS = r'''
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
q, addr = s.recvfrom(2048)
end = 12
while q[end]:
    end += 1 + q[end]
ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("198.18.0.7")
s.sendto(q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + q[12:end + 5] + ans, addr)
'''


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean(raw: Path, out: Path, tmp: str) -> None:
    keep = []
    for line in raw.read_text(errors="surrogateescape").splitlines():
        line = line.replace(tmp, "/tmp/rec")
        if re.search(r"<(?!/tmp/rec)/(?!dev/null)[^>]*>", line) or any(p in line for p in PRIVATE):
            continue
        keep.append(line)
    out.write_text("\n".join(keep) + "\n", errors="surrogateescape")


def traced(argv: list[str], out: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(strace_argv(argv, out), **kw)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "hello.txt").write_bytes(HELLO)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                                  cwd=t, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        traced(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/hello.txt"], t / "curl").wait(30)
        server.terminate()
        server.wait(10)
        clean(t / "curl", DATA / "curl_http.strace", tmp)

        port = free_port()
        srv = traced(["nc", "-l", "127.0.0.1", str(port)], t / "ncs", stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        traced(["nc", "-N", "127.0.0.1", str(port)], t / "ncc", stdin=subprocess.PIPE,
               stdout=subprocess.DEVNULL).communicate(b"hello over tcp\n", timeout=10)
        srv.wait(10)
        clean(t / "ncs", DATA / "nc_tcp_server.strace", tmp)
        clean(t / "ncc", DATA / "nc_tcp_client.strace", tmp)

        port = free_port(socket.SOCK_DGRAM)
        srv = traced(["timeout", "2", "nc", "-u", "-l", "127.0.0.1", str(port)], t / "nus",
                     stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        traced(["nc", "-u", "-q", "0", "127.0.0.1", str(port)], t / "nuc", stdin=subprocess.PIPE,
               stdout=subprocess.DEVNULL).communicate(b"hello udp\n", timeout=10)
        srv.wait(10)
        clean(t / "nus", DATA / "nc_udp_server.strace", tmp)
        clean(t / "nuc", DATA / "nc_udp_client.strace", tmp)

        port = free_port(socket.SOCK_DGRAM)
        dns = subprocess.Popen([sys.executable, "-c", DNS, str(port)], stdout=subprocess.PIPE)
        dns.stdout.readline()
        traced(["dig", "+short", "+tries=1", "+time=2", "@127.0.0.1", "-p", str(port), "lab.example", "A"],
               t / "dig", stdout=subprocess.DEVNULL).wait(20)
        dns.wait(10)
        clean(t / "dig", DATA / "dig_udp.strace", tmp)

        port = free_port()
        (t / "threads.py").write_text(PY_THREADS)
        prog = [sys.executable, str(t / "threads.py"), str(port)]
        traced(prog, t / "py", stdout=subprocess.DEVNULL).wait(30)
        clean(t / "py", DATA / "py_threads_fork.strace", tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
