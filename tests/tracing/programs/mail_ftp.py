"""smtplib, ftplib and telnetlib (where present) against tiny line-based responders (socketserver)."""
import ftplib
import json
import smtplib
import socketserver
import threading
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import telnetlib  # removed in Python 3.13
    except ImportError:
        telnetlib = None


class SMTP(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 lab ESMTP\r\n")
        in_data = False
        for line in self.rfile:
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    self.wfile.write(b"250 queued\r\n")
                continue
            cmd = line[:4].upper()
            if cmd in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 lab\r\n")
            elif cmd == b"DATA":
                in_data = True
                self.wfile.write(b"354 go ahead\r\n")
            elif cmd == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


class FTP(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 lab FTP\r\n")
        for line in self.rfile:
            cmd = line[:4].upper()
            if cmd == b"USER":
                self.wfile.write(b"331 password please\r\n")
            elif cmd == b"PASS":
                self.wfile.write(b"230 logged in\r\n")
            elif cmd == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 not here\r\n")


servers = [socketserver.ThreadingTCPServer(("127.0.0.1", 0), h) for h in (SMTP, FTP)]
for s in servers:
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
smtp_port, ftp_port = (s.server_address[1] for s in servers)
with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as m:
    m.sendmail("a@lab.example", ["b@lab.example"], "Subject: hi\r\n\r\nhello by mail\r\n")
f = ftplib.FTP()
f.connect("127.0.0.1", ftp_port, timeout=5)
welcome = f.login("lab", "secret")
f.quit()
telnet = None
if telnetlib is not None:  # a Telnet session with the FTP responder: greeting, a line, the goodbye
    with telnetlib.Telnet("127.0.0.1", ftp_port, timeout=5) as t:
        t.read_until(b"\r\n", 5)
        t.write(b"QUIT\r\n")
        telnet = t.read_all().decode()
for s in servers:
    s.shutdown()
    s.server_close()
print(json.dumps({"smtp": smtp_port, "ftp": ftp_port, "login": welcome, "telnet": telnet}))
