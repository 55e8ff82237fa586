// Market picker: a symbol input with data-market-picker="<id of the exchange select>" searches the
// exchange's listed markets (GET /api/markets/) as you type, through a native <datalist>, and says the
// market's minimum order and steps once the value is a listed market. Suggestion chips
// (data-suggest, data-target) fill the input.
(function () {
  "use strict";
  const cache = new Map(); // "exchange|q" -> markets
  async function search(exchange, q) {
    const key = exchange + "|" + q;
    if (cache.has(key)) return cache.get(key);
    const url = "/api/markets/?" + new URLSearchParams({ exchange: exchange, q: q, limit: "50" });
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const data = r.ok ? await r.json() : { markets: [] };
    cache.set(key, data.markets || []);
    return data.markets || [];
  }
  function describe(m) {
    const parts = [];
    if (m.min_cost) parts.push("min order " + m.min_cost + " " + m.quote);
    if (m.min_amount) parts.push("min amount " + m.min_amount + " " + m.base);
    if (m.amount_step) parts.push("amount step " + m.amount_step);
    if (m.price_step) parts.push("price step " + m.price_step);
    return m.symbol + (parts.length ? " · " + parts.join(" · ") : "");
  }
  document.querySelectorAll("input[data-market-picker]").forEach((input, i) => {
    const exchangeInput = document.getElementById(input.dataset.marketPicker);
    if (!exchangeInput) return;
    const list = document.createElement("datalist");
    list.id = "market-options-" + i;
    input.after(list);
    input.setAttribute("list", list.id);
    const info = document.querySelector('[data-market-info="' + input.id + '"]');
    let timer = null;
    async function refresh() {
      const q = input.value.trim().toUpperCase();
      let markets = [];
      try { markets = await search(exchangeInput.value, q); } catch (e) { return; }
      if (input.value.trim().toUpperCase() !== q) return; // typed on meanwhile
      list.replaceChildren(...markets.map((m) => {
        const o = document.createElement("option");
        o.value = m.symbol;
        o.label = m.base + " / " + m.quote + (m.min_cost ? " · min " + m.min_cost + " " + m.quote : "");
        return o;
      }));
      if (info) {
        const exact = markets.find((m) => m.symbol === q);
        info.textContent = exact ? describe(exact) : "";
      }
    }
    function later() { clearTimeout(timer); timer = setTimeout(refresh, 150); }
    input.addEventListener("input", later);
    input.addEventListener("focus", later);
    exchangeInput.addEventListener("change", () => { list.replaceChildren(); later(); });
    if (input.value) later();
  });
  document.querySelectorAll("[data-suggest]").forEach((chip) => chip.addEventListener("click", () => {
    const target = document.getElementById(chip.dataset.target);
    if (!target) return;
    target.value = chip.dataset.suggest;
    target.dispatchEvent(new Event("input"));
    target.focus();
  }));
})();
