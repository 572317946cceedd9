/* SPC chart page: live refresh. A new point of this chart ("spc_point" on the station's
 * equipment group, at most 1 Hz per chart) reloads the page's server-rendered sections
 * (chart, capability, histogram, violations) in place; nothing is drawn here.
 */
(function () {
  "use strict";

  var live = window.MesLive;
  var script = document.currentScript;
  var chartId = Number(script.getAttribute("data-chart"));
  var equipmentId = script.getAttribute("data-equipment");
  var loading = false;

  function refresh() {
    if (loading) { return; }
    loading = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (!text) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html");
        Array.prototype.forEach.call(document.querySelectorAll("[data-spc-section]"), function (node) {
          var name = node.getAttribute("data-spc-section");
          var replacement = fresh.querySelector('[data-spc-section="' + name + '"]');
          if (replacement) { node.innerHTML = replacement.innerHTML; }
        });
      })
      .catch(function () { /* the next point retries */ })
      .then(function () { loading = false; });
  }

  new live.LiveSocket({
    targets: ["equipment." + equipmentId],
    onStatus: live.showIndicator,
    onEvent: function (frame) {
      if (frame.event === "spc_point" && frame.payload && frame.payload.chart === chartId) { refresh(); }
    }
  });
})();
