/* core: the run's data, shared state and a tiny event bus; every view registers here.
   The data is the JSON block the page carries (lab/report/html/data.py); nothing is fetched. */
"use strict";
const LAB = (function () {
  const D = JSON.parse(document.getElementById("lab-data").textContent);
  const S = D.strs;
  const P = D.P;
  const G = D.meta.geometry;
  const byNumber = new Map();
  for (let i = 0; i < P.n.length; i++) byNumber.set(P.n[i], i);
  const callById = new Map();
  D.calls.forEach((c, i) => callById.set(c.id, i));
  const listeners = {};
  const state = { vis: null, pos: -1, selected: null };
  function on(name, fn) { (listeners[name] = listeners[name] || []).push(fn); }
  function emit(name, arg) { (listeners[name] || []).forEach(fn => fn(arg)); }
  function esc(s) {
    return String(s === null || s === undefined ? "" : s)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function str(i) { return S[i] || ""; }
  function ms(us) { return (us / 1000).toFixed(3); }
  /* an arrow's text: TCP from its columns (flags, TTL on routed topologies, seq/ack/len), others from
     their kind text; "full" adds the Ethernet addresses (hover) */
  function label(i) {
    const f = str(P.flags[i]);
    const ttl = G.routed && P.ttl[i] >= 0 ? " ttl=" + P.ttl[i] : "";
    const kind = str(P.lbl[i]);
    return "#" + P.n[i] + " " + (kind ? kind + ttl : f + ttl + " seq=" + P.seq[i] + " ack=" + P.ack[i] + " len=" + P.len[i]);
  }
  function fullLabel(i) {
    return label(i) + (str(P.esrc[i]) ? "  [eth " + str(P.esrc[i]) + " -> " + str(P.edst[i]) + "]" : "");
  }
  /* the label cut to fit above an arrow span px long: the same rule as geometry.fit_label */
  function fit(text, span) {
    const room = Math.floor((span - 2 * G.LABEL_PAD) / G.CHAR_W);
    if (room <= 1) return "";
    return text.length <= room ? text : text.slice(0, room - 1) + "…";
  }
  /* which calls a packet names in its cause ("7" or "7,8" in column cc) */
  function packetCalls(i) {
    const t = str(P.cc[i]);
    return t ? t.split(",").map(Number) : [];
  }
  /* select an event (index into D.events) or a packet by frame number */
  function selectEvent(ev, how) {
    state.selected = ev;
    if (state.vis) {
      const p = state.visPos ? state.visPos.get(ev) : undefined;
      if (p !== undefined) state.pos = p;
    }
    emit("select", { ev: ev, how: how || "click" });
  }
  function eventOfPacket(i) { return D.packetEvent[i]; }
  function selectFrame(n) {
    const i = byNumber.get(n);
    if (i === undefined) { emit("notice", "frame " + n + " is not in this page"); return false; }
    selectEvent(eventOfPacket(i), "link");
    return true;
  }
  function selectCall(id) {
    const i = callById.get(id);
    if (i === undefined) { emit("notice", "call #" + id + " is not in this page"); return false; }
    selectEvent(D.callEvent[i], "link");
    return true;
  }
  /* index maps built once: event -> row, packet -> event, call -> start event */
  D.packetEvent = new Int32Array(P.n.length);
  D.callEvent = new Int32Array(D.calls.length);
  for (let e = 0; e < D.events.k.length; e++) {
    const k = D.events.k[e], r = D.events.r[e];
    if (k === 1) D.packetEvent[r] = e;
    else if (k === 0) D.callEvent[r] = e;
  }
  return { D, S, P, G, byNumber, callById, state, on, emit, esc, str, ms, packetCalls, label, fullLabel, fit,
           selectEvent, selectFrame, selectCall };
})();
