// Promotion wizard (templates/trading/_bot_promotion.html): criteria -> review -> confirm -> waiting for
// approval -> live, driven by /api/bots/<id>/promotion/ (+ confirm/) and /api/bots/<id>/demote/ with the
// session (CSRF header from the cookie). Everything from the server is inserted as text.
(function () {
  "use strict";
  const card = document.getElementById("promotion-card");
  if (!card) return;
  const $ = (id) => document.getElementById(id);
  const errorEl = $("promo-error"), statusEl = $("promo-status");
  const STEPS = ["criteria", "review", "confirm", "waiting", "live"];
  let state = null;

  function csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    const input = card.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function call(method, url, body) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRFToken"] = csrf();
      opts.body = JSON.stringify(body || {});
    }
    const r = await fetch(url, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = (data && data.error) || { message: "The server answered " + r.status + "." };
      throw err;
    }
    return data;
  }

  function showError(err) {
    errorEl.replaceChildren();
    const p = document.createElement("p");
    p.textContent = err.message || String(err);
    errorEl.appendChild(p);
    errorEl.hidden = false;
  }

  function clearError() { errorEl.hidden = true; errorEl.replaceChildren(); }

  function step(name, text) {
    card.dataset.step = name;
    statusEl.textContent = text || "";
    card.querySelectorAll(".promo-pane").forEach((el) => { el.hidden = el.dataset.pane !== name; });
    const at = STEPS.indexOf(name);
    card.querySelectorAll(".promo-steps li").forEach((li) => {
      const i = STEPS.indexOf(li.dataset.for);
      li.className = i === at ? "current" : i < at ? "done" : "";
      if (i === at) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
    });
  }

  function markLive(live) {
    document.querySelectorAll("[data-live-badge]").forEach((el) => { el.hidden = !live; });
    document.querySelectorAll("[data-paper-tag]").forEach((el) => { el.hidden = live; });
  }

  function put(name, text) {
    card.querySelectorAll('[data-review="' + name + '"]').forEach((el) => { el.textContent = text; });
  }

  function when(iso) { return iso ? iso.replace("T", " ").replace(/(:\d\d)(\.\d+)?(Z|\+00:00)$/, "$1") + " UTC" : "—"; }

  function renderCriteria(s) {
    const tbody = $("promo-criteria");
    tbody.replaceChildren();
    s.criteria.forEach((c) => {
      const tr = document.createElement("tr");
      tr.dataset.criterion = c.id;
      tr.dataset.passed = c.passed ? "true" : "false";
      // on phones the row becomes a small card (table.stack-sm): the label on top, then labelled cells
      [[c.label, "", "wrap full"], [c.required, "Required", "wrap"], [c.actual, "Actual", "wrap"],
       [c.passed ? "✓ passed" : "✗ not yet", "Result", c.passed ? "ok" : "bad"]].forEach(([t, label, klass]) => {
        const td = document.createElement("td");
        td.textContent = t;
        td.className = klass;
        if (label) td.dataset.label = label;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    $("promo-request").disabled = !s.eligible;
    $("promo-allocation").disabled = !s.eligible;
  }

  function renderReview(p) {
    put("allocation", p.allocation);
    put("live-allocation", p.allocation);
    put("key", p.key ? p.key.label + " (" + p.key.exchange + ")" : "—");
    const st = p.stats || {};
    const actual = (id) => ((st.criteria || []).find((c) => c.id === id) || { actual: "—" }).actual;
    put("record", (st.paper_days || "0") + " days, " + st.closed_trades + " closed trades, win rate " +
        actual("win_rate") + ", profit " + actual("profit"));
    const l = p.limits || {};
    const parts = [];
    if (l.max_trades_per_day) parts.push(l.max_trades_per_day + " trades a day");
    if (l.daily_loss_pct) parts.push("daily loss stop " + l.daily_loss_pct + " %");
    if (l.max_drawdown_pct) parts.push("max drawdown " + l.max_drawdown_pct + " %");
    if (l.max_open_trades) parts.push(l.max_open_trades + " open trades");
    put("limits", parts.join(", ") || "platform defaults");
    put("expires_at", when(p.expires_at));
    const totp = p.confirm_with === "totp";
    card.querySelector('[data-confirm="phrase"]').hidden = totp;
    card.querySelector('[data-confirm="totp"]').hidden = !totp;
  }

  function render(s) {
    state = s;
    renderCriteria(s);
    const p = s.promotion;
    markLive(s.live);
    if (s.live && p && p.status === "approved") {
      renderReview(p);
      return step("live", "Live since " + when(p.activated_at) + ".");
    }
    if (p && p.status === "pending_confirmation") {
      renderReview(p);
      return step("review", "Requested. Review, then confirm.");
    }
    if (p && p.status === "pending_approval") {
      renderReview(p);
      return step("waiting", "Waiting for staff approval.");
    }
    let note = s.eligible ? "Eligible: choose the live allocation." : "Not eligible yet.";
    if (!s.live_trading_enabled) note = "Live trading is switched off on this platform.";
    if (p && ["rejected", "cancelled", "expired", "demoted"].includes(p.status)) {
      note += " The last request was " + p.status + (p.note ? " (" + p.note + ")" : "") + ".";
    }
    step("criteria", note);
  }

  async function load() {
    try { render(await call("GET", card.dataset.url)); } catch (err) { showError(err); }
  }

  $("promo-request-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearError();
    const btn = $("promo-request");
    btn.disabled = true;
    try {
      const p = await call("POST", card.dataset.url, { allocation: $("promo-allocation").value.trim() });
      renderReview(p);
      state.promotion = p;
      step("review", "Requested. Review, then confirm.");
    } catch (err) {
      showError(err);
    } finally {
      btn.disabled = !(state && state.eligible);
    }
  });

  $("promo-to-confirm").addEventListener("click", () => {
    clearError();
    step("confirm", "Second confirmation.");
    const totp = state && state.promotion && state.promotion.confirm_with === "totp";
    (totp ? $("promo-totp") : $("promo-phrase")).focus();
  });

  $("promo-confirm-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearError();
    const totp = state.promotion && state.promotion.confirm_with === "totp";
    const body = totp ? { totp: $("promo-totp").value.trim() } : { phrase: $("promo-phrase").value };
    const btn = $("promo-confirm");
    btn.disabled = true;
    try {
      await call("POST", card.dataset.confirmUrl, body);
      await load();
    } catch (err) {
      showError(err);
      if (err.code === "confirmation_wrong" && /cancelled/.test(err.message || "")) await loadKeepingError(err);
    } finally {
      btn.disabled = false;
    }
  });

  async function loadKeepingError(err) {
    await load();
    showError(err);
  }

  card.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    clearError();
    btn.disabled = true;
    try {
      await call("POST", card.dataset.demoteUrl, {});
      await load();
    } catch (err) {
      showError(err);
    } finally {
      btn.disabled = false;
    }
  });

  load();
})();
