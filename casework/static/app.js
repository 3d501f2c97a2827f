/* Small progressive enhancements; every page works without them (CSP: no inline scripts). */
document.addEventListener("click", function (event) {
  var print = event.target.closest("[data-print]");
  if (print) { event.preventDefault(); window.print(); }
  var all = event.target.closest("[data-check-all]");
  if (all) {
    var boxes = document.querySelectorAll("input[name='" + all.getAttribute("data-check-all") + "']");
    boxes.forEach(function (box) { box.checked = all.checked; });
  }
});
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) { event.preventDefault(); }
});
