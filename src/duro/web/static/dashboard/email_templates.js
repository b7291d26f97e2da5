// Email template editor (07 §9): click a tag to insert it; the preview follows the text as it is typed.
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  if (!form) { return; }
  var key = form.getAttribute("data-key");
  var subject = form.querySelector('[name="subject"]');
  var body = form.querySelector('[name="body"]');
  var frame = document.getElementById("preview-html");
  var timer = null;
  var MAX_QUERY = 6000; // longer texts are previewed after saving

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-tag]");
    if (!button) { return; }
    var tag = "{{" + button.getAttribute("data-tag") + "}}";
    var start = body.selectionStart, end = body.selectionEnd;
    body.value = body.value.slice(0, start) + tag + body.value.slice(end);
    body.focus();
    body.selectionStart = body.selectionEnd = start + tag.length;
    schedule();
  });

  function refresh() {
    var query = "subject=" + encodeURIComponent(subject.value) + "&body=" + encodeURIComponent(body.value);
    if (query.length > MAX_QUERY) { return; }
    fetch("/dashboard/email-templates/" + key + "/preview?" + query, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (p) {
      if (!p) { return; }
      document.getElementById("preview-subject").textContent = p.subject;
      document.getElementById("preview-text").textContent = p.text;
      // Built from text nodes and <mark> elements: the server escaped it, but no HTML is parsed here anyway.
      var target = document.getElementById("preview-highlight");
      target.textContent = "";
      var parts = body.value.split(/(\{\{\s*[a-z_]+\s*\}\})/);
      parts.forEach(function (part) {
        var name = (part.match(/^\{\{\s*([a-z_]+)\s*\}\}$/) || [])[1];
        if (name && p.unknownTags.indexOf(name) >= 0) {
          var mark = document.createElement("mark");
          mark.className = "unknown-tag";
          mark.textContent = part;
          target.appendChild(mark);
        } else {
          target.appendChild(document.createTextNode(part));
        }
      });
      var warn = document.getElementById("unknown-tags");
      warn.hidden = p.unknownTags.length === 0;
      document.getElementById("unknown-list").textContent =
        p.unknownTags.map(function (t) { return "{{" + t + "}}"; }).join(", ");
      frame.src = "/dashboard/email-templates/" + key + "/preview.html?" + query;
    });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 400);
  }
  subject.addEventListener("input", schedule);
  body.addEventListener("input", schedule);
})();
