// The receipt page's one action: print it. An ES module, since the page's CSP allows no inline script.

const button = document.getElementById("print-receipt");
button?.addEventListener("click", () => window.print());
