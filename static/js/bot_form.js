// Bot form: show the parameter inputs of the chosen strategy only (the schema comes from the registry).
(function () {
  "use strict";
  const select = document.getElementById("id_strategy");
  if (!select) return;
  function show() {
    document.querySelectorAll("fieldset.strategy-params").forEach((fs) => {
      fs.hidden = fs.dataset.strategy !== select.value;
    });
  }
  select.addEventListener("change", show);
  show();
})();
