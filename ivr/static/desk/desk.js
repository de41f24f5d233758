// The desk's only script: refresh live panels without reloading, count down the breather, show the end a
// block's chosen length would set, and keep the keyboard's focus somewhere sensible (after an action, when a
// panel is redrawn, when Escape closes what opened).
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

  // The focused control of a panel about to be redrawn, as words that find the same control in the new panel.
  function focusKey(el) {
    if (el.hasAttribute("data-keep")) { return "keep|" + el.getAttribute("data-keep"); }
    return [el.tagName, el.getAttribute("name") || "", el.getAttribute("formaction") || "",
            el.form ? el.form.getAttribute("action") || "" : "", (el.textContent || "").trim()].join("|");
  }

  // Focus the control that had it before the panel was redrawn; when it is gone (the caller was flagged meanwhile),
  // the panel's first line, never the page's <body>.
  function refocus(container, key) {
    var controls = container.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]");
    for (var i = 0; i < controls.length; i += 1) {
      if (focusKey(controls[i]) === key) { controls[i].focus(); return; }
    }
    var first = container.querySelector("h1, h2, p");
    if (first) { focusHere(first); }
  }

  // Focus something that is not a control (a message, a heading): focusable by script only, and ringed (desk.css).
  function focusHere(el) {
    if (!el.hasAttribute("tabindex")) { el.setAttribute("tabindex", "-1"); }
    el.setAttribute("data-focused", "");
    el.focus();
  }

  // After an action the desk answers with a new page: focus goes to what it says (its message, or the result the
  // page marks with data-focus-on-load), else to its heading, so the keyboard starts there instead of at the top of
  // the page. A page that focuses a field itself (autofocus, as the login page does) keeps it. Only the page's own
  // messages count (main > .flash): the live panel's notes are not news of an action.
  var ACTED = "desk-acted";

  function focusAfterAction() {
    var acted = false;
    try { acted = window.sessionStorage.getItem(ACTED) !== null; window.sessionStorage.removeItem(ACTED); } catch (e) { /* storage off */ }
    if (document.querySelector("[autofocus]") || (document.activeElement && document.activeElement !== document.body)) {
      return;
    }
    var said = document.querySelector("main > .flash, [data-focus-on-load]");
    var start = document.querySelector("main h1") || document.querySelector("main");  // the agent's idle page has no h1
    if (said) { focusHere(said); } else if (acted && start) { focusHere(start); }
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
            var activeKey = active ? focusKey(active) : null;
            var kept = keepValues(container);
            container.innerHTML = html;
            container.setAttribute("data-version", next);
            restoreValues(container, kept);
            if (activeKey) { refocus(container, activeKey); }
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

  // A block's length, read as the server reads it (blocklist/parse.py): a number with its unit, parts in
  // order (1h30m, 2 weeks); a bare number is refused. Anything this does not know, the server still checks.
  var UNIT_SECONDS = [[/^(w|wks?|weeks?)$/, 604800], [/^(d|dys?|days?)$/, 86400], [/^(h|hrs?|hours?)$/, 3600],
                      [/^(m|mins?|minutes?)$/, 60], [/^(s|secs?|seconds?)$/, 1]];

  function lengthOf(text) {
    var word = text.trim().toLowerCase();
    if (word === "") { return { kind: "empty" }; }
    if (word === "permanent" || word === "forever" || word === "inf") { return { kind: "permanent" }; }
    if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(word)) { return { kind: "bare" }; }
    var part = /\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?/g;
    var total = 0, used = 0, last = -1, match;
    while ((match = part.exec(word)) !== null && match.index === used) {
      var rank = -1;
      UNIT_SECONDS.forEach(function (unit, i) { if (unit[0].test(match[2])) { rank = i; } });
      if (rank <= last) { return { kind: "unknown" }; }
      last = rank;
      total += parseFloat(match[1]) * UNIT_SECONDS[rank][1];
      used = part.lastIndex;
    }
    if (used !== word.length || total < 1) { return { kind: "unknown" }; }
    return { kind: "seconds", seconds: Math.floor(total) };
  }

  // A time as the server writes it (blocklist.clock.human_time): '5 Dec 2026, 14:01 SAST', in the service's zone.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function deskTime(ms, zone) {
    var parts = {};
    try {
      new Intl.DateTimeFormat("en-GB", { timeZone: zone || "UTC", year: "numeric", month: "numeric", day: "numeric",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" })
        .formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
    } catch (e) {  // a zone this browser does not know: say it in UTC
      var d = new Date(ms);
      parts = { day: String(d.getUTCDate()), month: String(d.getUTCMonth() + 1), year: String(d.getUTCFullYear()),
                hour: ("0" + d.getUTCHours()).slice(-2), minute: ("0" + d.getUTCMinutes()).slice(-2), timeZoneName: "UTC" };
    }
    return parseInt(parts.day, 10) + " " + MONTHS[parseInt(parts.month, 10) - 1] + " " + parts.year + ", " +
      parts.hour + ":" + parts.minute + " " + (parts.timeZoneName || "");
  }

  function blockLength(fieldset) {
    var choice = fieldset.querySelector("select[name=duration]");
    var custom = fieldset.querySelector("input[name=duration_custom]");
    var shown = fieldset.querySelector("[data-block-ends]");
    var preview = fieldset.form ? fieldset.form.querySelector("[data-preview]") : null;
    if (!choice || !custom || !shown) { return; }
    if (preview) { preview.hidden = true; }  // the line below says it live
    function show() {
      var picked = choice.value === "custom" ? custom.value : choice.value;
      var length = lengthOf(picked);
      if (choice.value === "") {
        shown.textContent = "Choose a length to see when the block would end.";
      } else if (length.kind === "empty") {
        shown.textContent = "Write the custom length, e.g. 90m, 36h or 2w.";
      } else if (length.kind === "permanent") {
        shown.textContent = "The block would never end (permanent).";
      } else if (length.kind === "bare") {
        shown.textContent = "“" + picked.trim() + "” has no unit: write 90s, 15m, 24h, 7d or 2w.";
      } else if (length.kind === "unknown") {
        shown.textContent = "Not a length: write e.g. 90m, 36h or 2w (the server checks it when you press Block).";
      } else {
        shown.textContent = "Saved now, the block would end " +
          deskTime(Date.now() + length.seconds * 1000, fieldset.getAttribute("data-zone")) + ".";
      }
    }
    choice.addEventListener("change", function () {
      if (choice.value !== "custom") { custom.value = ""; }  // one length at a time: the list's, or the one written
      show();
    });
    custom.addEventListener("input", function () {
      if (custom.value.trim() !== "") { choice.value = "custom"; }
      show();
    });
    show();
    window.setInterval(show, 30000);  // "saved now" moves on while the page stays open
  }

  // Escape closes what opened: an open <details> (a user's Edit, a chart's table) folds, and its summary keeps focus.
  function escapeCloses(event) {
    if (event.key !== "Escape" || event.defaultPrevented || !event.target.closest) { return; }
    var open = event.target.closest("details[open]");
    if (!open) { return; }
    open.open = false;
    var summary = open.querySelector("summary");
    if (summary) { summary.focus(); }
    event.preventDefault();
  }

  document.addEventListener("submit", function () {
    try { window.sessionStorage.setItem(ACTED, "1"); } catch (e) { /* storage off: focus starts at the top */ }
  });
  document.addEventListener("keydown", escapeCloses);

  document.addEventListener("DOMContentLoaded", function () {
    focusAfterAction();
    document.querySelectorAll("[data-poll-url]").forEach(poll);
    document.querySelectorAll("[data-countdown]").forEach(countdown);
    document.querySelectorAll("[data-block-length]").forEach(blockLength);
  });
})();
