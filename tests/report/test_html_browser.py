"""report.html of real runs, opened in a real browser (Debian's chromium driven by playwright).

What is asserted is what a person sees: one arrow per packet per hop (the routed SYN crosses four links as
four arrows h1->r1->r2->r3->h2, never one h1->h2 arrow), clicking frame N shows frame N's layers and cause,
step-through moves the highlight, filters hide what they should, the background toggle, a lost packet's
mark, no console error and no request leaving the file. Screenshots are written next to each run's
outputs (``<run dir>/screenshot-*.png``) for a reviewer to look at.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser]
CHROMIUM = Path("/usr/bin/chromium")


def _records(out: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / name).read_text().splitlines() if x.strip()]


def _owner_of_macs(report: dict[str, Any]) -> dict[str, str]:
    return {i["mac"].lower(): node for node, info in report["nodes"].items() for i in info["interfaces"]
            if i.get("mac")}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (make setup installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """One opened report.html with what it logged and every request it tried."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1500, "height": 1000})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(r: Any) -> None:
            self.requests.append(r.request.url)
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                r.abort()

        self.page.route("**/*", route)
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        self.path = path

    def rows(self) -> dict[int, dict[str, Any]]:
        """Every packet row the diagram draws, by frame number, with its arrow's lane indexes (scrolling
        through the whole diagram: only rows in view exist at a time)."""
        return {int(k): v for k, v in self.page.evaluate("""() => {
          const box = document.getElementById('seq');
          const out = {};
          const lanes = LAB.D.lanes.map(l => l.x);
          const lane = x => lanes.findIndex(v => Math.abs(v - x) < 1.5);
          for (let top = 0; ; top += box.clientHeight / 2) {
            box.scrollTop = top; LAB.sequence.draw();
            document.querySelectorAll('#seq-svg g.pk').forEach(g => {
              const line = g.querySelector('line.arr');
              const n = Number(g.dataset.n);
              const row = {arrows: g.querySelectorAll('line.arr').length,
                           lost: g.querySelectorAll('.lost-x').length};
              if (line) {
                const x1 = Number(line.getAttribute('x1')), x2 = Number(line.getAttribute('x2'));
                row.src = lane(x1); row.dst = lane(x2 + (x2 > x1 ? 2 : -2));
              }
              out[n] = row;
            });
            if (top + box.clientHeight >= box.scrollHeight) break;
          }
          box.scrollTop = 0; LAB.sequence.draw();
          return out;
        }""").items()}

    def click_frame(self, n: int) -> None:
        self.page.evaluate(f"""() => {{
          const box = document.getElementById('seq');
          const p = LAB.state.visPos.get(LAB.D.packetEvent[LAB.byNumber.get({n})]);
          box.scrollTop = p * LAB.G.ROW_H; LAB.sequence.draw();
        }}""")
        self.page.click(f"#seq-svg g.pk[data-n='{n}'] text.why", position={"x": 5, "y": 5})
        self.page.evaluate("document.getElementById('seq').scrollLeft = 0")

    def shot(self, name: str) -> Path:
        out = self.path.parent / f"screenshot-{name}.png"
        self.page.screenshot(path=str(out))
        return out

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        outside = [u for u in self.requests if not u.startswith("file://")]
        assert outside == [], outside
        assert self.requests and all(u.startswith("file://") for u in self.requests)


def _lab_run(tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str], name: str) -> Path:
    require_tool("dumpcap")
    from lab.runner import run_lab

    out = tmp_path_factory.mktemp(name)
    run_lab(name, out)
    assert (out / "report.html").is_file()
    return out


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]) -> Path:
    return _lab_run(tmp_path_factory, require_tool, "tcp-echo")


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]) -> Path:
    return _lab_run(tmp_path_factory, require_tool, "routed")


