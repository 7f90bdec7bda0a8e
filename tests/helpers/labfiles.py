"""A minimal valid lab file, as data: the lab-file tests change one field of it at a time, so that each
validation error is tested against an otherwise correct file (and the file stays correct as the format
grows: one place to update)."""

from __future__ import annotations

from typing import Any

MINIMAL: dict[str, Any] = {
    "name": "mine",
    "topology": "two-hosts",
    "steps": [
        {
            "name": "server",
            "node": "h2",
            "run": ["python3", "{programs}/tcp_echo_server.py"],
            "background": True,
            "ready": {"tcp": 5000},
        },
        {
            "name": "client",
            "node": "h1",
            "run": ["python3", "{programs}/tcp_echo_client.py", "{ip[h2]}", "5000"],
        },
        {"wait": "server"},
    ],
    "observations": [{"check": "role_count", "role": "syn", "count": 1}],
    "questions": [{"id": "q", "text": "?", "answer": "syn_seq_raw"}],
}
