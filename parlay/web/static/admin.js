// The admin pages' one behaviour: a "Copy" button copies the secret shown beside it.
// Delegated from the document, so content htmx swaps in works too; loaded once per page.
(function () {
  if (window.parlayCopy) { return; }
  window.parlayCopy = true;
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    field.focus();
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
