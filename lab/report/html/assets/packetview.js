/* packet view: the selected frame's bytes as a strip and a hex grid, each header a coloured block with its
   name, OSI layer and TCP/IP layer (nested: encapsulation made visible), its decoded fields, its role and
   the cause that links to the call and to the frames it answers or that answer it. Also the call view. */
(function () {
  const { D, P, on, esc, str, ms } = LAB;
  const pane = document.getElementById("pv");
  const COLORS = ["#f6c85f", "#9dd866", "#6fb1e0", "#ca9ee6", "#ffa07a", "#8dd3c7", "#fb8072", "#bebada"];
  const OSI = ["", "physical", "data link", "network", "transport", "session", "presentation", "application"];
  /* frames that answer a frame, and copies of a frame on other links, from the embedded details */
  const answeredBy = new Map(), copies = new Map(), causedBy = new Map();
  for (const [n, d] of Object.entries(D.details)) {
    const c = d.cause || {};
    if (c.answers) (answeredBy.get(c.answers) || answeredBy.set(c.answers, []).get(c.answers)).push(Number(n));
  }
  for (let i = 0; i < P.n.length; i++) {
    if (P.copy[i]) (copies.get(P.copy[i]) || copies.set(P.copy[i], []).get(P.copy[i])).push(P.n[i]);
    LAB.packetCalls(i).forEach(id => (causedBy.get(id) || causedBy.set(id, []).get(id)).push(P.n[i]));
  }
  function frameLink(n) { return '<a href="#" class="golink" data-goto="' + n + '">#' + n + '</a>'; }
  function callLink(id) { return '<a href="#" class="calllink" data-call="' + id + '">call #' + id + '</a>'; }
  function linkify(text) {
    return esc(text).replace(/\bframes? ((?:\d+(?:, | and |, and )?)+)/g, (m) =>
      m.replace(/\d+/g, d => '<a href="#" class="golink" data-goto="' + d + '">' + d + '</a>'))
      .replace(/#(\d+)\b/g, (m, d) => LAB.callById.has(Number(d)) ? '<a href="#" class="calllink" data-call="' + d + '">#' + d + '</a>' : m);
  }
  function bytesOf(n) {
    const d = D.details[n];
    if (!d || !d.bytes) return null;
    const bin = atob(d.bytes);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function nested(layers, k) {
    if (k >= layers.length) return "";
    const [name, osi, tcpip, off, len] = layers[k];
    return '<div class="nest" style="border-color:' + COLORS[k % COLORS.length] + ';background:' + COLORS[k % COLORS.length] + '22">' +
      '<div class="nest-h"><b>' + esc(str(name)) + '</b> <span class="osi">OSI ' + esc(osi) + " " + esc(OSI[osi] || "") +
      '</span> <span class="tcpip">TCP/IP ' + esc(str(tcpip)) + '</span> <span class="dim">' + esc(len) + " bytes at " + esc(off) +
      '</span></div>' + nested(layers, k + 1) + '</div>';
  }
  function layerAt(layers, b) {
    let hit = -1;
    layers.forEach((l, k) => { if (b >= l[3] && b < l[3] + l[4]) hit = k; });
    return hit;
  }
  function showPacket(i) {
    const n = P.n[i];
    const d = D.details[n];
    const layers = D.stacks[P.stack[i]] || [];
    const total = P.len0[i] || layers.reduce((a, l) => Math.max(a, l[3] + l[4]), 0);
    let h = '<h3>Frame ' + n + ' <span class="role">' + esc(str(P.role[i])) + '</span></h3>';
    h += '<div class="dim">' + esc(d ? d.summary : LAB.fullLabel(i)) + '</div>';
    h += '<div class="dim">t = ' + ms(P.t[i]) + ' ms · seen on ' + esc(str(P.iface[i])) + ' · ' + total + ' bytes' +
      (P.ttl[i] >= 0 ? ' · TTL ' + P.ttl[i] : '') + (str(P.esrc[i]) ? ' · Ethernet ' + esc(str(P.esrc[i])) + ' → ' + esc(str(P.edst[i])) : '') + '</div>';
    h += '<h4>Cause</h4><p class="cause">' + linkify(str(P.cause[i])) + '</p>';
    const calls = LAB.packetCalls(i);
    if (d && d.cause) {
      const c = d.cause;
      const rel = [];
      if (c.answers) rel.push("answers " + frameLink(c.answers));
      if (answeredBy.has(n)) rel.push("answered by " + answeredBy.get(n).map(frameLink).join(", "));
      if (c.copy_of) rel.push("the same packet as " + frameLink(c.copy_of) + " (seen on another link)");
      if (copies.has(n)) rel.push("also seen on other links as " + copies.get(n).map(frameLink).join(", "));
      (c.related || []).forEach(id => rel.push("related " + callLink(id)));
      if (rel.length) h += '<p class="rel">' + rel.join(" · ") + '</p>';
      h += '<p class="dim">source: ' + esc(c.source || "") + (c.rule ? ", rule " + esc(c.rule) : "") + '</p>';
    }
    calls.forEach(id => { const ci = LAB.callById.get(id); if (ci !== undefined) h += callBox(D.calls[ci]); });
    const lost = D.lost[n];
    if (lost) h += '<p class="lost-why">LOST on link ' + esc(lost.link) + ' (last seen on ' + esc(lost.seen_last_on) + ')' +
      (lost.rule ? ': ' + esc(lost.rule) : '') + (lost.carried_by ? '; its bytes were carried by ' + frameLink(lost.carried_by) : '; no retransmission carried its bytes') + '</p>';
    h += '<h4>Layers</h4><div class="strip">' + layers.map((l, k) =>
      '<div class="blk" style="flex-grow:' + Math.max(l[4], 1) + ';background:' + COLORS[k % COLORS.length] + '" title="' +
      esc(str(l[0])) + ' ' + l[4] + ' bytes">' + esc(str(l[0])) + '<br><small>L' + l[1] + ' · ' + esc(str(l[2])) + '</small></div>').join("") + '</div>';
    h += '<div class="nested">' + nested(layers, 0) + '</div>';
    const bytes = bytesOf(n);
    if (bytes) {
      h += '<h4>Bytes</h4><div class="hex">';
      for (let o = 0; o < bytes.length; o += 16) {
        h += '<div><span class="off">' + o.toString(16).padStart(4, "0") + '</span> ';
        for (let b = o; b < Math.min(o + 16, bytes.length); b++) {
          const k = layerAt(layers, b);
          h += '<span class="by" style="background:' + (k >= 0 ? COLORS[k % COLORS.length] + "88" : "transparent") + '">' +
            bytes[b].toString(16).padStart(2, "0") + '</span>';
        }
        h += '</div>';
      }
      h += '</div>';
    } else {
      h += '<p class="dim">The frame\'s bytes are not embedded in this page (size bound); they are in annotated.pcapng, frame ' + n + '.</p>';
    }
    if (d && d.fields) {
      h += '<h4>Decoded fields</h4>';
      layers.forEach((l, k) => {
        const f = d.fields[str(l[0])];
        if (!f) return;
        h += '<table class="fields" style="border-left:6px solid ' + COLORS[k % COLORS.length] + '"><caption>' + esc(str(l[0])) + '</caption>' +
          Object.entries(f).map(([key, v]) => '<tr><td>' + esc(key) + '</td><td>' + esc(typeof v === "object" ? JSON.stringify(v) : v) + '</td></tr>').join("") + '</table>';
      });
      if (d.analysis && d.analysis.length) h += '<p>TCP analysis: ' + esc(d.analysis.join(", ")) + '</p>';
    } else {
      h += '<p class="dim">Decoded fields are embedded for the first packets only (size bound).</p>';
    }
    pane.innerHTML = h;
    pane.setAttribute("data-frame", n);
  }
  function callBox(c) {
    const dur = ((c.t1 - c.t) / 1000).toFixed(3);
    let res = c.error ? '<span class="err">' + esc(c.exception || "error") + " " + esc(c.error) + '</span>'
      : (c.ret === null || c.ret === undefined ? "returned" : "= " + esc(typeof c.ret === "object" ? JSON.stringify(c.ret) : c.ret));
    return '<div class="callbox"><b>' + esc(c.node) + ' ' + esc(c.text) + '</b> ' + callLink(c.id) +
      '<div>args ' + esc(JSON.stringify(c.args)) + '</div><div>result ' + res + ' · took ' + dur + ' ms (from ' +
      ms(c.t) + ' to ' + ms(c.t1) + ' ms)</div></div>';
  }
  function showCall(ci) {
    const c = D.calls[ci];
    let h = '<h3>Call #' + c.id + ' <span class="role">' + esc(c.node) + ' ' + esc(c.name) + '()</span></h3>' + callBox(c);
    const made = causedBy.get(c.id) || [];
    h += '<h4>Packets it caused</h4><p>' + (made.length ? made.map(frameLink).join(", ") :
      "none: this call put nothing on the wire itself") + '</p>';
    pane.innerHTML = h;
    pane.setAttribute("data-frame", "");
    pane.setAttribute("data-call", c.id);
  }
  pane.addEventListener("click", ev => {
    const a = ev.target.closest("a");
    if (!a) return;
    ev.preventDefault();
    if (a.hasAttribute("data-goto")) LAB.selectFrame(Number(a.getAttribute("data-goto")));
    else if (a.hasAttribute("data-call")) LAB.selectCall(Number(a.getAttribute("data-call")));
  });
  on("select", sel => {
    const k = D.events.k[sel.ev], r = D.events.r[sel.ev];
    if (k === 1) showPacket(r); else showCall(r);
  });
  LAB.packetview = { frameLink, linkify };
})();
