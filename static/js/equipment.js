/* Equipment page: signal charts from the downsampled series API, then live points.
 *
 * History comes from the telemetry API (LTTB-downsampled to about the chart's width); live
 * values arrive as "current_values" events (at most 1 Hz per equipment) and are appended.
 * Charts are plain SVG polylines drawn here; no charting library.
 */
(function () {
  "use strict";

  var live = window.MesLive;
  var script = document.currentScript;
  var equipmentId = script.getAttribute("data-equipment");
  var seriesUrl = script.getAttribute("data-series-url");
  var currentUrl = script.getAttribute("data-current-url");
  var WIDTH = 400, HEIGHT = 150, PAD = 6;
  var LIVE_KEEP_S = 3600;
  var charts = {};

  Array.prototype.forEach.call(document.querySelectorAll("[data-signal]"), function (node) {
    charts[node.getAttribute("data-signal")] = { node: node, id: node.getAttribute("data-signal-id"), history: [], live: [] };
  });

  function format(value) {
    if (typeof value !== "number" || !isFinite(value)) { return String(value); }
    return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
  }

  function draw(chart) {
    var points = chart.history.concat(chart.live);
    var svg = chart.node.querySelector("svg");
    if (!points.length) { svg.innerHTML = ""; return; }
    var t0 = points[0][0], t1 = points[points.length - 1][0];
    var low = Infinity, high = -Infinity;
    points.forEach(function (p) { if (p[1] < low) { low = p[1]; } if (p[1] > high) { high = p[1]; } });
    if (high === low) { high += 1; low -= 1; }
    var spanT = Math.max(t1 - t0, 1);
    function xy(p) {
      return ((p[0] - t0) / spanT * (WIDTH - 2 * PAD) + PAD).toFixed(1) + "," +
        (HEIGHT - PAD - (p[1] - low) / (high - low) * (HEIGHT - 2 * PAD)).toFixed(1);
    }
    svg.innerHTML = '<polyline class="line" points="' + chart.history.map(xy).join(" ") + '"/>' +
      '<polyline class="live-line" points="' + chart.live.map(xy).join(" ") + '"/>';
    var unit = chart.node.getAttribute("data-unit");
    chart.node.querySelector("[data-range]").textContent = "min " + format(low) + " · max " + format(high) + (unit ? " " + unit : "") +
      " · " + points.length + " points";
  }

  function setLatest(name, value) {
    var chart = charts[name];
    var unit = chart ? chart.node.getAttribute("data-unit") : "";
    var text = format(value) + (unit ? " " + unit : "");
    if (chart) { chart.node.querySelector("[data-latest]").textContent = text; }
    var feature = document.querySelector('[data-feature="' + name + '"] [data-latest]');
    if (feature) { feature.textContent = format(value); }
  }

  function loadHistory() {
    if (!seriesUrl) { return; }
    var windowS = Number(document.getElementById("series-window").value);
    var end = new Date(), start = new Date(end.getTime() - windowS * 1000);
    Object.keys(charts).forEach(function (name) {
      var chart = charts[name];
      var url = seriesUrl.replace("{id}", chart.id) + "?start=" + encodeURIComponent(start.toISOString()) +
        "&end=" + encodeURIComponent(end.toISOString()) + "&max_points=" + WIDTH;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          var rows = data.points || data.results || data;
          chart.history = rows.map(function (row) {
            return Array.isArray(row) ? [Date.parse(row[0]) || row[0] * 1000, row[1]] : [Date.parse(row.ts), row.value];
          }).filter(function (p) { return typeof p[1] === "number"; });
          chart.live = chart.live.filter(function (p) { return !chart.history.length || p[0] > chart.history[chart.history.length - 1][0]; });
          if (chart.history.length) { setLatest(name, chart.history[chart.history.length - 1][1]); }
          draw(chart);
        })
        .catch(function () { /* the chart stays empty; live points still come */ });
    });
  }

  function addLive(name, ts, value) {
    if (typeof value === "number") { setLatest(name, value); } else { setLatest(name, value); return; }
    var chart = charts[name];
    if (!chart) { return; }
    // A live point must be newer than what the chart already has (the subscription's
    // snapshot repeats the latest value, which the history usually holds already).
    var last = chart.live.length ? chart.live[chart.live.length - 1] :
      chart.history[chart.history.length - 1];
    if (last && ts <= last[0]) { return; }
    chart.live.push([ts, value]);
    var cutoff = ts - LIVE_KEEP_S * 1000;
    while (chart.live.length && chart.live[0][0] < cutoff) { chart.live.shift(); }
    draw(chart);
  }

  new live.LiveSocket({
    targets: ["equipment." + equipmentId],
    snapshot: true,
    onStatus: live.showIndicator,
    onSubscribed: function (frame) {
      (frame.latest || []).forEach(function (item) {
        if (item.event === "current_values") { applyValues(item.payload); }
      });
    },
    onEvent: function (frame) {
      if (frame.event === "current_values") { applyValues(frame.payload); }
    }
  });

  /* Values as {"values": {name: value | {value, ts}}} or {"values": [{signal, value, ts}]}. */
  function applyValues(payload) {
    if (!payload) { return; }
    var fallbackTs = payload.ts ? Date.parse(payload.ts) || payload.ts : Date.now();
    var values = payload.values;
    if (Array.isArray(values)) {
      values.forEach(function (entry) {
        if (entry && entry.signal !== undefined) { addLive(entry.signal, entry.ts ? Date.parse(entry.ts) : fallbackTs, entry.value); }
      });
    } else if (values && typeof values === "object") {
      Object.keys(values).forEach(function (name) {
        var entry = values[name];
        if (entry !== null && typeof entry === "object") {
          addLive(name, entry.ts ? Date.parse(entry.ts) : fallbackTs, entry.value);
        } else {
          addLive(name, fallbackTs, entry);
        }
      });
    } else if (payload.signal !== undefined) {
      addLive(payload.signal, fallbackTs, payload.value);
    }
  }

  function loadCurrent() {
    if (!currentUrl) { return; }
    fetch(currentUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        (data && data.values || []).forEach(function (entry) { setLatest(entry.signal, entry.value); });
      })
      .catch(function () { /* the latest values come with the next live event */ });
  }

  document.getElementById("series-window").addEventListener("change", loadHistory);
  loadHistory();
  loadCurrent();
})();
