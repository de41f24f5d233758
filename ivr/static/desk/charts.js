// The dashboard's charts: Vega-Lite specs the server wrote (workers/reports/charts.py), drawn by vega-embed from
// /static/vendor/vega/ (no internet needed) at the width of their box, so no text is scaled below its size and no
// chart scrolls sideways. Below `narrow_below` px a chart with a turned layout (the heat maps) uses it. The desk's CSP
// allows no eval and no script-made style sheets: Vega runs its expressions with vega-interpreter, and the
// tooltip's style is in desk.css.
(function () {
  "use strict";

  var views = {};

  function specOf(box) {
    var holder = document.getElementById("chart-spec-" + box.getAttribute("data-chart"));
    return holder ? JSON.parse(holder.textContent) : null;
  }

  function draw(box) {
    var key = box.getAttribute("data-chart");
    var specs = specOf(box);
    var width = Math.floor(box.getBoundingClientRect().width);
    if (!specs || width <= 0) { return; }
    var turned = Boolean(specs.narrow) && width < specs.narrow_below;
    var drawn = (turned ? "narrow:" : "wide:") + width;
    if (box.getAttribute("data-drawn") === drawn) { return; }
    var spec = JSON.parse(JSON.stringify(turned ? specs.narrow : specs.wide));
    spec.width = width;
    if (views[key]) { views[key].finalize(); delete views[key]; }
    window.vegaEmbed(box, spec, {
      renderer: "svg", actions: false, defaultStyle: false,
      ast: true, expr: window.vega.expressionInterpreter,
      tooltip: { disableDefaultStyle: true }
    }).then(function (result) {
      views[key] = result.view;
      box.setAttribute("data-drawn", drawn);
      box.classList.remove("failed");
    }).catch(function (err) {
      box.classList.add("failed");
      box.textContent = "This chart could not be drawn (" + err.message + "): the table below has its numbers.";
    });
  }

  function drawAll() {
    document.querySelectorAll(".chart-box[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.vegaEmbed || !window.vega || !window.vega.expressionInterpreter) {
      document.querySelectorAll(".chart-box[data-chart]").forEach(function (box) {
        box.classList.add("failed");
        box.textContent = "The chart library did not load: the table below has this chart's numbers.";
      });
      return;
    }
    drawAll();
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(drawAll, 200);
    });
  });
})();
