// Progressive enhancement only: the flow works without it.
// A form with data-pending shows that text while it is being checked, and ignores
// a second submit (a double click) until the page is shown again.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.pending) {
    return;
  }
  if (form.dataset.submitted) {
    event.preventDefault();
    return;
  }
  form.dataset.submitted = "true";
  for (const button of form.querySelectorAll("button[type=submit]")) {
    button.setAttribute("aria-disabled", "true");
    button.classList.add("busy");
  }
  const status = form.querySelector(".pending");
  if (status) {
    status.textContent = form.dataset.pending;
  }
});

// Coming back with the Back button restores the page from the cache: make it usable again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-pending]")) {
    delete form.dataset.submitted;
    for (const button of form.querySelectorAll("button[type=submit]")) {
      button.removeAttribute("aria-disabled");
      button.classList.remove("busy");
    }
    const status = form.querySelector(".pending");
    if (status) {
      status.textContent = "";
    }
  }
});
