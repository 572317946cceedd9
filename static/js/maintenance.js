/* Maintenance board: schedule, start and complete a work order through the REST API.
 *
 * The board's cards carry data-command buttons; a dialog asks for what the command needs (the
 * window; the findings) and posts it. The live refresh of the panels is dashboard.js's.
 */
(function () {
  "use strict";

  var live = window.MesLive;
  var dialog = document.getElementById("maintenance-dialog");
  var form = document.getElementById("maintenance-form");
  if (!dialog || !form) { return; }
  var pending = null;

  function byId(id) { return document.getElementById(id); }

  function localInputValue(date) {
    var shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 16);
  }

  function open(command, button) {
    var orderId = button.getAttribute("data-order");
    var title = button.getAttribute("data-title") || "";
    pending = { command: command, url: "/api/maintenance/work-orders/" + orderId + "/" + command + "/" };
    byId("maintenance-title").textContent = { schedule: "Schedule", start: "Start", complete: "Complete" }[command] + " work order";
    byId("maintenance-text").textContent = title;
    form.querySelector('[data-for="schedule"]').hidden = command !== "schedule";
    form.querySelector('[data-for="complete"]').hidden = command !== "complete";
    byId("maintenance-error").textContent = "";
    byId("maintenance-reason").value = "";
    byId("maintenance-findings").value = "";
    if (command === "schedule") {
      var start = new Date(Date.now() + 3600 * 1000);
      start.setMinutes(0, 0, 0);
      var hours = parseFloat(button.getAttribute("data-hours")) || 2;
      byId("maintenance-start").value = localInputValue(start);
      byId("maintenance-end").value = localInputValue(new Date(start.getTime() + hours * 3600 * 1000));
    }
    byId("maintenance-submit").disabled = false;
    dialog.showModal();
  }

  byId("maintenance-cancel").addEventListener("click", function () { pending = null; dialog.close(); });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!pending) { return; }
    var submit = byId("maintenance-submit");
    if (submit.disabled) { return; }  // a double click sends one request
    var body = { reason: byId("maintenance-reason").value };
    if (pending.command === "schedule") {
      var start = byId("maintenance-start").value;
      var end = byId("maintenance-end").value;
      if (!start || !end) { byId("maintenance-error").textContent = "Enter when the window starts and ends."; return; }
      body.window_start_at = new Date(start).toISOString();
      body.window_end_at = new Date(end).toISOString();
    }
    if (pending.command === "complete") {
      var findings = byId("maintenance-findings").value.trim();
      if (findings) { body.findings = findings; }
    }
    submit.disabled = true;
    live.postJson(pending.url, body).then(function (result) {
      submit.disabled = false;
      if (!result.ok) {
        var message = (result.data && result.data.message) || ("Refused (" + result.status + ").");
        var detail = result.data && result.data.detail;
        if (detail && typeof detail === "object") {
          message += " " + Object.keys(detail).map(function (key) { return key + ": " + [].concat(detail[key]).join(" "); }).join("; ");
        }
        byId("maintenance-error").textContent = message;
        return;
      }
      pending = null;
      dialog.close();
      if (window.MesPanels) { window.MesPanels.refresh(["maintenance_board", "health"]); }
    });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-command^='maintenance-']");
    if (!button || button.disabled) { return; }
    open(button.getAttribute("data-command").replace("maintenance-", ""), button);
  });
})();
