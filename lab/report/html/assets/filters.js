/* filters: connection, protocol, node, "only what my program caused", and the background toggle.
   They decide state.vis, the list of events (rows) the diagram and the step-through walk. */
(function () {
  const { D, P, state, emit, esc, str } = LAB;
  const conn = document.getElementById("f-conn");
  const proto = document.getElementById("f-proto");
  const node = document.getElementById("f-node");
  const mine = document.getElementById("f-mine");
  const bg = document.getElementById("f-bg");
  const count = document.getElementById("f-count");
  D.conns.forEach((c, i) => conn.insertAdjacentHTML("beforeend", '<option value="' + i + '">' + esc(c) + '</option>'));
  const protos = new Map();
  for (let i = 0; i < P.n.length; i++) protos.set(P.proto[i], (protos.get(P.proto[i]) || 0) + 1);
  [...protos.entries()].sort((a, b) => b[1] - a[1]).forEach(([p, n]) =>
    proto.insertAdjacentHTML("beforeend", '<option value="' + p + '">' + esc(str(p)) + " (" + n + ')</option>'));
  D.lanes.forEach((l, i) => node.insertAdjacentHTML("beforeend", '<option value="' + i + '">' + esc(l.name) + '</option>'));
  const nbg = P.bg.reduce((a, b) => a + b, 0);
  document.getElementById("f-bg-n").textContent = nbg;
  if (!nbg) document.getElementById("f-bg-wrap").classList.add("none");

  function apply() {
    const c = conn.value === "" ? -1 : Number(conn.value);
    const pr = proto.value === "" ? -1 : Number(proto.value);
    const nd = node.value === "" ? -1 : Number(node.value);
    const onlyMine = mine.checked, showBg = bg.checked;
    /* sockets of the calls that caused packets of the chosen connection: their calls stay in view */
    let socks = null;
    if (c >= 0) {
      socks = new Set();
      for (let i = 0; i < P.n.length; i++) {
        if (P.conn[i] !== c) continue;
        LAB.packetCalls(i).forEach(id => {
          const ci = LAB.callById.get(id);
          if (ci !== undefined && D.calls[ci].sock) socks.add(D.calls[ci].sock);
        });
      }
    }
    const k = D.events.k, r = D.events.r;
    const out = new Int32Array(k.length);
    let m = 0;
    for (let e = 0; e < k.length; e++) {
      const i = r[e];
      if (k[e] === 1) {
        if (!showBg && P.bg[i]) continue;
        if (c >= 0 && P.conn[i] !== c) continue;
        if (pr >= 0 && P.proto[i] !== pr) continue;
        if (nd >= 0 && P.s[i] !== nd && P.d[i] !== nd) continue;
        if (onlyMine && !P.mine[i]) continue;
      } else {
        const call = D.calls[i];
        if (nd >= 0 && call.lane !== nd) continue;
        if (socks && !socks.has(call.sock)) continue;
      }
      out[m++] = e;
    }
    state.vis = out.subarray(0, m);
    state.visPos = new Map();
    for (let p = 0; p < m; p++) state.visPos.set(state.vis[p], p);
    state.pos = state.visPos.has(state.selected) ? state.visPos.get(state.selected) : -1;
    let packets = 0;
    for (let p = 0; p < m; p++) if (k[state.vis[p]] === 1) packets++;
    count.textContent = packets + " of " + P.n.length + " packets, " + (m - packets) + " call rows";
    emit("filtered");
  }
  [conn, proto, node, mine, bg].forEach(el => el.addEventListener("change", apply));
  LAB.filters = { apply, set: function (what, value) {
    const el = { conn, proto, node, mine, bg }[what];
    if (el.type === "checkbox") el.checked = !!value; else el.value = String(value);
    apply();
  } };
})();
