// Forms with data-confirm="question" ask before they submit (no inline handlers: the CSP allows no inline script).
document.addEventListener("submit", function (event) {
  var form = event.target.closest && event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);
