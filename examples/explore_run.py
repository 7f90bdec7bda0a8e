"""Run a lab of the catalogue and walk its packets: which call sent what, and which call read it.

    sudo .venv/bin/python examples/explore_run.py [LAB]      (default: udp-echo)
"""

import sys

import lab

run = lab.run(sys.argv[1] if len(sys.argv) > 1 else "udp-echo")
print(run, "ok" if run.ok else f"FAILED: {run.failures}")
for call in run.calls:
    sent, read = call.packets, call.consumed
    if sent or read:
        print(f"{call.node} {call.name}() #{call.id}: sent frames {[p.number for p in sent]}, "
              f"read frames {[p.number for p in read]}")
for p in run.filter(source="kernel"):
    print(f"#{p.number} {p.role.text}  <- {p.cause.text}")
