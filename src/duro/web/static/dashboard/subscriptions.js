// Change plan (07 §6): re-run the server-side preview as soon as the plan or the timing changes. Without
// JavaScript the "Preview" button does the same.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-preview]");
  if (!form) { return; }
  form.addEventListener("change", function (event) {
    if (event.target && event.target.tagName === "SELECT") { form.submit(); }
  });
})();
