/* The demo shop's page logic: a cart in localStorage, sign-in by e-mail, all through omni.*. */
(function () {
  "use strict";
  var CART = "shop.cart";
  var EMAIL = "shop.email";

  function cart() { return JSON.parse(localStorage.getItem(CART) || "[]"); }

  function show() {
    var lines = cart();
    var list = document.getElementById("cart-lines");
    list.innerHTML = "";
    lines.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = line.name + " × " + line.quantity;
      list.appendChild(item);
    });
    if (!lines.length) list.innerHTML = '<li class="muted">Empty</li>';
    document.getElementById("cart-count").textContent = lines.reduce(function (n, l) { return n + l.quantity; }, 0);
    var email = localStorage.getItem(EMAIL);
    document.getElementById("who").textContent = email ? "Signed in as " + email : "Not signed in";
    document.getElementById("sign-in").hidden = !!email;
    document.getElementById("sign-out").hidden = !email;
  }

  document.querySelectorAll("button.add").forEach(function (button) {
    button.addEventListener("click", function () {
      var d = button.dataset;
      var lines = cart();
      var line = lines.find(function (l) { return l.sku === d.sku; });
      if (line) line.quantity += 1; else lines.push({ sku: d.sku, name: d.name, quantity: 1 });
      localStorage.setItem(CART, JSON.stringify(lines));
      omni.track("Product Added", {
        sku: d.sku, name: d.name, category: d.category, price: Number(d.price), currency: "UAH", quantity: 1,
      });
      show();
    });
  });

  document.getElementById("sign-in").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var email = form.email.value.trim().toLowerCase();
    var traits = { email: email };
    if (form.name.value.trim()) traits.name = form.name.value.trim();
    localStorage.setItem(EMAIL, email);
    // The e-mail is the identifier: the anonymous visitor's cart joins the customer's profile.
    omni.identify(null, traits);
    omni.track("Signed In", { method: "email" });
    show();
  });

  document.getElementById("sign-out").addEventListener("click", function () {
    localStorage.removeItem(EMAIL);
    localStorage.removeItem(CART);
    omni.track("Signed Out", {});
    omni.reset();
    show();
  });

  omni.page("Shop", { path: location.pathname });
  show();
})();
