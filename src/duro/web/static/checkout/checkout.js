/* Duro hosted checkout: pays through /api/checkout/{token}/pay without reloading, and, inside the inline SDK's
   frame, talks to the parent page. The page works without this script (the form posts to the server). */
(function () {
  "use strict";
  var body = document.body;
  var data = body.dataset;
  var embedded = data.embed === "1" && window.parent !== window && !!data.parent;
  var parentOrigin = data.parent;
  var closing = false;

  function post(type, payload) {
    if (!embedded) return;
    // Always the checked parent origin, never "*".
    window.parent.postMessage({ source: "duro-checkout", version: 1, type: type, payload: payload || {} }, parentOrigin);
  }
  function close(reason) {
    if (closing) return;
    closing = true;
    post("close", { reason: reason });
  }
  function resize() {
    post("resize", { height: Math.ceil(document.documentElement.scrollHeight) });
  }

  if (embedded) {
    window.addEventListener("message", function (event) {
      // Only the parent window, from the parent origin the server checked.
      if (event.source !== window.parent || event.origin !== parentOrigin) return;
      var m = event.data;
      if (!m || m.source !== "duro-checkout" || m.version !== 1 || m.type !== "close") return;
      close("user");
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") close("user");
    });
    document.querySelectorAll("[data-action=close]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { close("user"); });
    });
    if ("ResizeObserver" in window) new ResizeObserver(resize).observe(document.documentElement);
  }
  document.querySelectorAll("[data-action=done]").forEach(function (b) {
    b.addEventListener("click", function () { close(data.page === "terminal" && data.status !== "completed" ? "user" : "completed"); });
  });

  function succeeded(result) {
    post("success", {
      sessionId: result.sessionId, status: result.status,
      subscriptionId: result.subscriptionId || null, invoiceId: result.invoiceId || null
    });
    setTimeout(function () { close("completed"); }, 2000);
  }

  if (data.page === "error") {
    post("error", { code: data.errorCode, message: data.errorMessage });
    resize();
    return;
  }
  if (data.page === "success") {
    succeeded({ sessionId: data.sessionId, status: data.status, subscriptionId: data.subscriptionId, invoiceId: data.invoiceId });
    resize();
    return;
  }
  post("ready", {});
  resize();
  if (data.page !== "checkout") return;

  var form = document.getElementById("pay-form");
  var errors = document.getElementById("errors");
  var button = document.getElementById("pay-button");
  var busy = document.getElementById("busy");
  var FIELDS = {
    "card.number": "card-number", "card.expMonth": "card-exp-month", "card.expYear": "card-exp-year",
    "card.cvc": "card-cvc", "account.number": "account-number", email: "email", phone: "phone", name: "name",
    saveToPhone: "save-to-phone"
  };
  var REASONS = {
    unknown_test_number: "Use one of the test numbers listed above.",
    invalid_expiry: "This card has expired.",
    identity_required: "To save this method to your phone, verify your phone first."
  };
  var RAILS = { card: "Card", ussd: "USSD", transfer: "Bank transfer", virtual_account: "Virtual account", direct_debit: "Direct debit" };

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text) node.textContent = text;
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function int(value) { return /^\d{1,4}$/.test(value) ? Number(value) : value; }

  function payload() {
    var f = new FormData(form);
    var t = function (n) { return String(f.get(n) || "").trim(); };
    var b = { rail: t("rail") };
    if (b.rail === "card") {
      var year = t("card_exp_year");
      if (/^\d{2}$/.test(year)) year = "20" + year;
      b.card = { number: t("card_number").replace(/[\s-]/g, ""), expMonth: int(t("card_exp_month")), expYear: int(year), cvc: t("card_cvc") };
    } else {
      b.account = { number: t("account_number").replace(/\s/g, "") };
    }
    ["email", "phone", "name"].forEach(function (n) { if (t(n)) b[n] = t(n); });
    if (f.get("save_to_phone")) b.saveToPhone = true;
    return b;
  }

  function clearErrors() {
    errors.hidden = true;
    errors.textContent = "";
    form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); i.removeAttribute("aria-describedby"); });
    form.querySelectorAll(".field-error").forEach(function (p) { p.remove(); });
  }

  function showErrors(title, items, suggested) {
    errors.appendChild(el("p", title, { class: "errors-title" }));
    var list = el("ul");
    items.forEach(function (item) {
      var li = el("li");
      var input = item.id && document.getElementById(item.id);
      if (input) {
        li.appendChild(el("a", item.message, { href: "#" + item.id }));
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", item.id + "-error");
        input.parentNode.appendChild(el("p", item.message, { class: "field-error", id: item.id + "-error" }));
      } else {
        li.textContent = item.message;
      }
      list.appendChild(li);
    });
    errors.appendChild(list);
    var offered = (suggested || []).filter(function (r) { return document.getElementById("rail-" + r); });
    if (offered.length) {
      errors.appendChild(el("p", "Try another way:"));
      var ways = el("ul");
      offered.forEach(function (r) {
        var li = el("li");
        li.appendChild(el("label", RAILS[r] || r, { for: "rail-" + r, class: "link" }));
        ways.appendChild(li);
      });
      errors.appendChild(ways);
      document.getElementById("rail-" + offered[0]).checked = true;
    }
    errors.hidden = false;
    errors.focus();
    resize();
  }

  function failed(status, envelope) {
    var e = (envelope && envelope.error) || {};
    if (status === 402) {
      showErrors("Payment declined", [{ message: e.message || "The payment was declined." }], e.payment && e.payment.suggestedRails);
      return;
    }
    var items = [];
    if (REASONS[e.reason]) {
      items.push({ id: e.details && e.details[0] && FIELDS[e.details[0].path], message: REASONS[e.reason] });
    } else if (e.details && e.details.length) {
      e.details.forEach(function (d) { items.push({ id: FIELDS[d.path], message: d.issue.charAt(0).toUpperCase() + d.issue.slice(1) + "." }); });
    } else {
      items.push({ message: e.message || "Something went wrong. Please try again." });
    }
    showErrors("Please check your details", items);
  }

  function done(result) {
    form.hidden = true;
    errors.hidden = true;
    var bar = document.getElementById("identity-bar");
    if (bar) bar.hidden = true;
    var success = document.getElementById("success");
    success.hidden = false;
    success.focus();
    resize();
    if (embedded) {
      succeeded(result);
    } else if (result.redirectUrl) {
      var link = document.getElementById("redirect-link");
      link.href = result.redirectUrl;
      link.parentNode.hidden = false;
      setTimeout(function () { window.location.assign(result.redirectUrl); }, 3000);
    }
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    clearErrors();
    button.disabled = true;
    busy.textContent = "Processing your payment…";
    fetch("/api/checkout/" + encodeURIComponent(data.token) + "/pay", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "omit",
      body: JSON.stringify(payload())
    }).then(function (r) {
      return r.json().then(function (json) { return { status: r.status, json: json }; });
    }).then(function (answer) {
      if (answer.status === 200) done(answer.json);
      else failed(answer.status, answer.json);
    }, function () {
      showErrors("Connection problem", [{ message: "We could not reach the payment server. Check your connection and try again." }]);
    }).then(function () {
      button.disabled = false;
      busy.textContent = "";
    });
  });
})();