@pytest.mark.root
def test_echo_page_shows_every_packet_once_and_its_layers_on_click(browser: Any, echo: Path) -> None:
    packets = [p for p in _records(echo, "packets.jsonl") if p["role"]["code"] != "lab-probe"]
    page = Page(browser, echo / "report.html")
    rows = page.rows()
    background = {p["number"] for p in packets if (p.get("icmp") or {}).get("type") in (143, 133, 135, 136)
                  and not (p["cause"].get("calls") or p["cause"].get("related"))}
    assert background, "tcp-echo always has the kernel's MLD reports"
    shown = {p["number"] for p in packets} - background
    assert set(rows) == shown  # background folded away by default, every other packet drawn once
    tcp = [p for p in packets if p.get("tcp")]
    assert len(tcp) >= 8
    owner = _owner_of_macs(json.loads((echo / "report.json").read_text()))
    lanes = page.page.evaluate("LAB.D.lanes.map(l => l.name)")
    for p in tcp:  # each arrow goes from the sender's lifeline to the receiver's
        assert rows[p["number"]]["arrows"] == 1
        assert lanes[rows[p["number"]]["src"]] == owner[p["eth"]["src"]]
        assert lanes[rows[p["number"]]["dst"]] == owner[p["eth"]["dst"]]
    syn = next(p for p in tcp if p["role"]["code"] == "syn")
    page.click_frame(syn["number"])
    pv = page.page.locator("#pv")
    assert pv.get_attribute("data-frame") == str(syn["number"])
    names = page.page.locator("#pv .nest-h b").all_inner_texts()
    assert names == [layer["name"] for layer in syn["layers"]]
    assert "OSI 4" in pv.inner_text() and "TCP/IP transport" in pv.inner_text()
    assert page.page.locator("#pv .cause").inner_text() == syn["cause"]["text"]
    assert page.page.locator("#pv .hex .by").count() == syn["len"]  # every byte in the hex grid
    # the cause links to its call: args, result, duration
    call_id = syn["cause"]["calls"][0]
    assert f"call #{call_id}" in page.page.locator("#pv .callbox").inner_text()
    page.page.click(f"#pv .callbox a[data-call='{call_id}']")
    assert page.page.locator("#pv").get_attribute("data-call") == str(call_id)
    assert "Packets it caused" in pv.inner_text() and f"#{syn['number']}" in pv.inner_text()
    page.shot("echo-syn")
    # the lab's text: observations with evidence links, the questions, never the answers block
    assert page.page.locator("#obs li.ok").count() == len(json.loads((echo / "report.json").read_text())
                                                             ["observations"])
    assert page.page.locator("#questions li").count() >= 1
    assert page.page.evaluate("!('answers' in LAB.D.text) && !('answers' in LAB.D)")
    page.assert_clean()


@pytest.mark.root
def test_echo_step_through_and_filters(browser: Any, echo: Path) -> None:
    packets = [p for p in _records(echo, "packets.jsonl") if p["role"]["code"] != "lab-probe"]
    page = Page(browser, echo / "report.html")
    pg = page.page
    assert pg.locator("#st-where").inner_text().startswith("event 1 of")
    seen = []
    for _ in range(6):
        pg.click("#st-fwd")
        seen.append(pg.evaluate("LAB.state.pos"))
        assert pg.locator("#seq-svg rect.rowsel").count() == 1
    assert seen == [1, 2, 3, 4, 5, 6]
    pg.click("#st-back")
    assert pg.evaluate("LAB.state.pos") == 5
    # stepping onto a packet shows it in the packet view and highlights its link in the topology
    while pg.evaluate("LAB.D.events.k[LAB.state.selected]") != 1:
        pg.click("#st-fwd")
    frame = int(pg.locator("#pv").get_attribute("data-frame"))
    assert pg.locator("#topo .link.hl").count() == 1
    assert f"frame {frame}" in pg.locator("#topo-say").inner_text()
    # connection filter: the one TCP connection's segments, no ARP
    pg.select_option("#f-conn", index=1)
    assert set(page.rows()) == {p["number"] for p in packets if p.get("tcp")}
    pg.select_option("#f-conn", value="")
    # protocol filter: only ARP rows remain
    arp = {p["number"] for p in packets if p.get("arp")}
    assert arp
    pg.select_option("#f-proto", label=f"ARP ({len(arp)})")
    assert set(page.rows()) == arp
    pg.select_option("#f-proto", value="")
    # background toggle brings the kernel's MLD reports back
    mld = {p["number"] for p in packets if (p.get("icmp") or {}).get("type") == 143}
    assert mld and not (mld & set(page.rows()))
    pg.check("#f-bg")
    assert mld <= set(page.rows())
    # only what my program caused: every packet a call sent stays, the MLD reports go
    pg.check("#f-mine")
    rows = set(page.rows())
    assert {p["number"] for p in packets if p["cause"].get("calls")} <= rows
    assert not (mld & rows)
    pg.uncheck("#f-mine")
    # node filter: h1's rows only (every packet of a two-host lab touches h1, h2's calls go)
    pg.select_option("#f-node", label="h2")
    calls_h1 = pg.evaluate("Array.from(document.querySelectorAll('#seq-svg g.call')).filter(g => "
                           "LAB.D.calls[LAB.callById.get(Number(g.dataset.call))].node !== 'h2').length")
    assert calls_h1 == 0
    page.shot("echo-filtered")
    page.assert_clean()


