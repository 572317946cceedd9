/* Operator HMI of one station: live body, one-tap commands, reason and scrap pickers.
 *
 * The station body is server-rendered (/hmi/station/<id>/body/) and fetched again when an
 * event for the station or its line arrives. A command button is disabled while its request
 * is in flight, so a double tap sends one request; reports carry a request id the server
 * books once; a state command refused because the state is already the wanted one counts
 * as done.
 */
(function () {
  "use strict";

  var live = window.MesLive;
  var body = document.getElementById("station-body");
  var equipmentId = body.getAttribute("data-equipment");
  var lineId = body.getAttribute("data-line");
  var toast = document.getElementById("toast");
  var toastTimer = null;

  function say(text, kind) {
    toast.textContent = text;
    toast.className = "toast " + (kind || "info");
    toast.hidden = false;
    window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(function () { toast.hidden = true; }, kind === "error" ? 8000 : 3000);
  }

  var throttle = new live.Throttle(function () {
    live.fetchFragment("/hmi/station/" + equipmentId + "/body/").then(function (html) {
      if (html === null) { return; }
      body.innerHTML = html;
      body.setAttribute("data-refreshed-at", String(Date.now()));
      tickDurations();
    });
  }, 700);
  function refresh() { throttle.request("body"); }

  new live.LiveSocket({
    targets: ["equipment." + equipmentId, "line." + lineId],
    snapshot: false,
    onStatus: function (state, text) {
      live.showIndicator(state, text);
      document.body.setAttribute("data-live", state);
    },
    onSubscribed: function () { refresh(); },
    onEvent: function (frame) {
      if (frame.event === "current_values") { return; }
      refresh();
    }
  });

  /* "since" durations count up between refreshes. */
  function tickDurations() {
    var nodes = body.querySelectorAll("[data-since]");
    for (var i = 0; i < nodes.length; i++) {
      var seconds = Math.max(0, (Date.now() - Date.parse(nodes[i].getAttribute("data-since"))) / 1000);
      var minutes = Math.floor(seconds / 60);
      nodes[i].textContent = seconds < 60 ? Math.floor(seconds) + " s"
        : minutes < 60 ? minutes + " min" : Math.floor(minutes / 60) + " h " + ("0" + (minutes % 60)).slice(-2) + " min";
    }
  }
  window.setInterval(tickDurations, 5000);

  /* --- commands --- */

  function message(result) {
    return (result.data && result.data.message) || ("Refused (" + result.status + ").");
  }

  /* A 409 whose current state is already the wanted one: the other tap (or device) did it. */
  function alreadyDone(result, wanted) {
    return result.status === 409 && result.data && result.data.detail && result.data.detail.current_state === wanted;
  }

  function runCommand(button) {
    var command = button.getAttribute("data-command");
    var operationId = button.getAttribute("data-operation");
    var base = "/api/production/operations/" + operationId + "/";
    if (command === "op-start") {
      var workOrderId = button.getAttribute("data-work-order");
      var first = button.getAttribute("data-work-order-state") === "released"
        ? live.postJson("/api/production/work-orders/" + workOrderId + "/start/", { reason: "started at " + equipmentId })
        : Promise.resolve({ ok: true });
      return first.then(function (result) {
        if (!result.ok && !alreadyDone(result, "in_progress")) { return result; }
        return live.postJson(base + "start/", { equipment: Number(equipmentId) });
      }).then(function (result) { return done(result, "in_progress", "Started."); });
    }
    if (command === "op-pause") { return live.postJson(base + "pause/", { reason: "paused at the station" }).then(function (r) { return done(r, "paused", "Paused."); }); }
    if (command === "op-resume") { return live.postJson(base + "resume/", {}).then(function (r) { return done(r, "in_progress", "Resumed."); }); }
    if (command === "op-complete") { return live.postJson(base + "complete/", {}).then(function (r) { return done(r, "completed", "Completed."); }); }
    if (command === "report-good") {
      return live.postJson("/api/live/operations/" + operationId + "/report/", { request_id: live.uuid4(), good: 1 })
        .then(function (r) { return done(r, null, "+1 good booked."); });
    }
    if (command === "report-scrap") { openScrap(operationId); return Promise.resolve(); }
    if (command === "classify") { openReasons(button.getAttribute("data-interval")); return Promise.resolve(); }
    if (command === "alert-acknowledge") {
      return live.postJson("/api/production/alerts/" + button.getAttribute("data-alert") + "/acknowledge/", {})
        .then(function (r) { return done(r, "acknowledged", "Alert acknowledged."); });
    }
    return Promise.resolve();
  }

  function done(result, wantedState, text) {
    if (result.ok || (wantedState && alreadyDone(result, wantedState))) {
      say(text, "ok");
    } else {
      say(message(result), "error");
    }
    refresh();
  }

  body.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-command]");
    if (!button || button.disabled || button.getAttribute("data-busy")) { return; }
    button.setAttribute("data-busy", "1");
    button.disabled = true;
    runCommand(button).then(function () {
      button.removeAttribute("data-busy");
      button.disabled = false;
    });
  });

  /* --- reason picker (category → reason → sub-reason) --- */

  var reasonDialog = document.getElementById("reason-dialog");
  var reasonInterval = null;
  var reasonTrail = [];
  var reasonBusy = false;

  function showLevel(parentId) {
    var levels = reasonDialog.querySelectorAll(".reason-level");
    for (var i = 0; i < levels.length; i++) { levels[i].hidden = levels[i].getAttribute("data-parent") !== parentId; }
    document.getElementById("reason-back").hidden = parentId === "";
    document.getElementById("reason-path").textContent = reasonTrail.length
      ? reasonTrail.map(function (step) { return step.name; }).join(" › ") : "Choose a category.";
  }

  function openReasons(intervalId) {
    reasonInterval = intervalId;
    reasonTrail = [];
    reasonBusy = false;
    showLevel("");
    reasonDialog.showModal();
  }

  reasonDialog.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-reason]");
    if (!button || reasonBusy) { return; }
    var reasonId = button.getAttribute("data-reason");
    if (button.getAttribute("data-has-children") === "1" && !button.getAttribute("data-leaf")) {
      reasonTrail.push({ id: reasonId, name: button.textContent });
      showLevel(reasonId);
      return;
    }
    reasonBusy = true;
    live.postJson("/api/production/state-intervals/" + reasonInterval + "/classify/", {
      reason_code: button.getAttribute("data-code"), note: "classified on the HMI"
    })
      .then(function (result) {
        reasonBusy = false;
        reasonDialog.close();
        done(result, null, "Reason saved: " + button.textContent.replace(" (no detail)", "") + ".");
      });
  });
  document.getElementById("reason-back").addEventListener("click", function () {
    reasonTrail.pop();
    showLevel(reasonTrail.length ? reasonTrail[reasonTrail.length - 1].id : "");
  });
  document.getElementById("reason-cancel").addEventListener("click", function () { reasonDialog.close(); });

  /* --- scrap: quantity and reason, booked once per dialog (one request id) --- */

  var scrapDialog = document.getElementById("scrap-dialog");
  var scrapOperation = null;
  var scrapRequestId = null;
  var scrapBusy = false;
  var scrapQuantity = document.getElementById("scrap-quantity");

  function openScrap(operationId) {
    scrapOperation = operationId;
    scrapRequestId = live.uuid4();
    scrapBusy = false;
    scrapQuantity.textContent = "1";
    scrapDialog.showModal();
  }
  document.getElementById("scrap-minus").addEventListener("click", function () {
    scrapQuantity.textContent = String(Math.max(1, Number(scrapQuantity.textContent) - 1));
  });
  document.getElementById("scrap-plus").addEventListener("click", function () {
    scrapQuantity.textContent = String(Math.min(999, Number(scrapQuantity.textContent) + 1));
  });
  document.getElementById("scrap-cancel").addEventListener("click", function () { scrapDialog.close(); });
  scrapDialog.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-scrap-reason]");
    if (!button || scrapBusy) { return; }
    scrapBusy = true;
    var quantity = Number(scrapQuantity.textContent);
    live.postJson("/api/live/operations/" + scrapOperation + "/report/", {
      request_id: scrapRequestId, scrap: quantity, reason: button.getAttribute("data-scrap-reason")
    }).then(function (result) {
      scrapBusy = false;
      if (result.ok || (result.data && result.data.code === "idempotency_key_in_flight")) { scrapDialog.close(); }
      done(result, null, quantity + " scrap booked (" + button.getAttribute("data-scrap-reason") + ").");
    });
  });
})();
