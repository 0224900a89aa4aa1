// The compare page's charts: one uPlot chart per metric with a line per run, from the
// downsampled series the server sends. The tables and the parallel-coordinates chart need no
// script; this file only adds the line charts.
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
    var colours = (box.dataset.colours || "").split(",");
    fetch(box.dataset.series, { headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("the server answered " + r.status); }
        return r.json();
      })
      .then(function (s) {
        var tables = [], series = [{ label: s.x_label }], shown = 0, total = 0;
        s.runs.forEach(function (run, i) {
          total += run.total;
          shown += run.shown;
          if (run.x.length === 0) { return; }
          tables.push([run.x, run.y]);
          // The runs' x values differ; the join leaves gaps that the line spans.
          series.push({ label: run.name, stroke: colours[i % colours.length], width: 1.5,
                        spanGaps: true });
        });
        if (tables.length === 0) { note(box, "No points."); return; }
        var data = tables.length === 1 ? [tables[0][0], tables[0][1]] : window.uPlot.join(tables);
        var opts = {
          width: Math.max(280, box.clientWidth || 420),
          height: 260,
          scales: { x: { time: false } },
          axes: [{ label: s.x_label }, {}],
          series: series,
          legend: { show: true }
        };
        new window.uPlot(opts, data, box);
        note(box, shown < total
          ? shown + " of " + total + " points (lowest and highest per interval of each run)."
          : total + (total === 1 ? " point." : " points."));
      })
      .catch(function (e) { note(box, "The chart could not be loaded: " + e.message); });
  }

  function drawAll(root) {
    root.querySelectorAll(".compare-chart[data-series]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
})();
