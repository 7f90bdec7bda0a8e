/* start: apply the default filters (background folded), select the first event, mark the page ready
   (the bench and the tests wait for document.body.dataset.ready). */
(function () {
  const note = document.getElementById("notice");
  LAB.on("notice", t => { note.textContent = t; setTimeout(() => { note.textContent = ""; }, 4000); });
  LAB.filters.apply();
  if (LAB.state.vis.length) LAB.stepper.go(0);
  document.body.dataset.ready = "1";
})();
