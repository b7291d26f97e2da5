// Dashboard enhancements, no build step (07 §1): confirmation of destructive forms, copy buttons, local times.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var target = button.parentElement.querySelector(".copy-target");
    if (target && navigator.clipboard) {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () { button.textContent = "Copied"; });
    }
  });
  function localise() {
    var stamps = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < stamps.length; i++) {
      var at = new Date(stamps[i].getAttribute("datetime"));
      if (!isNaN(at.getTime())) { stamps[i].textContent = at.toLocaleString(); }
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", localise); } else { localise(); }
})();
