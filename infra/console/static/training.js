// The training page: metric charts (uPlot) from the JSON in #metrics-data, redrawn when the live stream
// swaps in new data; and the log filter. Data is read as text and parsed: never evaluated as markup.
(function () {
  "use strict";
  var COLOURS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a"];

  function read() {
    var el = document.getElementById("metrics-data");
    try { return JSON.parse(el.textContent); } catch (e) { return { charts: {} }; }
  }

  // One chart per metric key (train and validation of the same metric share one); x is seconds since epoch.
  function draw() {
    var box = document.getElementById("charts");
    var data = read();
    window.headwaterMetrics = data;  // what the chart shows, for anyone checking the page
    box.textContent = "";
    Object.keys(data.charts).sort().forEach(function (key) {
      var series = data.charts[key];
      var names = Object.keys(series).sort();
      var xs = Array.from(new Set([].concat.apply([], names.map(function (n) { return series[n].t; }))))
        .sort(function (a, b) { return a - b; });
      var columns = [xs].concat(names.map(function (n) {
        var at = {};
        series[n].t.forEach(function (t, i) { at[t] = series[n].v[i]; });
        return xs.map(function (t) { return t in at ? at[t] : null; });
      }));
      var holder = document.createElement("div");
      holder.className = "chart";
      holder.dataset.metric = key;
      box.appendChild(holder);
      new uPlot({
        title: key, width: 460, height: 260, spanGaps: true,
        series: [{}].concat(names.map(function (n, i) {
          return { label: n, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true, size: 6 } };
        })),
      }, columns, holder);
    });
    if (!Object.keys(data.charts).length) {
      box.innerHTML = '<p class="none">No metric points yet.</p>';
    }
  }

  function filterLog() {
    var q = document.getElementById("log-filter").value.toLowerCase();
    document.querySelectorAll("#log .line").forEach(function (line) {
      line.classList.toggle("hidden", q !== "" && line.textContent.toLowerCase().indexOf(q) < 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw();
    document.getElementById("log-filter").addEventListener("input", filterLog);
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (e.target.id === "metrics-data") { draw(); }
      if (e.target.id === "log") { filterLog(); }
    });
  });
})();