@pytest.mark.root
def test_routed_page_draws_each_hop(browser: Any, routed: Path) -> None:
    packets = _records(routed, "packets.jsonl")
    report = json.loads((routed / "report.json").read_text())
    owner = _owner_of_macs(report)
    page = Page(browser, routed / "report.html")
    lanes = page.page.evaluate("LAB.D.lanes.map(l => l.name)")
    assert lanes == ["h1", "r1", "r2", "r3", "h2"]
    rows = page.rows()
    syn = next(p for p in packets if p["role"]["code"] == "syn" and not p["cause"].get("copy_of"))
    copies = [syn] + [p for p in packets if p["cause"].get("copy_of") == syn["number"]]
    assert len(copies) == 4  # four links captured
    hops = [(lanes[rows[p["number"]]["src"]], lanes[rows[p["number"]]["dst"]]) for p in copies]
    assert hops == [("h1", "r1"), ("r1", "r2"), ("r2", "r3"), ("r3", "h2")]
    for p in copies:  # the arrow's sender and receiver are the owners of the copy's own MACs
        assert rows[p["number"]]["arrows"] == 1
        assert (owner[p["eth"]["src"]], owner[p["eth"]["dst"]]) == (
            lanes[rows[p["number"]]["src"]], lanes[rows[p["number"]]["dst"]])
    # no packet is drawn as one arrow across a router
    assert all(abs(r["src"] - r["dst"]) == 1 for r in rows.values() if "src" in r)
    # as rendered by the browser: every arrow label inside its arrow, no two labels overlapping
    boxes = page.page.evaluate("""() => Array.from(document.querySelectorAll('#seq-svg g.pk')).map(g => {
        const t = g.querySelector('text.lbl'), l = g.querySelector('line.arr');
        if (!t || !l) return null;
        const b = t.getBBox();
        return [b.x, b.y, b.x + b.width, b.y + b.height, Number(l.getAttribute('x1')),
                Number(l.getAttribute('x2'))];
    }).filter(Boolean)""")
    assert len(boxes) >= 20
    for x0, _y0, x1, _y1, a, b in boxes:
        assert min(a, b) - 1 <= x0 and x1 <= max(a, b) + 1
    for i, p in enumerate(boxes):
        for q in boxes[i + 1:]:
            assert p[2] <= q[0] or q[2] <= p[0] or p[3] <= q[1] or q[3] <= p[1], (p, q)
    page.click_frame(copies[2]["number"])
    text = page.page.locator("#pv").inner_text()
    assert f"TTL {copies[2]['ip']['ttl']}" in text and copies[2]["eth"]["src"] in text
    assert page.page.locator("#topo .link.hl").get_attribute("data-ifaces").split().count(
        copies[2]["interface"]) == 1
    page.shot("routed-hop3")
    page.assert_clean()


@pytest.mark.root
def test_lost_packet_ends_where_it_was_lost(browser: Any, routed: Path, tmp_path: Path) -> None:
    """The ``lost`` field (contract in the notes: written by the attribution when a copy never reached the
    next link) on a copy of a real run: the page marks it lost on that link and links the retransmission."""
    run = tmp_path / "routed-lost"
    shutil.copytree(routed, run, ignore=shutil.ignore_patterns("report.html", "screenshot-*"))
    packets = _records(run, "packets.jsonl")
    data = next(p for p in packets if (p.get("tcp") or {}).get("len") and p["interface"] == "r1-eth1")
    later = next(p for p in packets if p["number"] > data["number"] and (p.get("tcp") or {}).get("len"))
    data["lost"] = {"link": "r2-r3", "seen_last_on": "r1-eth1", "rule": "loss 30% on link r2-r3 (nftables)",
                    "carried_by": later["number"]}
    (run / "packets.jsonl").write_text("".join(json.dumps(p) + "\n" for p in packets))
    from lab.report.html.page import write_report

    page = Page(browser, write_report(run))
    rows = page.rows()
    assert rows[data["number"]]["lost"] == 1
    assert sum(r["lost"] for r in rows.values()) == 1
    page.click_frame(data["number"])
    text = page.page.locator("#pv").inner_text()
    assert "LOST on link r2-r3" in text and f"#{later['number']}" in text
    page.page.click(f"#pv a[data-goto='{later['number']}']")
    assert page.page.locator("#pv").get_attribute("data-frame") == str(later["number"])
    page.shot("lost")
    page.assert_clean()


