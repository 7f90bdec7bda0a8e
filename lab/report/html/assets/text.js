/* the lab's own text: concept, expected observations (ok / failed, evidence frames as links), the
   questions (never their answers), the socket story. The HTML of concept and story was escaped and built
   by data.py from the lab's markdown. */
(function () {
  const { D, esc } = LAB;
  const T = D.text;
  const obs = document.getElementById("obs");
  obs.innerHTML = T.observations.length ? T.observations.map(o =>
    '<li class="' + (o.ok ? "ok" : "failed") + '"><b>[' + (o.ok ? "ok" : "FAILED") + ']</b> ' + esc(o.label) + ': ' +
    esc(o.detail) + (o.frames.length ? ' — evidence: ' + o.frames.map(LAB.packetview.frameLink).join(", ") : "") + '</li>').join("")
    : "<li>no expected observations (not a lab run)</li>";
  document.getElementById("questions").innerHTML = T.questions.length ?
    T.questions.map(q => '<li>' + esc(q.text) + '</li>').join("") : "<li>none</li>";
  document.getElementById("concept").innerHTML = T.concept || "<p>(no concept text)</p>";
  document.getElementById("story").innerHTML = T.story || "<p>(no story)</p>";
  const fail = document.getElementById("failures");
  if (T.failures.length) fail.innerHTML = "<b>This run failed:</b><ul>" + T.failures.map(f => "<li>" + esc(f) + "</li>").join("") + "</ul>";
  else fail.classList.add("none");
  document.getElementById("textpane").addEventListener("click", ev => {
    const a = ev.target.closest("a[data-goto]");
    if (a) { ev.preventDefault(); LAB.selectFrame(Number(a.getAttribute("data-goto"))); }
  });
})();
