/* step-through: back / play / forward through the visible events in time order (Packet Tracer's
   simulation mode on a real capture); every view follows the "select" event. */
(function () {
  const { D, state, on } = LAB;
  const back = document.getElementById("st-back");
  const play = document.getElementById("st-play");
  const fwd = document.getElementById("st-fwd");
  const where = document.getElementById("st-where");
  let timer = null;
  function go(p) {
    const vis = state.vis;
    if (!vis.length) return false;
    p = Math.max(0, Math.min(vis.length - 1, p));
    state.pos = p;
    LAB.selectEvent(vis[p], "step");
    return p < vis.length - 1;
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } play.textContent = "▶ play"; }
  back.addEventListener("click", () => { stop(); go(state.pos - 1); });
  fwd.addEventListener("click", () => { stop(); go(state.pos + 1); });
  play.addEventListener("click", () => {
    if (timer) { stop(); return; }
    play.textContent = "❚❚ pause";
    if (state.pos >= state.vis.length - 1) state.pos = -1;
    timer = setInterval(() => { if (!go(state.pos + 1)) stop(); }, 600);
  });
  document.addEventListener("keydown", ev => {
    if (ev.target.tagName === "SELECT" || ev.target.tagName === "INPUT") return;
    if (ev.key === "ArrowRight" || ev.key === "j") { stop(); go(state.pos + 1); ev.preventDefault(); }
    if (ev.key === "ArrowLeft" || ev.key === "k") { stop(); go(state.pos - 1); ev.preventDefault(); }
  });
  function show() {
    const n = state.vis ? state.vis.length : 0;
    where.textContent = (state.pos >= 0 ? "event " + (state.pos + 1) : "no event selected") + " of " + n;
  }
  on("select", show);
  on("filtered", show);
  LAB.stepper = { go, stop };
})();
