// The dry run's form shows only the fields of the kind of rule chosen, and switches them as the choice
// changes. Without this script the page still works: the server renders the chosen kind's fields, and
// "Show its fields" asks it for another kind's. A hidden group is disabled too, so its values are not sent.
(function () {
  "use strict";

  function ruleForm(form) {
    var kind = form.querySelector("[data-rule-kind]");
    var choose = form.querySelector("[data-rule-choose]");
    if (!kind) { return; }
    if (choose) { choose.hidden = true; }  // the fields follow the choice at once
    function show() {
      form.querySelectorAll("[data-rule-fields]").forEach(function (group) {
        var on = group.getAttribute("data-rule-fields").split(" ").indexOf(kind.value) !== -1;
        group.hidden = !on;
        group.disabled = !on;
      });
    }
    kind.addEventListener("change", show);
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rule-form]").forEach(ruleForm);
  });
})();
