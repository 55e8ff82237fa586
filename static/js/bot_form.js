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
  // After a refused submit, bring the first field with an error into view (on a phone the strategy
  // parameters sit far below the top of the form).
  const invalid = document.querySelector(".bot-form .has-error input, .bot-form .has-error select");
  if (invalid) {
    invalid.scrollIntoView({ block: "center" });
    invalid.focus({ preventScroll: true });
  }
})();
