"""http.client and urllib against http.server (socketserver) in one process."""
import http.client
import http.server
import json
import threading
import urllib.request


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from the lab\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
port = server.server_address[1]
t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
t.start()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
conn.request("GET", "/one")
body1 = conn.getresponse().read()
conn.close()
body2 = urllib.request.urlopen(f"http://127.0.0.1:{port}/two", timeout=5).read()
server.shutdown()
server.server_close()
t.join()
print(json.dumps({"port": port, "bodies": [body1.decode(), body2.decode()]}))
