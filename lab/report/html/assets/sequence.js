/* sequence diagram: one lifeline per node, one row per event, only the rows in view are drawn
   (a 200,000-packet analysis scrolls like a 20-packet lab). Geometry comes from data.py/geometry.py. */
(function () {
  const { D, P, G, state, on, esc, str, ms } = LAB;
  const box = document.getElementById("seq");
  const body = document.getElementById("seq-body");
  const svg = document.getElementById("seq-svg");
  const head = document.getElementById("seq-head");
  const ROW = G.ROW_H, LW = G.LANE_W, LEFT = G.LEFT;
  const lanes = D.lanes;
  const width = LEFT + Math.max(lanes.length, 1) * LW;
  const TEXT_X = width + 12;
  const FULL_W = width + 1100;
  const OVERSCAN = 12;
  let callSpan = null; /* per call: [first row, last row] in the visible list, or null when hidden */

  function laneX(i) { return LEFT + i * LW + LW / 2; }
  head.innerHTML = '<svg width="' + FULL_W + '" height="34">' + lanes.map((l, i) =>
    '<g class="lane-head" data-lane="' + i + '"><rect x="' + (laneX(i) - 60) + '" y="4" width="120" height="24" rx="5" class="k-' +
    esc(l.kind) + '"/><text x="' + laneX(i) + '" y="20" text-anchor="middle">' + esc(l.name) + '</text></g>').join("") +
    '<text x="8" y="20" class="dim">ms</text><text x="' + TEXT_X + '" y="20" class="dim">what happened, and why</text></svg>';

  function rebuildSpans() {
    const vis = state.vis;
    callSpan = new Array(D.calls.length).fill(null);
    for (let p = 0; p < vis.length; p++) {
      const e = vis[p], k = D.events.k[e], r = D.events.r[e];
      if (k === 0) callSpan[r] = [p, p];
      else if (k === 2 && callSpan[r]) callSpan[r][1] = p;
    }
    /* a call whose return row is hidden by a filter ends at the last row before its return time */
    for (let c = 0; c < D.calls.length; c++) {
      const sp = callSpan[c];
      if (!sp || sp[1] !== sp[0]) continue;
      const t1 = D.calls[c].t1;
      let p = sp[0];
      while (p + 1 < vis.length && rowTime(vis[p + 1]) <= t1) p++;
      sp[1] = p;
    }
  }
  function rowTime(e) {
    const k = D.events.k[e], r = D.events.r[e];
    return k === 1 ? P.t[r] : (k === 0 ? D.calls[r].t : D.calls[r].t1);
  }
  function arrow(x1, x2, y, cls) {
    const dir = x2 > x1 ? 1 : -1;
    return '<line x1="' + x1 + '" y1="' + y + '" x2="' + (x2 - dir * 2) + '" y2="' + y + '" class="' + cls +
      '"/><path d="M' + x2 + ' ' + y + ' l' + (-dir * 8) + ' -4 v8 z" class="' + cls + '-head"/>';
  }
  function packetRow(i, y, row) {
    const s = P.s[i], d = P.d[i], n = P.n[i];
    const cls = "pk" + (P.bg[i] ? " bg" : "") + (str(P.an[i]).indexOf("retrans") >= 0 ? " retrans" : "") +
      (P.copy[i] ? " copy" : "");
    let out = '<g class="' + cls + '" data-ev="' + row.ev + '" data-n="' + n + '"><title>' + esc(LAB.fullLabel(i)) +
      "\n" + esc(str(P.role[i])) + "\n" + esc(str(P.cause[i])) + '</title>';
    const ya = y + ROW * 0.7;
    if (s >= 0 && d >= 0) {
      out += arrow(laneX(s), laneX(d), ya, "arr");
      out += '<text x="' + ((laneX(s) + laneX(d)) / 2) + '" y="' + (ya - 4) + '" text-anchor="middle" class="lbl">' +
        esc(LAB.fit(LAB.label(i), Math.abs(laneX(s) - laneX(d)))) + '</text>';
    } else if (s >= 0) {
      const x = laneX(s);
      out += '<circle cx="' + x + '" cy="' + ya + '" r="4" class="grp"/>' +
        '<text x="' + (x + 8) + '" y="' + (ya - 4) + '" class="lbl">' + esc(LAB.fit(LAB.label(i), LW)) + ' ' +
        esc(str(P.grp[i]) || "(receiver not in this diagram)") + '</text>';
    }
    const lost = D.lost[n];
    if (lost && lost.from >= 0) {
      const x1 = laneX(lost.from), x2 = lost.to >= 0 ? laneX(lost.to) : x1 + LW;
      const xm = x1 + (x2 - x1) / 2;
      out += '<line x1="' + x1 + '" y1="' + (ya + 3) + '" x2="' + xm + '" y2="' + (ya + 3) + '" class="lost-line"/>' +
        '<text x="' + xm + '" y="' + (ya + 7) + '" text-anchor="middle" class="lost-x">✕</text>';
    }
    const text = "#" + n + " " + str(P.role[i]) + (str(P.grp[i]) ? " (" + str(P.grp[i]) + ")" : "") + "  ← " + str(P.cause[i]);
    out += '<text x="' + TEXT_X + '" y="' + ya + '" class="why">';
    if (lost) {
      out += '<tspan class="lost-why">LOST on ' + esc(lost.link) + (lost.rule ? " (" + esc(lost.rule) + ")" : "") +
        (lost.carried_by ? ', bytes carried by </tspan><tspan class="golink" data-goto="' + lost.carried_by + '">#' +
          lost.carried_by + '</tspan><tspan class="lost-why">: </tspan>' : ", no retransmission seen: </tspan>");
    }
    out += esc(text) + '</text>';
    return out + "</g>";
  }
  function callRow(c, y, row, ending) {
    const call = D.calls[c];
    const x = call.lane >= 0 ? laneX(call.lane) : LEFT;
    const ya = y + ROW * 0.7;
    const dur = ((call.t1 - call.t) / 1000).toFixed(3);
    const text = ending ? call.node + " " + call.name + "() #" + call.id + " returns after " + dur + " ms: " + call.text
                        : call.node + " " + call.text + "  [call #" + call.id + "]";
    return '<g class="call' + (ending ? " ret" : "") + '" data-ev="' + row.ev + '" data-call="' + call.id + '"><title>' +
      esc(text) + '</title><text x="' + (x + 9) + '" y="' + (ya - 2) + '" class="clbl">' +
      esc(ending ? "← " + call.name + "()" : call.name + "()") + '</text><text x="' + TEXT_X + '" y="' + ya +
      '" class="cwhy">' + esc(text) + '</text></g>';
  }
  function draw() {
    const vis = state.vis;
    if (!vis) return;
    const top = box.scrollTop;
    const h = box.clientHeight;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(vis.length, Math.ceil((top + h) / ROW) + OVERSCAN);
    const y0 = first * ROW;
    const hh = Math.max((last - first) * ROW, 1);
    svg.setAttribute("height", hh);
    svg.setAttribute("width", FULL_W);
    svg.style.top = y0 + "px";
    const out = [];
    lanes.forEach((l, i) => out.push('<line x1="' + laneX(i) + '" y1="0" x2="' + laneX(i) + '" y2="' + hh + '" class="life"/>'));
    for (let c = 0; c < D.calls.length; c++) {
      const sp = callSpan[c];
      if (!sp || sp[1] < first || sp[0] >= last) continue;
      const lane = D.calls[c].lane;
      if (lane < 0) continue;
      const ya = (sp[0] - first) * ROW + 4, yb = (sp[1] - first) * ROW + ROW - 4;
      const sel = state.selected !== null && D.events.k[state.selected] !== 1 && D.events.r[state.selected] === c;
      out.push('<rect x="' + (laneX(lane) - 5) + '" y="' + ya + '" width="10" height="' + Math.max(yb - ya, 8) +
        '" class="act' + (D.calls[c].error ? " err" : "") + (sel ? " sel" : "") + '" data-ev="' + D.events.r.length + '" data-call="' + D.calls[c].id + '"/>');
    }
    for (let p = first; p < last; p++) {
      const e = vis[p], k = D.events.k[e], r = D.events.r[e];
      const y = (p - first) * ROW;
      if (e === state.selected) out.push('<rect x="0" y="' + y + '" width="' + FULL_W + '" height="' + ROW + '" class="rowsel"/>');
      out.push('<text x="4" y="' + (y + ROW * 0.7) + '" class="time">' + ms(rowTime(e)) + '</text>');
      const row = { ev: e };
      out.push(k === 1 ? packetRow(r, y, row) : callRow(r, y, row, k === 2));
    }
    svg.innerHTML = out.join("");
    /* an activation box's data-ev must be its start event */
    svg.querySelectorAll("rect.act").forEach(el => {
      const id = Number(el.getAttribute("data-call"));
      el.setAttribute("data-ev", D.callEvent[LAB.callById.get(id)]);
    });
  }
  let pending = false;
  box.addEventListener("scroll", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  });
  svg.addEventListener("click", ev => {
    const go = ev.target.closest("[data-goto]");
    if (go) { LAB.selectFrame(Number(go.getAttribute("data-goto"))); return; }
    const g = ev.target.closest("[data-ev]");
    if (g) LAB.selectEvent(Number(g.getAttribute("data-ev")), "click");
  });
  on("filtered", () => {
    body.style.height = (state.vis.length * ROW + 10) + "px";
    body.style.width = FULL_W + "px";
    rebuildSpans();
    draw();
  });
  on("select", () => {
    const p = state.visPos.get(state.selected);
    if (p !== undefined) {
      const y = p * ROW;
      if (y < box.scrollTop || y > box.scrollTop + box.clientHeight - 2 * ROW) box.scrollTop = Math.max(0, y - box.clientHeight / 3);
    }
    draw();
  });
  window.addEventListener("resize", draw);
  LAB.sequence = { draw, laneX };
})();
