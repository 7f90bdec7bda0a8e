"""report.html: one self-contained page per run (inline CSS, JavaScript and data; no network, no server).

The page is assembled here from three parts: the data (:mod:`lab.report.html.data`), the stylesheet and
one small script per view (``assets/*.js``: sequence diagram, packet view, topology, step-through,
filters, TCP graph, the lab's text). A Content-Security-Policy forbids every request the page could make
(``default-src 'none'``), so opening it never reaches the network even if a text in it tried to.

The file is written atomically (a temporary file renamed into place): a page is there whole or not at all.
It is written in parts as they are made (``page_parts``): a 200,000-packet page is some 30 MiB of JSON,
which as one string, beside its escaped copy and the page around it, once cost more memory than the data.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from array import array
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from lab.errors import UsageError
from lab.paths import RunPaths
from lab.report.html.data import build_page_data
from lab.report.records import RunRecords, load_run

SCRIPTS = ("core", "sequence", "filters", "stepper", "packetview", "topology", "tcpgraph", "text", "main")
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
       "connect-src 'none'; form-action 'none'; base-uri 'none'")



def _asset(name: str) -> str:
    return resources.files("lab.report.html").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def _script_safe(raw: bytes) -> bytes:
    """JSON bytes made safe inside a <script> element: every ``<`` is written ``\\u003c`` (it only occurs
    inside JSON strings), so no text of a record can close the element or open a comment in it."""
    raw = raw.replace(b"<", b"\\u003c")
    if b"\xe2\x80\xa8" in raw or b"\xe2\x80\xa9" in raw:  # U+2028/9 in UTF-8: rare, kept out of the script
        raw = raw.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return raw


def _script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a <script> element (``_script_safe``)."""
    return b"".join(_script_safe(part) for part in _json_parts(data)).decode("utf-8")


def _json_parts(value: Any, top: bool = True) -> Iterator[bytes]:
    """``orjson.dumps(value)`` in parts, byte for byte: the page's columns are arrays (see
    ``data.Columns``), each written on its own, so the whole JSON text is never one 30 MiB string beside
    the data it was made from."""
    if isinstance(value, array):
        yield orjson.dumps(value.tolist())
    elif isinstance(value, dict) and (top or any(isinstance(v, array | dict) for v in value.values())):
        yield b"{"
        for i, (key, item) in enumerate(value.items()):
            yield (b"," if i else b"") + orjson.dumps(key) + b":"
            yield from _json_parts(item, top=False)
        yield b"}"
    else:
        yield orjson.dumps(value)


def page_parts(records: RunRecords) -> Iterator[bytes]:
    """The page, in parts (UTF-8): the head, the data's JSON piece by piece, the scripts."""
    import html

    data = build_page_data(records)
    meta = data["meta"]
    esc = html.escape
    bits = [f"{meta['packets']:,} packets", f"{meta['calls']:,} calls", f"{len(data['lanes'])} lanes"]
    if meta["probes"]:
        bits.append(f"{meta['probes']} lab capture probes left out")
    text = data["text"]
    if text.get("conditions"):
        bits.append("; ".join(text["conditions"]))
    if records.partial:
        meta["notes"].insert(0, f"PARTIAL RUN: {records.partial}; this page shows what it had written")
    if isinstance(text.get("capture"), dict) and text["capture"].get("complete") is False:
        bits.append(f"capture INCOMPLETE: {text['capture'].get('dropped')} packets dropped by the capture")
    notes = "".join(f"<div class='note'>{esc(n)}</div>" for n in meta["notes"])
    body = _asset("page.html").format(title=esc(meta["title"]), meta=esc(" · ".join(bits)), notes=notes,
                       bg_text=esc(meta["background_text"]))
    scripts = "\n".join(_asset(f"{name}.js") for name in SCRIPTS)
    yield (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(meta['title'])}</title>\n<style>\n{_asset('page.css')}</style></head>\n<body>\n{body}"
        "<script id=\"lab-data\" type=\"application/json\">"
    ).encode()
    for part in _json_parts(data):
        yield _script_safe(part)
    yield f"</script>\n<script>\n{scripts}\n</script>\n</body></html>\n".encode()


def render_page(records: RunRecords) -> str:
    """The whole page as one string."""
    return b"".join(page_parts(records)).decode("utf-8")


def write_report(run_dir: Path, *, by_the_run: bool = False) -> Path:
    """Write ``run_dir/report.html`` from the records in ``run_dir``; returns its path.

    ``by_the_run``: the run itself writes its page while finishing, its PARTIAL marker still saying
    "running" (a page made later of a run cut short says PARTIAL RUN and why).

    Raises:
        UsageError: ``run_dir`` is not a run or analysis directory, a record in it is broken, or the page
            cannot be written.
    """
    records = load_run(Path(run_dir))
    if by_the_run:
        records.partial = None
    target = RunPaths(records.root).page
    try:
        fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=records.root)
    except OSError as err:
        raise UsageError(f"{target}: cannot write the report page: {err.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            for part in page_parts(records):  # written as made: the page is never whole in memory
                fh.write(part)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as err:
        raise UsageError(f"{target}: cannot write the report page: {err.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # a broken record or a full disk leaves no half page behind
    return target
