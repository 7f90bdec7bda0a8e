/* topology: the run's network (SVG drawn by lab/topology/render.py); the link the selected packet was seen
   on, and the two nodes of its hop, are highlighted. */
(function () {
  const { D, P, on, str } = LAB;
  const pane = document.getElementById("topo");
  pane.innerHTML = D.topology;
  const svg = pane.querySelector("svg");
  if (svg) { svg.removeAttribute("width"); svg.removeAttribute("height"); svg.style.width = "100%"; svg.style.height = "auto"; }
  const say = document.getElementById("topo-say");
  on("select", sel => {
    pane.querySelectorAll(".hl").forEach(el => el.classList.remove("hl"));
    const k = D.events.k[sel.ev], r = D.events.r[sel.ev];
    if (k !== 1) {
      const c = D.calls[r];
      pane.querySelectorAll('.node').forEach(el => { if (el.getAttribute("data-node") === c.node) el.classList.add("hl"); });
      say.textContent = "call on " + c.node;
      return;
    }
    const iface = str(P.iface[r]);
    let found = 0;
    pane.querySelectorAll(".link").forEach(el => {
      if ((" " + el.getAttribute("data-ifaces") + " ").indexOf(" " + iface + " ") >= 0) { el.classList.add("hl"); found++; }
    });
    const ends = [P.s[r], P.d[r]].filter(x => x >= 0).map(x => D.lanes[x].name);
    if (!found && ends.length === 2) {
      pane.querySelectorAll(".link").forEach(el => {
        const a = el.getAttribute("data-a"), b = el.getAttribute("data-b");
        if ((a === ends[0] && b === ends[1]) || (a === ends[1] && b === ends[0])) { el.classList.add("hl"); found++; }
      });
    }
    pane.querySelectorAll(".node").forEach(el => { if (ends.indexOf(el.getAttribute("data-node")) >= 0) el.classList.add("hl"); });
    say.textContent = "frame " + P.n[r] + (iface ? " seen on " + iface : "") + (ends.length ? " (" + ends.join(" → ") + ")" : "");
  });
})();
