// Appearance builder (07 §4): each changed field is PATCHed into the draft as JSON, then the preview reloads.
// Without this script the form's "Save draft" button does the same with a full page load.
(function () {
  "use strict";
  var form = document.getElementById("appearance-form");
  var frame = document.getElementById("appearance-preview");
  var status = document.getElementById("appearance-status");
  if (!form || !frame) { return; }
  var surface = form.getAttribute("data-surface");

  function valueOf(input) {
    var kind = input.closest("[data-kind]").getAttribute("data-kind");
    if (kind === "checkbox") { return input.checked; }
    if (kind === "lines") {
      return input.value.split(/\r?\n/).map(function (s) { return s.trim(); }).filter(Boolean);
    }
    var v = kind === "multiline" ? input.value : input.value.trim();
    return v.trim() ? v : null;
  }

  function partialFor(input) {
    var name = input.name, out = {}, dot = name.indexOf(".");
    if (dot > 0) {
      out[name.slice(0, dot)] = {};
      out[name.slice(0, dot)][name.slice(dot + 1)] = valueOf(input);
    } else {
      out[name] = valueOf(input);
    }
    return out;
  }

  function clearErrors() {
    var old = form.querySelectorAll(".field-error.live");
    for (var i = 0; i < old.length; i++) { old[i].remove(); }
  }

  function showErrors(details) {
    (details || []).forEach(function (d) {
      var field = form.querySelector('[name="' + d.path.split(".")[0] + '"]') ||
        form.querySelector('[name="' + d.path + '"]');
      var note = document.createElement("span");
      note.className = "field-error live";
      note.textContent = d.path + ": " + d.issue;
      (field ? field.closest("[data-kind]") : form).appendChild(note);
    });
  }

  form.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.name || input.name === "csrf_token") { return; }
    clearErrors();
    status.textContent = "Saving…";
    fetch("/dashboard/appearance/" + surface, {
      method: "PATCH",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": form.getAttribute("data-csrf"),
        "X-Requested-With": "fetch"
      },
      body: JSON.stringify(partialFor(input))
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (answer.ok) {
        status.textContent = "Draft saved.";
        frame.src = frame.src.split("?")[0] + "?t=" + Date.now();
      } else {
        status.textContent = (answer.body.error && answer.body.error.message) || "Not saved.";
        showErrors(answer.body.error && answer.body.error.details);
      }
    }).catch(function () { status.textContent = "Not saved: the network failed."; });
  });
})();