@pytest.mark.root
def test_lossy_link_tcp_graph_marks_retransmissions(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> None:
    out = _lab_run(tmp_path_factory, require_tool, "lossy-link")
    packets = _records(out, "packets.jsonl")
    retrans = [p for p in packets if "retransmission" in (p.get("analysis") or []) and not
               p["cause"].get("copy_of")]
    lost = {p["number"] for p in packets if p.get("lost")}
    assert lost, "10% loss on ~280 data segments: the attribution marks the lost copies"
    page = Page(browser, out / "report.html")
    pg = page.page
    rows = page.rows()
    assert {n for n, r in rows.items() if r["lost"]} == lost  # each lost copy ends with a cross
    assert pg.locator("#tcp-graph svg path.seg").get_attribute("d")
    assert (pg.locator("#tcp-graph svg path.rseg").get_attribute("d") != "") == bool(retrans)
    assert pg.locator("#tcp-graph svg path.ackl").get_attribute("d")
    assert "window" in pg.locator("#tcp-graph .legend").inner_text()
    pg.locator("#tcp-section").scroll_into_view_if_needed()
    page.shot("lossy-tcp-graph")
    page.assert_clean()


def test_corpus_capture_page(browser: Any, corpus_dir: Path, tmp_path: Path) -> None:
    from lab.analysis.pipeline import analyze_capture
    from lab.report.html.page import write_report

    pcap = corpus_dir / "pcaps" / "zeek__tcp_retransmit-fast009.pcap"
    analyze_capture(pcap, tmp_path, progress=False)
    page = Page(browser, write_report(tmp_path))
    packets = _records(tmp_path, "packets.jsonl")
    rows = page.rows()
    assert len(rows) == len(packets)
    first_tcp = next(p for p in packets if p.get("tcp"))
    page.click_frame(first_tcp["number"])
    names = page.page.locator("#pv .nest-h b").all_inner_texts()
    assert names == [layer["name"] for layer in first_tcp["layers"]]
    assert page.page.locator("#tcp-graph svg path.seg").count() == 1
    page.shot("corpus")
    page.assert_clean()


def test_a_large_page_draws_only_the_rows_in_view(browser: Any, tmp_path: Path) -> None:
    """30,000 packets (hand-made records, no capture file): the diagram holds a screenful of rows however
    far it is scrolled, the last packet is reachable, and the page says its bytes are not embedded."""
    from tests.helpers.builders import T0, cause, ip, layers, packet, udp

    # one complete record (validated as it is built), then the same record with another number, time,
    # direction and cause text: 30,000 validations would take longer than the test
    first = packet(1, interface="eth0", node=None, layers=layers("Ethernet", "IPv4", "UDP"),
                   ip=ip("198.18.0.1", "198.18.0.2", proto=17), udp=udp(5003, 5003, 26),
                   role={"code": "datagram", "text": "datagram"}, cause=cause("inferred", text="datagram 1"))
    with (tmp_path / "packets.jsonl").open("w") as fh:
        for n in range(1, 30_001):
            a, b = ("198.18.0.1", "198.18.0.2") if n % 2 else ("198.18.0.2", "198.18.0.1")
            fh.write(json.dumps({**first, "number": n, "ts_ns": T0 + n * 1000, "t": n * 1e-6,
                                 "ip": {**first["ip"], "src": a, "dst": b},
                                 "cause": {**first["cause"], "text": f"datagram {n}"}}) + "\n")
    from lab.report.html.page import write_report

    page = Page(browser, write_report(tmp_path))
    pg = page.page
    assert pg.evaluate("LAB.state.vis.length") == 30_000
    assert pg.locator("#seq-svg g.pk").count() < 120
    pg.evaluate("const b = document.getElementById('seq'); b.scrollTop = b.scrollHeight; LAB.sequence.draw()")
    assert pg.locator("#seq-svg g.pk").count() < 120
    assert pg.locator("#seq-svg g.pk[data-n='30000']").count() == 1
    page.click_frame(30_000)
    assert "not embedded" in pg.locator("#pv").inner_text()
    page.assert_clean()
