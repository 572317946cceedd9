/* Supervisor dashboard: re-render panels when live events say they changed; decisions.
 *
 * Panels are server-rendered fragments (/live/panels/<name>/?site=<id>). An event names the
 * panels it touches (EVENT_PANELS); an unknown event refreshes them all. Each panel is
 * fetched at most once a second, and always once more after the last event.
 */
(function () {
  "use strict";

  var live = window.MesLive;
  var script = document.currentScript;
  var siteId = script.getAttribute("data-site");
  var ALL = Array.prototype.map.call(document.querySelectorAll("[data-panel]"), function (node) {
    return node.getAttribute("data-panel");
  });
  var EVENT_PANELS = {
    equipment_state: ["lines", "stops", "pareto"],
    state_interval: ["lines", "stops", "pareto"],
    stop_classified: ["stops", "pareto", "lines"],
    needs_reason: ["stops", "lines"],
    // The monitoring services publish "oee" after every state change and classification.
    oee: ["lines", "trend", "stops", "pareto"],
    counts: ["lines", "work_orders"],
    alert: ["alerts", "lines"],
    operation: ["lines", "work_orders", "gantt"],
    work_order: ["lines", "work_orders", "gantt"],
    proposed_action: ["actions"],
    autonomy_mode: ["actions"],
    schedule_run: ["gantt"],
    schedule: ["gantt"],
    dispatch: ["dispatch"],
    customer_order: ["dispatch"],
    health: ["health"],
    maintenance_work_order: ["health", "maintenance_board"],
    current_values: []
  };

  var siteSelect = document.querySelector("select[data-submit-on-change]");
  if (siteSelect) {
    siteSelect.addEventListener("change", function () { siteSelect.form.submit(); });
  }

  var throttle = new live.Throttle(function (name) {
    var section = document.querySelector('[data-panel="' + name + '"]');
    if (!section) { return; }
    live.fetchFragment("/live/panels/" + name + "/?site=" + encodeURIComponent(siteId)).then(function (html) {
      if (html === null) { return; }
      section.innerHTML = html;
      section.setAttribute("data-refreshed-at", String(Date.now()));
    });
  }, 1000);

  function refresh(names) { names.forEach(function (name) { throttle.request(name); }); }

  var targets = JSON.parse(document.getElementById("live-targets").textContent);
  var firstSubscription = true;
  new live.LiveSocket({
    targets: targets,
    snapshot: false,
    onStatus: live.showIndicator,
    onSubscribed: function (frame, isReconnect) {
      // The current state first: after each (re)connect, render every panel once again.
      if (firstSubscription || isReconnect) { refresh(ALL); }
      firstSubscription = false;
    },
    onEvent: function (frame) {
      var panels = EVENT_PANELS.hasOwnProperty(frame.event) ? EVENT_PANELS[frame.event] : ALL;
      refresh(panels);
    }
  });

  /* --- decisions: approve (signature), reject, revert, autonomy mode, kill switch --- */

  /* The other roles' pages reuse the panels and the live refresh; their own commands are in
   * their own script (maintenance.js). The public hook lets that script refresh panels. */
  window.MesPanels = { refresh: refresh };
  var dialog = document.getElementById("decision-dialog");
  var form = document.getElementById("decision-form");
  if (!dialog || !form) { return; }
  var pending = null;

  function openDecision(options) {
    pending = options;
    document.getElementById("decision-title").textContent = options.title;
    document.getElementById("decision-text").textContent = options.text;
    document.getElementById("decision-password-row").hidden = !options.needsPassword;
    document.getElementById("decision-reason-row").hidden = !options.needsReason;
    document.getElementById("decision-password").value = "";
    document.getElementById("decision-reason").value = "";
    document.getElementById("decision-error").textContent = "";
    document.getElementById("decision-submit").textContent = options.submitLabel;
    document.getElementById("decision-submit").disabled = false;
    dialog.showModal();
    (options.needsPassword ? document.getElementById("decision-password") : document.getElementById("decision-reason")).focus();
  }

  document.getElementById("decision-cancel").addEventListener("click", function () { pending = null; dialog.close(); });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!pending) { return; }
    var submit = document.getElementById("decision-submit");
    if (submit.disabled) { return; }  // a double click sends one request
    var body = {};
    if (pending.needsPassword) {
      body.password = document.getElementById("decision-password").value;
      if (!body.password) { document.getElementById("decision-error").textContent = "Enter your password to sign."; return; }
      body.meaning = "approval";
    }
    if (pending.needsReason) { body.reason = document.getElementById("decision-reason").value; }
    Object.keys(pending.extra || {}).forEach(function (key) { body[key] = pending.extra[key]; });
    submit.disabled = true;
    var current = pending;
    live.postJson(current.url, body).then(function (result) {
      submit.disabled = false;
      if (!result.ok) {
        document.getElementById("decision-error").textContent = (result.data && result.data.message) || ("Refused (" + result.status + ").");
        return;
      }
      pending = null;
      dialog.close();
      refresh(current.panels);
    });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-command]");
    if (!button || button.disabled) { return; }
    var command = button.getAttribute("data-command");
    var actionId = button.getAttribute("data-action");
    var target = button.getAttribute("data-target") || "";
    if (command === "action-approve") {
      openDecision({ title: "Approve action", text: target, needsPassword: true, needsReason: false, submitLabel: "Sign and approve",
        url: "/api/production/proposed-actions/" + actionId + "/approve/", panels: ["actions", "lines", "work_orders", "gantt"] });
    } else if (command === "action-reject") {
      openDecision({ title: "Reject action", text: target, needsPassword: false, needsReason: true, submitLabel: "Reject",
        url: "/api/production/proposed-actions/" + actionId + "/reject/", panels: ["actions"] });
    } else if (command === "action-revert") {
      openDecision({ title: "Revert action", text: target + " — its inverse is applied.", needsPassword: false, needsReason: true, submitLabel: "Revert",
        url: "/api/production/proposed-actions/" + actionId + "/revert/", panels: ["actions", "lines", "work_orders", "gantt"] });
    } else if (command === "kill-switch") {
      openDecision({ title: "Kill switch", text: "Autonomy goes to off at once: nothing more is applied automatically; actions are only proposed.",
        needsPassword: false, needsReason: true, submitLabel: "Stop automation",
        url: "/api/production/autonomy/kill-switch/", extra: { site: Number(button.getAttribute("data-site")) }, panels: ["actions"] });
    } else if (command === "alert-acknowledge") {
      button.disabled = true;
      live.postJson("/api/production/alerts/" + button.getAttribute("data-alert") + "/acknowledge/", {}).then(function (result) {
        if (!result.ok) { button.disabled = false; window.alert((result.data && result.data.message) || "Refused."); }
        refresh(["alerts", "lines"]);
      });
    }
  });

  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-command='autonomy-mode']");
    if (!select) { return; }
    select.disabled = true;
    live.postJson("/api/production/autonomy/set/", { site: Number(select.getAttribute("data-site")), mode: select.value, reason: "set on the dashboard" })
      .then(function (result) {
        select.disabled = false;
        if (!result.ok) { window.alert((result.data && result.data.message) || "Refused."); }
        refresh(["actions"]);
      });
  });
})();
