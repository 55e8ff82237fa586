// Notification channel form: show only the fields of the chosen kind (the server validates either way).
(function () {
  var form = document.getElementById("channel-form");
  if (!form) return;
  var kind = form.querySelector("[name=kind]");
  function sync() {
    var dt = kind.value === "dingtalk";
    ["webhook_url", "secret"].forEach(function (n) { form.querySelector("[name=" + n + "]").closest(".field").hidden = !dt; });
    form.querySelector("[name=apprise_url]").closest(".field").hidden = dt;
  }
  kind.addEventListener("change", sync);
  sync();
})();
