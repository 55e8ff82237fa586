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
  // The candle timeframes the chosen exchange offers (from ccxt, rendered by the server): the others are not
  // listed; when the exchange changes, a choice it lacks moves to the nearest shorter one it has, saying so.
  const exchange = document.getElementById("id_exchange"), tf = document.getElementById("id_timeframe");
  const note = document.getElementById("timeframe-note");
  if (exchange && tf && tf.dataset.exchangeTimeframes && !tf.disabled) {
    const offered = JSON.parse(tf.dataset.exchangeTimeframes);
    const fit = (announce) => {
      const list = offered[exchange.value];
      if (!list) return;
      const options = Array.from(tf.options);
      // on load a refused choice stays shown next to the server's error about it
      options.forEach((o) => { o.hidden = o.disabled = !list.includes(o.value) && (announce || o.value !== tf.value); });
      if (note) note.textContent = "";
      if (list.includes(tf.value) || !announce) return;
      const was = tf.value, at = options.findIndex((o) => o.value === was);
      const shorter = options.slice(0, Math.max(at, 0)).reverse().find((o) => !o.disabled);
      tf.value = (shorter || options.find((o) => !o.disabled)).value;
      if (announce && note) note.textContent = exchange.value + " has no " + was + " candles: " + tf.value + " chosen.";
    };
    exchange.addEventListener("change", () => fit(true));
    fit(false);
  }
  // After a refused submit, bring the first field with an error into view (on a phone the strategy
  // parameters sit far below the top of the form).
  const invalid = document.querySelector(".bot-form .has-error input, .bot-form .has-error select");
  if (invalid) {
    invalid.scrollIntoView({ block: "center" });
    invalid.focus({ preventScroll: true });
  }
})();
