// Shipyard's UI: draws each metric chart (uPlot) from the downsampled series the server sends.
// Pages work without this file; it only adds the charts.
(function () {
  "use strict";

  function note(box, text) {
    var p = box.parentElement.querySelector(".chart-note");
    if (p) { p.textContent = text; }
  }

  function draw(box) {
    if (box.dataset.drawn) { return; }
    box.dataset.drawn = "1";
    if (typeof window.uPlot === "undefined") {
      note(box, "Charts need the UI's browser libraries (make ui-assets).");
      return;
    }
    fetch(box.dataset.series, { headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("the server answered " + r.status); }
        return r.json();
      })
      .then(function (s) {
        if (s.x.length === 0) { note(box, "No points."); return; }
        var byTime = s.x_label === "time";
        var opts = {
          width: Math.max(280, box.clientWidth || 420),
          height: 240,
          scales: { x: { time: byTime } },
          axes: [{ label: byTime ? "time" : "step" }, {}],
          series: [
            { label: s.x_label },
            { label: s.key, stroke: "#0b5cad", width: 1.5, spanGaps: false }
          ],
          legend: { show: true }
        };
        new window.uPlot(opts, [s.x, s.y], box);
        if (s.shown < s.total) {
          note(box, s.shown + " of " + s.total + " points (lowest and highest per interval).");
        } else {
          note(box, s.total + (s.total === 1 ? " point." : " points."));
        }
      })
      .catch(function (e) { note(box, "The chart could not be loaded: " + e.message); });
  }

  function drawAll(root) {
    root.querySelectorAll(".chart[data-series]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // Parts that htmx swaps in may hold charts too.
  document.addEventListener("htmx:afterSwap", function (e) { drawAll(e.target); });
})();
