// The desk's only script: refresh live panels without reloading, and count down the breather.
// No framework and no build step; the server renders every panel (escaped by Jinja), this only swaps it in.
(function () {
  "use strict";

  function keepValues(container) {
    var kept = {};
    container.querySelectorAll("[data-keep]").forEach(function (el) {
      var form = el.closest("[data-caller]");
      kept[(form ? form.getAttribute("data-caller") : "") + "|" + el.getAttribute("data-keep")] = el.value;
    });
    return kept;
  }

  function restoreValues(container, kept) {
    container.querySelectorAll("[data-keep]").forEach(function (el) {
      var form = el.closest("[data-caller]");
      var key = (form ? form.getAttribute("data-caller") : "") + "|" + el.getAttribute("data-keep");
      if (Object.prototype.hasOwnProperty.call(kept, key)) { el.value = kept[key]; }
    });
  }

  function poll(container) {
    var url = container.getAttribute("data-poll-url");
    var every = parseInt(container.getAttribute("data-poll-ms"), 10) || 3000;
    var busy = false;
    function tick() {
      if (busy || document.hidden) { return; }
      busy = true;
      var version = container.getAttribute("data-version") || "";
      fetch(url + "?v=" + encodeURIComponent(version), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (resp) {
          if (resp.redirected || resp.status === 401 || resp.status === 403) { window.location.reload(); return null; }
          if (resp.status !== 200) { return null; }
          var next = resp.headers.get("X-Panel-Version") || "";
          return resp.text().then(function (html) {
            if (next && next === container.getAttribute("data-version")) { return; }
            var active = document.activeElement && container.contains(document.activeElement) ? document.activeElement : null;
            var activeKey = active && active.getAttribute("data-keep");
            var kept = keepValues(container);
            container.innerHTML = html;
            container.setAttribute("data-version", next);
            restoreValues(container, kept);
            if (activeKey) {
              var again = container.querySelector('[data-keep="' + activeKey + '"]');
              if (again) { again.focus(); }
            }
          });
        })
        .catch(function () { /* a missed poll is retried on the next tick */ })
        .then(function () { busy = false; });
    }
    window.setInterval(tick, every);
    document.addEventListener("visibilitychange", tick);
  }

  function countdown(section) {
    var left = parseInt(section.getAttribute("data-countdown"), 10) || 0;
    var shown = document.getElementById("countdown");
    var next = section.getAttribute("data-next-url");
    var timer = window.setInterval(function () {
      left -= 1;
      if (shown) { shown.textContent = String(Math.max(0, left)); }
      if (left <= 0) { window.clearInterval(timer); if (next) { window.location.assign(next); } }
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll-url]").forEach(poll);
    document.querySelectorAll("[data-countdown]").forEach(countdown);
  });
})();
