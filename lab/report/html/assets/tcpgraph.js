/* per TCP stream: a time/sequence graph (Stevens/tcptrace style). Data segments of one direction as
   vertical bars (seq .. seq+len), the other side's ACK line and receive-window line (ACK + window, scaled
   by the window-scale option of its SYN), retransmissions in red, duplicate ACKs as diamonds, lost
   segments as crosses. One sighting per packet (the first link it was seen on). Click a mark: that frame. */
(function () {
  const { D, P, esc, str } = LAB;
  const sel = document.getElementById("tcp-conn");
  const dirSel = document.getElementById("tcp-dir");
  const pane = document.getElementById("tcp-graph");
  const tcpConns = [];
  const seen = new Set();
  for (let i = 0; i < P.n.length; i++) {
    const c = P.conn[i];
    if (c >= 0 && !seen.has(c) && D.conns[c].startsWith("TCP")) { seen.add(c); tcpConns.push(c); }
  }
  if (!tcpConns.length) { document.getElementById("tcp-section").classList.add("none"); return; }
  tcpConns.forEach(c => sel.insertAdjacentHTML("beforeend", '<option value="' + c + '">' + esc(D.conns[c]) + '</option>'));
  function scaleOf(idx, fromClient) {
    /* the SYN (or SYN-ACK) sent by this side says its window-scale shift */
    for (const i of idx) {
      if (P.fc[i] === fromClient && str(P.flags[i]).indexOf("SYN") >= 0) {
        const s = D.wscale[P.n[i]];
        return s === undefined ? null : s;
      }
    }
    return null;
  }
  function draw() {
    const c = Number(sel.value);
    const idx = [];
    for (let i = 0; i < P.n.length; i++) if (P.conn[i] === c && !P.copy[i]) idx.push(i);
    let dataFc = dirSel.value === "auto" ? null : Number(dirSel.value);
    if (dataFc === null) {
      let a = 0, b = 0;
      idx.forEach(i => { if (P.fc[i]) a += P.len[i]; else b += P.len[i]; });
      dataFc = a >= b ? 1 : 0;
    }
    const data = idx.filter(i => P.fc[i] === dataFc);
    const acks = idx.filter(i => P.fc[i] !== dataFc && str(P.flags[i]).indexOf("ACK") >= 0);
    const shift = scaleOf(idx, dataFc ? 0 : 1);
    const W = 900, H = 360, L = 70, B = 30, T = 10, R = 10;
    if (!idx.length) { pane.innerHTML = "<p>no packets</p>"; return; }
    const t0 = P.t[idx[0]], t1 = P.t[idx[idx.length - 1]];
    let ymax = 1;
    data.forEach(i => { ymax = Math.max(ymax, P.seq[i] + P.len[i]); });
    acks.forEach(i => { ymax = Math.max(ymax, P.ack[i]); });
    /* a SYN's own window is never scaled (RFC 7323); later windows are, by the shift its SYN announced */
    const winTop = acks.map(i => P.ack[i] + (shift === null || str(P.flags[i]).indexOf("SYN") >= 0 ? P.win[i] : P.win[i] * Math.pow(2, shift)));
    let wmax = 0;
    winTop.forEach(w => { if (w > wmax) wmax = w; });
    const ywin = Math.max(ymax, Math.min(wmax, ymax * 1.5));  /* the window may run off the top, the data never */
    const X = t => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - L - R);
    const Y = s => H - B - (s / ywin) * (H - B - T);
    let bars = "", rbars = "", ackp = "", winp = "", dups = "", lostm = "";
    data.forEach(i => {
      if (!P.len[i] && str(P.flags[i]).indexOf("SYN") < 0 && str(P.flags[i]).indexOf("FIN") < 0) return;
      const x = X(P.t[i]).toFixed(1), y1 = Y(P.seq[i]).toFixed(1), y2 = Y(P.seq[i] + Math.max(P.len[i], 1)).toFixed(1);
      const seg = "M" + x + " " + y1 + "V" + y2;
      if (str(P.an[i]).indexOf("retrans") >= 0) rbars += seg; else bars += seg;
      if (D.lost[P.n[i]]) lostm += "M" + (x - 3) + " " + (y2 - 3) + "l6 6m0 -6l-6 6";
    });
    acks.forEach((i, k) => {
      const x = X(P.t[i]).toFixed(1);
      ackp += (k ? "H" + x + "V" : "M" + x + " ") + Y(P.ack[i]).toFixed(1);
      winp += (k ? "H" + x + "V" : "M" + x + " ") + Y(winTop[k]).toFixed(1);
      if (str(P.an[i]).indexOf("duplicate_ack") >= 0) dups += "M" + x + " " + (Y(P.ack[i]) - 4).toFixed(1) + "l4 4l-4 4l-4 -4z";
    });
    const ticks = [0, 0.25, 0.5, 0.75, 1].map(f => {
      const y = Y(f * ywin).toFixed(1), t = t0 + f * (t1 - t0);
      return '<text x="' + (L - 4) + '" y="' + y + '" text-anchor="end" class="ax">' + Math.round(f * ywin) + '</text>' +
        '<text x="' + X(t).toFixed(1) + '" y="' + (H - 12) + '" text-anchor="middle" class="ax">' + (t / 1000).toFixed(1) + ' ms</text>';
    }).join("");
    pane.innerHTML = '<svg viewBox="0 0 ' + W + ' ' + H + '" width="100%" class="tcpg"><defs><clipPath id="tcp-clip"><rect x="' + L +
      '" y="' + T + '" width="' + (W - L - R) + '" height="' + (H - B - T) + '"/></clipPath></defs>' +
      '<rect x="' + L + '" y="' + T + '" width="' + (W - L - R) + '" height="' + (H - B - T) + '" class="frame"/>' + ticks +
      '<path d="' + winp + '" class="win" clip-path="url(#tcp-clip)"/><path d="' + ackp + '" class="ackl"/><path d="' + bars + '" class="seg"/>' +
      '<path d="' + rbars + '" class="rseg"/><path d="' + dups + '" class="dup"/><path d="' + lostm + '" class="lostm"/></svg>' +
      '<p class="legend"><span class="k seg"></span> data segments (' + (dataFc ? "client → server" : "server → client") +
      ') <span class="k rseg"></span> retransmissions <span class="k ackl"></span> ACK line <span class="k win"></span> receive window' +
      (shift === null ? " (no window-scale option seen: raw window field)" : " (window × 2^" + shift + ")") +
      ' ◆ duplicate ACK ✕ lost — relative sequence numbers, ' + data.length + ' segments, ' + acks.length + ' ACKs</p>';
    const svg = pane.querySelector("svg");
    svg.addEventListener("click", ev => {
      const pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
      const p = pt.matrixTransform(svg.getScreenCTM().inverse());
      let best = -1, bd = 1e9;
      idx.forEach(i => { const d = Math.abs(X(P.t[i]) - p.x) + Math.abs(Y(P.fc[i] === dataFc ? P.seq[i] : P.ack[i]) - p.y) / 4; if (d < bd) { bd = d; best = i; } });
      if (best >= 0) LAB.selectFrame(P.n[best]);
    });
  }
  sel.addEventListener("change", draw);
  dirSel.addEventListener("change", draw);
  draw();
  LAB.tcpgraph = { draw };
})();
