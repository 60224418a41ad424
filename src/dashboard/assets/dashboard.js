// bqflow dashboard: applies each refresh the server pushes (server-sent events). Only the
// panels whose content changed are replaced, in place, so nothing flickers and a tooltip
// under the pointer survives a refresh that did not touch its panel.
"use strict";
(function () {
  var connection = document.getElementById("connection");
  var shown = {};
  var updates = 0;
  function say(text, state) {
    if (!connection) return;
    connection.textContent = text;
    connection.className = state;
  }
  function apply(message) {
    var status = document.getElementById("status");
    if (status && status.innerHTML !== message.status) status.innerHTML = message.status;
    message.panels.forEach(function (p) {
      var body = document.getElementById(p.id + "-body");
      if (!body) return;
      if (shown[p.id] !== p.html) {
        body.innerHTML = p.html;
        shown[p.id] = p.html;
      }
      body.parentElement.classList.toggle("failed", p.failed);
    });
    updates += 1;
    document.body.setAttribute("data-version", String(message.version));
    document.body.setAttribute("data-updates", String(updates));
  }
  var events = new EventSource("events");
  events.addEventListener("refresh", function (e) {
    apply(JSON.parse(e.data));
  });
  events.onopen = function () { say("live", "live"); };
  events.onerror = function () { say("reconnecting…", "lost"); };
})();
