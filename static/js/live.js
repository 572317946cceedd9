/* Open MES live client: one websocket, subscriptions, reconnect with backoff, stale detection.
 *
 * Used by the supervisor dashboard, the operator HMI and the equipment page. No build step,
 * no dependencies. The protocol is described in docs/live.md.
 */
(function () {
  "use strict";

  var RECONNECT_MIN_S = 1;
  var RECONNECT_MAX_S = 30;
  var CLOSE_SESSION_CODES = [4401, 4403];

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* A random UUID, also where crypto.randomUUID is missing (plain http on a plant LAN). */
  function uuid4() {
    if (window.crypto && window.crypto.randomUUID) {
      try { return window.crypto.randomUUID(); } catch (error) { /* insecure context */ }
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  /* POST JSON with the CSRF token; resolves to {ok, status, data} and never rejects. */
  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken"), "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (error) { data = { message: text.slice(0, 200) }; }
        return { ok: response.ok, status: response.status, data: data };
      });
    }).catch(function (error) {
      return { ok: false, status: 0, data: { code: "network", message: "The server cannot be reached. Check the connection and try again." } };
    });
  }

  /* Fetch an HTML fragment; resolves to the text, or null (with the reason logged). */
  /* A fragment the page fetches by itself after a live event. The header tells the server
   * that this is not the user's activity: it does not keep an idle session alive. */
  function fetchFragment(url) {
    var headers = { "Accept": "text/html", "X-Live-Refresh": "1" };
    return fetch(url, { credentials: "same-origin", headers: headers })
      .then(function (response) {
        if (response.redirected && /\/accounts\/login\//.test(response.url)) { return null; }
        return response.ok ? response.text() : null;
      })
      .catch(function () { return null; });
  }

  /* Keep at most ``size`` recent event ids to drop the copies a client gets once per group. */
  function RecentIds(size) {
    this.size = size; this.order = []; this.seen = Object.create(null);
  }
  RecentIds.prototype.add = function (id) {
    if (!id) { return true; }
    if (this.seen[id]) { return false; }
    this.seen[id] = true; this.order.push(id);
    if (this.order.length > this.size) { delete this.seen[this.order.shift()]; }
    return true;
  };

  /*
   * new LiveSocket({targets, snapshot, onStatus, onSubscribed, onEvent, onError})
   * onStatus(state, text): state is connecting | live | stale | disconnected | ended
   */
  function LiveSocket(options) {
    this.options = options;
    this.targets = options.targets || [];
    this.attempt = 0;
    this.heartbeatS = 15;
    this.lastFrameAt = 0;
    this.socket = null;
    this.retryTimer = null;
    this.retryAt = 0;
    this.state = "connecting";
    this.ended = false;
    this.recent = new RecentIds(500);
    this.connectCount = 0;
    var self = this;
    this.watchTimer = window.setInterval(function () { self.watch(); }, 1000);
    this.connect();
  }

  LiveSocket.prototype.url = function () {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/live/";
  };

  LiveSocket.prototype.setStatus = function (state, text) {
    this.state = state;
    if (this.options.onStatus) { this.options.onStatus(state, text); }
  };

  LiveSocket.prototype.connect = function () {
    var self = this;
    if (this.ended) { return; }
    this.setStatus("connecting", "Connecting…");
    var socket;
    try { socket = new WebSocket(this.url()); } catch (error) { this.scheduleReconnect(); return; }
    this.socket = socket;
    socket.onopen = function () { self.lastFrameAt = Date.now(); };
    socket.onmessage = function (message) { self.receive(message.data); };
    socket.onclose = function (event) {
      if (self.socket !== socket) { return; }
      self.socket = null;
      if (CLOSE_SESSION_CODES.indexOf(event.code) >= 0) {
        self.ended = true;
        self.setStatus("ended", "Session ended: " + (event.reason || "log in again") + ".");
        return;
      }
      self.scheduleReconnect();
    };
  };

  LiveSocket.prototype.receive = function (text) {
    var frame;
    this.lastFrameAt = Date.now();
    try { frame = JSON.parse(text); } catch (error) { return; }
    if (frame.type === "welcome") {
      this.attempt = 0;
      this.heartbeatS = frame.heartbeat_s || 15;
      this.connectCount += 1;
      if (this.targets.length) {
        this.send({ type: "subscribe", targets: this.targets, snapshot: !!this.options.snapshot });
      }
      this.setStatus("live", "Live");
    } else if (frame.type === "subscribed") {
      if (this.options.onSubscribed) { this.options.onSubscribed(frame, this.connectCount > 1); }
    } else if (frame.type === "event") {
      if (this.recent.add(frame.id) && this.options.onEvent) { this.options.onEvent(frame); }
    } else if (frame.type === "error") {
      if (this.options.onError) { this.options.onError(frame); }
      if (window.console) { console.warn("live:", frame.code, frame.message, frame.target || ""); }
    }
    if (this.state === "stale") { this.setStatus("live", "Live"); }
  };

  LiveSocket.prototype.send = function (frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) { this.socket.send(JSON.stringify(frame)); }
  };

  LiveSocket.prototype.scheduleReconnect = function () {
    var self = this;
    var delayS = Math.min(RECONNECT_MAX_S, RECONNECT_MIN_S * Math.pow(2, this.attempt));
    delayS = delayS * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.retryAt = Date.now() + delayS * 1000;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(function () { self.connect(); }, delayS * 1000);
    this.watch();
  };

  /* Once a second: the countdown while disconnected, and the stale check while open. */
  LiveSocket.prototype.watch = function () {
    if (this.ended) { return; }
    if (!this.socket) {
      var seconds = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
      this.setStatus("disconnected", "Disconnected · retrying in " + seconds + " s");
      return;
    }
    if (this.socket.readyState !== WebSocket.OPEN || this.state === "connecting") { return; }
    var silentS = (Date.now() - this.lastFrameAt) / 1000;
    if (silentS > this.heartbeatS * 4) {
      this.socket.close();  // a half-open connection: start again
      this.socket = null;
      this.scheduleReconnect();
    } else if (silentS > this.heartbeatS * 2.5) {
      this.setStatus("stale", "Stale · no data for " + Math.round(silentS) + " s");
    }
  };

  /* Run ``refresh(name)`` at most once per ``minIntervalMs`` per name, always a last time. */
  function Throttle(refresh, minIntervalMs) {
    this.refresh = refresh; this.minIntervalMs = minIntervalMs;
    this.lastRun = Object.create(null); this.timers = Object.create(null);
  }
  Throttle.prototype.request = function (name) {
    var self = this;
    if (this.timers[name]) { return; }
    var wait = Math.max(0, (this.lastRun[name] || 0) + this.minIntervalMs - Date.now());
    this.timers[name] = window.setTimeout(function () {
      self.timers[name] = null;
      self.lastRun[name] = Date.now();
      self.refresh(name);
    }, wait);
  };

  function showIndicator(state, text) {
    var nodes = document.querySelectorAll("[data-live-indicator]");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].setAttribute("data-state", state);
      nodes[i].textContent = text;
    }
  }

  window.MesLive = {
    LiveSocket: LiveSocket,
    Throttle: Throttle,
    postJson: postJson,
    fetchFragment: fetchFragment,
    showIndicator: showIndicator,
    uuid4: uuid4,
    cookie: cookie
  };
})();
