/* Duro inline checkout (06 §4). Dependency-free, sets no cookies. Card data stays inside the Duro frame.
   DuroCheckout.open({key, token, onSuccess, onClose, onError}) -> {close()} */
(function (w, d) {
  "use strict";
  if (w.DuroCheckout) return;
  var script = d.currentScript;
  // The Duro origin is the origin this script was loaded from.
  var origin = script && script.src ? new URL(script.src, w.location.href).origin : null;
  var current = null;

  function call(fn, arg) {
    if (typeof fn !== "function") return;
    try { fn(arg); } catch (err) { setTimeout(function () { throw err; }); }
  }
  function modeOf(value, kind) {
    var m = typeof value === "string" && new RegExp("^" + kind + "_(test|live)_[A-Za-z0-9]+$").exec(value);
    return m ? m[1] : null;
  }
  function css(el, text) { el.style.cssText = text; return el; }

  function open(options) {
    var o = options || {};
    var noop = { close: function () {} };
    var keyMode = modeOf(o.key, "pk");
    var tokenMode = modeOf(o.token, "cs");
    var problem =
      !keyMode ? ["invalid_key", "key must be a publishable key (pk_test_... or pk_live_...)"] :
      !tokenMode ? ["invalid_token", "token must be a checkout token (cs_test_... or cs_live_...)"] :
      keyMode !== tokenMode ? ["mode_mismatch", "key and token belong to different modes"] :
      current ? ["already_open", "a checkout is already open"] :
      !origin ? ["invalid_origin", "load inline.js from your Duro server with a <script src>"] : null;
    if (problem) {
      call(o.onError, { code: problem[0], message: problem[1] });
      return noop;
    }

    var succeeded = false;
    var closed = false;
    var lastFocus = d.activeElement;
    var root = d.documentElement;
    var overflow = root.style.overflow;

    var overlay = css(d.createElement("div"),
      "position:fixed;inset:0;z-index:2147483647;background:rgba(15,18,22,.6);display:flex;" +
      "align-items:center;justify-content:center;padding:16px;box-sizing:border-box");
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", "Checkout");

    var frame = css(d.createElement("iframe"),
      "width:100%;max-width:480px;height:640px;max-height:100%;border:0;border-radius:12px;background:#fff;" +
      "box-shadow:0 10px 40px rgba(0,0,0,.35)");
    frame.title = "Secure checkout";
    frame.src = origin + "/checkout/" + encodeURIComponent(o.token) + "?embed=1&key=" + encodeURIComponent(o.key) +
      "&parent=" + encodeURIComponent(w.location.origin);

    var button = css(d.createElement("button"),
      "position:absolute;top:8px;right:12px;font:28px/1 sans-serif;color:#fff;background:none;border:0;cursor:pointer");
    button.type = "button";
    button.setAttribute("aria-label", "Close checkout");
    button.textContent = "\u00d7";

    function close() {
      if (closed) return;
      closed = true;
      // Tell the frame (only at the Duro origin), then take the overlay down.
      if (frame.contentWindow) {
        frame.contentWindow.postMessage({ source: "duro-checkout", version: 1, type: "close", payload: {} }, origin);
      }
      w.removeEventListener("message", onMessage);
      d.removeEventListener("keydown", onKey, true);
      if (overlay.parentNode) overlay.parentNode.removeChild(overlay);
      root.style.overflow = overflow;
      current = null;
      if (lastFocus && lastFocus.focus) lastFocus.focus();
      call(o.onClose);
    }
    function onKey(e) {
      if (e.key === "Escape") close();
    }
    function onMessage(e) {
      // Strict: the Duro origin, this iframe's window, our envelope.
      if (e.origin !== origin || e.source !== frame.contentWindow) return;
      var m = e.data;
      if (!m || typeof m !== "object" || m.source !== "duro-checkout" || m.version !== 1) return;
      var p = m.payload && typeof m.payload === "object" ? m.payload : {};
      if (m.type === "resize" && typeof p.height === "number" && p.height > 0) {
        frame.style.height = Math.min(Math.ceil(p.height), w.innerHeight - 32) + "px";
      } else if (m.type === "success" && !succeeded) {
        succeeded = true;
        call(o.onSuccess, { sessionId: p.sessionId, status: p.status, subscriptionId: p.subscriptionId || null,
          invoiceId: p.invoiceId || null });
      } else if (m.type === "error") {
        call(o.onError, { code: String(p.code || "error"), message: String(p.message || "") });
      } else if (m.type === "close") {
        close();
      }
    }

    button.addEventListener("click", close);
    w.addEventListener("message", onMessage);
    d.addEventListener("keydown", onKey, true);
    overlay.appendChild(frame);
    overlay.appendChild(button);
    d.body.appendChild(overlay);
    root.style.overflow = "hidden";
    frame.focus();
    current = { close: close };
    return current;
  }

  w.DuroCheckout = { open: open, version: 1 };
})(window, document);
