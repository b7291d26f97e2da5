// Duro customer portal (06 §7): vanilla JS over /identity and /portal/subscriptions. No build step.
// The identity token lives in sessionStorage only and is dropped on sign-out. Every value from the API is put in
// the page with textContent (never as markup), so merchant names and the like cannot inject markup.
"use strict";

(function () {
  const TOKEN_KEY = "duro.portal.token";
  const $ = (id) => document.getElementById(id);
  const state = { mode: document.body.dataset.mode === "test" ? "test" : "live", phone: "", methods: [] };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function notify(message, isError) {
    const notice = $("notice");
    notice.textContent = message || "";
    notice.classList.toggle("error", Boolean(isError));
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) headers.Authorization = "Bearer " + t;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      if (response.status === 401 && t) signedOut();
      const error = new Error((data.error && data.error.message) || "Something went wrong");
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function money(amount, currency) {
    try {
      const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
      const digits = format.resolvedOptions().maximumFractionDigits;
      return format.format(amount / Math.pow(10, digits));
    } catch (e) {
      return amount + " " + currency;
    }
  }

  function day(iso) {
    return iso ? new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) : "";
  }

  function methodLabel(m) {
    if (!m) return "your default payment method";
    return (m.brand || m.rail) + " ending " + m.last4;
  }

  // --- sign in --------------------------------------------------------------------------------------------------

  function showSignedIn(signedIn) {
    $("signin").hidden = signedIn;
    $("account").hidden = !signedIn;
    $("logout").hidden = !signedIn;
  }

  function signedOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(false);
    $("phone-form").hidden = false;
    $("code-form").hidden = true;
  }

  $("phone-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.phone = $("phone").value.trim();
    try {
      await api("POST", "/identity/otp", { phone: state.phone });
      $("phone-form").hidden = true;
      $("code-form").hidden = false;
      $("code").focus();
      notify("We sent a code to your WhatsApp.");
    } catch (e) {
      notify(e.message, true);
    }
  });

  $("code-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const verified = await api("POST", "/identity/verify", { phone: state.phone, code: $("code").value.trim() });
      sessionStorage.setItem(TOKEN_KEY, verified.token);
      $("code").value = "";
      notify("");
      await load();
    } catch (e) {
      notify(e.message, true);
    }
  });

  $("change-phone").addEventListener("click", () => {
    $("code-form").hidden = true;
    $("phone-form").hidden = false;
  });

  $("logout").addEventListener("click", async () => {
    try {
      await api("POST", "/identity/logout");
    } catch (e) {
      // Signed out locally either way.
    }
    signedOut();
    notify("You are signed out.");
  });

  // --- mode -----------------------------------------------------------------------------------------------------

  function showMode() {
    for (const button of document.querySelectorAll("[data-mode-choice]")) {
      button.setAttribute("aria-pressed", String(button.dataset.modeChoice === state.mode));
    }
    document.body.dataset.mode = state.mode;
    $("test-numbers").hidden = state.mode !== "test";
  }

  for (const button of document.querySelectorAll("[data-mode-choice]")) {
    button.addEventListener("click", async () => {
      state.mode = button.dataset.modeChoice;
      const url = new URL(window.location.href);
      url.searchParams.set("mode", state.mode);
      window.history.replaceState(null, "", url);
      showMode();
      if (token()) await load();
    });
  }

  // --- subscriptions --------------------------------------------------------------------------------------------

  const ACTIVE = ["trialing", "active", "past_due", "paused", "incomplete", "unpaid"];

  function actionPath(sub, action) {
    return "/portal/subscriptions/" + state.mode + "/" + encodeURIComponent(sub.id) + "/" + action;
  }

  async function run(sub, action, body, done) {
    try {
      await api("POST", actionPath(sub, action), body || {});
      notify(done);
      await load();
    } catch (e) {
      notify(e.message, true);
    }
  }

  function actions(sub, permissions) {
    const box = el("div", { class: "actions" });
    const live = ACTIVE.includes(sub.status);
    if (permissions.retryPayment && (sub.status === "past_due" || sub.status === "incomplete")) {
      box.append(el("button", { type: "button", text: "Pay now", onclick: () => run(sub, "retry-payment", {}, "Payment received. Thank you!") }));
    }
    if (permissions.pauseSubscription && sub.status === "active") {
      box.append(el("button", { type: "button", text: "Pause", onclick: () => run(sub, "pause", {}, "Subscription paused.") }));
    }
    if (permissions.pauseSubscription && sub.status === "paused") {
      box.append(el("button", { type: "button", text: "Resume", onclick: () => run(sub, "resume", {}, "Subscription resumed.") }));
    }
    if (permissions.cancelSubscription && live && !sub.cancelAtPeriodEnd) {
      const atEnd = permissions.cancelMode === "period_end";
      const label = atEnd ? "Cancel at period end" : "Cancel now";
      box.append(
        el("button", {
          type: "button",
          class: "danger",
          text: label,
          onclick: () => {
            if (window.confirm(label + "?")) run(sub, "cancel", { atPeriodEnd: atEnd }, "Cancellation recorded.");
          },
        })
      );
    }
    if (permissions.updatePaymentMethod && live && state.methods.length) {
      const id = "pm-" + sub.id;
      const select = el("select", { id });
      for (const m of state.methods) select.append(el("option", { value: m.id, text: methodLabel(m) }));
      box.append(
        el("label", { for: id, text: "Pay with" }),
        select,
        el("button", {
          type: "button",
          text: "Use this method",
          onclick: () => run(sub, "payment-method", { paymentMethodId: select.value }, "Payment method updated."),
        })
      );
    }
    if (permissions.viewInvoices) {
      const list = el("div", { class: "invoices" });
      box.append(el("button", { type: "button", class: "link", text: "Invoices", onclick: () => showInvoices(sub, list) }), list);
    }
    return box;
  }

  async function showInvoices(sub, target) {
    try {
      const page = await api("GET", actionPath(sub, "invoices") + "?limit=20");
      target.replaceChildren();
      if (!page.items.length) {
        target.append(el("p", { text: "No invoices yet." }));
        return;
      }
      const table = el("table", {}, el("caption", { text: "Invoices" }));
      table.append(
        el("tr", {}, el("th", { scope: "col", text: "Period" }), el("th", { scope: "col", text: "Amount" }), el("th", { scope: "col", text: "Status" }))
      );
      for (const inv of page.items) {
        table.append(
          el(
            "tr",
            {},
            el("td", { text: day(inv.periodStart) + " – " + day(inv.periodEnd) }),
            el("td", { text: money(inv.amount, inv.currency) }),
            el("td", { text: inv.status + (inv.amountRefunded ? " (refunded " + money(inv.amountRefunded, inv.currency) + ")" : "") })
          )
        );
      }
      target.append(table);
    } catch (e) {
      notify(e.message, true);
    }
  }

  function ownOrigin(url) {
    try {
      return new URL(url, window.location.origin).origin === window.location.origin;
    } catch (e) {
      return false;
    }
  }

  function merchantCard(m) {
    const card = el("section", { class: "card merchant", "aria-label": m.merchantName || "Merchant" });
    if (/^#[0-9A-Fa-f]{6}$/.test(m.brandColor || "")) card.style.setProperty("--brand", m.brandColor);
    const name = m.merchantName || "Merchant";
    const badge =
      m.logoUrl && ownOrigin(m.logoUrl)
        ? el("img", { src: m.logoUrl, alt: name + " logo", class: "logo" })
        : el("span", { class: "logo initial", "aria-hidden": "true", text: name.charAt(0).toUpperCase() });
    card.append(el("header", {}, badge, el("h2", { text: m.portal.heading || name })));
    if (m.portal.supportUrl) card.append(el("p", {}, el("a", { href: m.portal.supportUrl, rel: "noopener", text: "Help from " + name })));
    for (const sub of m.subscriptions) {
      const facts = [money(sub.amount, sub.currency) + " / " + (sub.plan.intervalCount > 1 ? sub.plan.intervalCount + " " : "") + sub.plan.interval];
      if (sub.nextChargeAt) facts.push("next charge " + day(sub.nextChargeAt));
      else if (sub.cancelAtPeriodEnd) facts.push("ends " + day(sub.currentPeriodEnd));
      facts.push(methodLabel(sub.paymentMethod));
      card.append(
        el(
          "article",
          { class: "subscription" },
          el("h3", {}, document.createTextNode(sub.plan.name + " "), el("span", { class: "status " + sub.status, text: sub.status.replace("_", " ") })),
          el("p", { text: facts.join(" · ") }),
          actions(sub, m.portal.permissions)
        )
      );
    }
    return card;
  }

  function showMethods() {
    const list = $("methods");
    list.replaceChildren();
    if (!state.methods.length) list.append(el("li", { text: "No saved payment methods in this mode." }));
    for (const m of state.methods) list.append(el("li", { text: methodLabel(m) + (m.usable === false ? " (unusable)" : "") }));
  }

  async function load() {
    showSignedIn(true);
    try {
      const [portal, methods] = await Promise.all([
        api("GET", "/portal/subscriptions?mode=" + state.mode),
        api("GET", "/identity/payment-methods?mode=" + state.mode),
      ]);
      state.methods = methods.items.filter((m) => m.usable !== false);
      showMethods();
      const box = $("merchants");
      box.replaceChildren();
      if (!portal.merchants.length) box.append(el("p", { text: "No subscriptions in " + state.mode + " mode." }));
      for (const m of portal.merchants) box.append(merchantCard(m));
    } catch (e) {
      if (e.status !== 401) notify(e.message, true);
    }
  }

  $("method-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      testCard: {
        number: $("card-number").value.replace(/[\s-]/g, ""),
        expMonth: parseInt($("exp-month").value, 10),
        expYear: parseInt($("exp-year").value, 10),
      },
    };
    try {
      await api("POST", "/identity/payment-methods?mode=" + state.mode, body);
      event.target.reset();
      notify("Card saved.");
      await load();
    } catch (e) {
      notify(e.message, true);
    }
  });

  showMode();
  if (token()) load();
  else signedOut();
})();
