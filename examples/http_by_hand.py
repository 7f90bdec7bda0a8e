"""A network for a script: bring two hosts up, serve HTTP on one, fetch from the other, explain the capture.

    sudo .venv/bin/python examples/http_by_hand.py
"""

import lab

with lab.network("two-hosts") as net:
    net["h2"].popen(["python3", "-m", "http.server", "8000"])
    net["h2"].wait_listening(8000)
    with net.capture() as cap:
        page = net["h1"].run(["curl", "-s", "http://h2:8000/"]).stdout
print(f"fetched {len(page)} bytes; {cap.run}")
print(open(cap.run.dir / "ladder.txt").read())
