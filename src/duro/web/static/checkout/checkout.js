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
    var saved = savedChoice();
    var b = { rail: t("rail") };
    if (saved) {
      b = { rail: saved.rail, paymentMethodId: saved.id };
    } else if (b.rail === "card") {
      var year = t("card_exp_year");
      if (/^\d{2}$/.test(year)) year = "20" + year;
      b.card = { number: t("card_number").replace(/[\s-]/g, ""), expMonth: int(t("card_exp_month")), expYear: int(year), cvc: t("card_cvc") };
    } else {
      b.account = { number: t("account_number").replace(/\s/g, "") };
    }
    ["email", "phone", "name"].forEach(function (n) { if (t(n)) b[n] = t(n); });
    if (signedIn && (saved && !b.phone || f.get("save_to_phone"))) b.phone = signedIn.phone;
    if (!saved && signedIn && f.get("save_to_phone")) b.saveToPhone = true;
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
    forget();
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

  // --- Identity bar (06 §3, §6): phone → WhatsApp code → identity token, kept in sessionStorage per checkout. ----
  var bar = document.getElementById("identity-bar");
  var savedBox = document.getElementById("saved-methods");
  var saveBox = document.getElementById("save-to-phone");
  var saveHint = document.getElementById("save-to-phone-hint");
  var KEY = "duro.checkout.identity." + data.token;
  var signedIn = null; // {token, phone, expiresAt}
  var savedMethods = [];
  var signOut = forget; // the identity bar replaces this with one that also resets the bar

  // Every call is same-origin JSON (CSP connect-src 'self'); the identity token rides along once signed in.
  function call(method, path, json) {
    var headers = { Accept: "application/json" };
    if (json !== undefined) headers["Content-Type"] = "application/json";
    if (signedIn) headers.Authorization = "Bearer " + signedIn.token;
    return fetch(path, {
      method: method, headers: headers, credentials: "omit", body: json === undefined ? undefined : JSON.stringify(json)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return { status: r.status, json: body }; });
    });
  }
  function store(value) {
    try {
      if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
      else sessionStorage.removeItem(KEY);
    } catch (e) { /* storage blocked: signed in for this page view only */ }
  }
  function forget() { signedIn = null; store(null); }
  function savedChoice() {
    var picked = form.querySelector("input[name=saved_method]:checked");
    return picked && picked.value ? savedMethods.filter(function (m) { return m.id === picked.value; })[0] : null;
  }
  function methodLabel(m) {
    var what = m.brand ? m.brand.charAt(0).toUpperCase() + m.brand.slice(1) : m.bankName || "Account";
    return what + " ending " + m.last4 + " · " + (RAILS[m.rail] || m.rail);
  }
  function useSaved() {
    var saved = savedChoice();
    document.getElementById("rails").hidden = !!saved;
    if (saveBox) saveBox.closest(".field").hidden = !!saved;
    resize();
  }
  function showSaveBox() {
    if (!saveBox) return;
    saveBox.disabled = !signedIn;
    if (!signedIn) saveBox.checked = false;
    if (saveHint) {
      saveHint.hidden = !!signedIn || !bar;
      saveBox.setAttribute("aria-describedby", "save-to-phone-hint");
    }
  }
  showSaveBox();

  if (bar) {
    var phoneForm = document.getElementById("identity-phone-form");
    var codeForm = document.getElementById("identity-code-form");
    var phoneInput = document.getElementById("identity-phone");
    var codeInput = document.getElementById("identity-code");
    var message = document.getElementById("identity-message");
    var who = document.getElementById("identity-who");
    var mode = data.token.indexOf("cs_live_") === 0 ? "live" : "test";
    var phone = "";

    // One polite live region for progress and errors; an error also marks the input it is about.
    var say = function (text, input, isError) {
      message.textContent = text || "";
      message.classList.toggle("error", !!(input || isError));
      [phoneInput, codeInput].forEach(function (i) {
        if (i === input) i.setAttribute("aria-invalid", "true"); else i.removeAttribute("aria-invalid");
      });
      if (input) input.focus();
      resize();
    };
    var reason = function (answer, fallback) {
      var e = answer.json && answer.json.error;
      if (answer.status === 429) return "Too many attempts. Wait a little and try again.";
      if (e && e.reason === "invalid_code") return "That code is not right or has expired. Check WhatsApp and try again.";
      if (answer.status === 422) return "Enter a valid phone number, with the country code.";
      return (e && e.message) || fallback;
    };
    var step = function (name) {
      phoneForm.hidden = name !== "phone";
      codeForm.hidden = name !== "code";
      document.getElementById("identity-signed-in").hidden = name !== "in";
      resize();
    };
    var listMethods = function () {
      savedMethods = [];
      var list = document.getElementById("saved-list");
      list.textContent = "";
      savedBox.hidden = true;
      return call("GET", "/identity/payment-methods?mode=" + mode).then(function (answer) {
        if (answer.status === 401) return signOut("Your sign-in has expired. Enter your phone again.");
        if (answer.status !== 200) return say("We could not load your saved payment methods.", null, true);
        savedMethods = answer.json.items.filter(function (m) {
          return m.usable !== false && document.getElementById("rail-" + m.rail);
        });
        if (!savedMethods.length) return say("Signed in. You have no saved payment methods yet for this checkout.");
        savedMethods.concat([null]).forEach(function (m, i) {
          var id = "saved-" + (m ? m.id : "new");
          var radio = el("input", "", { type: "radio", name: "saved_method", id: id, value: m ? m.id : "", class: "saved-radio" });
          radio.checked = i === 0;
          radio.addEventListener("change", useSaved);
          var row = el("div", "", { class: "field check" });
          row.appendChild(radio);
          row.appendChild(el("label", m ? methodLabel(m) : "Use a new payment method", { for: id }));
          list.appendChild(row);
        });
        savedBox.hidden = false;
        useSaved();
        say("Signed in. Choose a saved payment method or use a new one.");
      }, function () { say("We could not load your saved payment methods.", null, true); });
    };
    var signIn = function (value) {
      signedIn = value;
      who.textContent = value.phone;
      var contact = document.getElementById("phone");
      if (contact && !contact.value.trim()) contact.value = value.phone;
      step("in");
      showSaveBox();
      return listMethods();
    };
    signOut = function (text) {
      forget();
      savedMethods = [];
      savedBox.hidden = true;
      document.getElementById("saved-list").textContent = "";
      useSaved();
      showSaveBox();
      step("phone");
      say(text || "");
    };

    phoneForm.addEventListener("submit", function (e) {
      e.preventDefault();
      phone = phoneInput.value.trim();
      if (!phone) return say("Enter your phone number.", phoneInput);
      say("Sending a code to your WhatsApp…");
      call("POST", "/identity/otp", { phone: phone }).then(function (answer) {
        if (answer.status !== 202) return say(reason(answer, "We could not send a code."), phoneInput);
        step("code");
        codeInput.value = "";
        say("We sent a 6-digit code to your WhatsApp. Enter it below.");
        codeInput.focus();
      }, function () { say("We could not reach the server. Try again.", phoneInput); });
    });
    codeForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var code = codeInput.value.trim();
      if (!/^\d{6}$/.test(code)) return say("Enter the 6-digit code from WhatsApp.", codeInput);
      call("POST", "/identity/verify", { phone: phone, code: code }).then(function (answer) {
        if (answer.status !== 200) return say(reason(answer, "We could not verify the code."), codeInput);
        var value = { token: answer.json.token, phone: answer.json.identity.phone, expiresAt: answer.json.expiresAt };
        store(value);
        return signIn(value);
      }, function () { say("We could not reach the server. Try again.", codeInput); });
    });
    document.getElementById("identity-change").addEventListener("click", function () { step("phone"); say(""); phoneInput.focus(); });
    document.getElementById("identity-forget").addEventListener("click", function () { signOut("Signed out."); phoneInput.focus(); });

    var kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { kept = null; }
    if (kept && kept.token && Date.parse(kept.expiresAt) > Date.now()) signIn(kept);
    else { store(null); step("phone"); }
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    clearErrors();
    button.disabled = true;
    busy.textContent = "Processing your payment…";
    call("POST", "/api/checkout/" + encodeURIComponent(data.token) + "/pay", payload()).then(function (answer) {
      if (answer.status === 200) done(answer.json);
      else if (answer.status === 401 && signedIn) {
        signOut("Your sign-in has expired. Enter your phone again.");
        showErrors("Please sign in again", [{ message: "Your phone sign-in has expired. Enter your phone again above." }]);
      }
      else failed(answer.status, answer.json);
    }, function () {
      showErrors("Connection problem", [{ message: "We could not reach the payment server. Check your connection and try again." }]);
    }).then(function () {
      button.disabled = false;
      busy.textContent = "";
    });
  });
})();
