// The admin site's only script: a few small interactions, each of which the page also
// works without. No inline script anywhere, so the Content-Security-Policy forbids them.
"use strict";

// Ctrl+/ (or Cmd+/) focuses the search box in the header.
document.addEventListener("keydown", (event) => {
  if (event.key === "/" && (event.ctrlKey || event.metaKey)) {
    const box = document.getElementById("header-search");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  }
});

// Copy buttons: <button data-copy="#input-id">; the status beside says what happened.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  const status = button.parentElement.querySelector(".copy-status");
  try {
    await navigator.clipboard.writeText(field.value);
    if (status) status.textContent = "Copied.";
  } catch (error) {
    field.focus();
    field.select();
    if (status) status.textContent = "Select and copy it by hand (Ctrl+C).";
  }
});

// Destructive forms: <form data-confirm="question" data-confirm-label="Delete"> ask in the
// dialog of base.html, then post with confirmed=yes (the server asks on its own page when
// that field is missing, so nothing is deleted unconfirmed without this script either).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const dialog = document.getElementById("confirm-dialog");
  if (!form.dataset.confirm || !dialog || form.querySelector("input[name=confirmed]")) return;
  event.preventDefault();
  document.getElementById("confirm-dialog-question").textContent = form.dataset.confirm;
  document.getElementById("confirm-dialog-confirm").textContent =
    form.dataset.confirmLabel || "Delete";
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    () => {
      if (dialog.returnValue !== "confirm") return;
      const confirmed = document.createElement("input");
      confirmed.type = "hidden";
      confirmed.name = "confirmed";
      confirmed.value = "yes";
      form.appendChild(confirmed);
      form.requestSubmit();
    },
    { once: true },
  );
  dialog.showModal();
});

// Menus (<details data-menu>): Escape closes the open one, and so does a click elsewhere.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details[data-menu][open]")) {
    menu.open = false;
    menu.querySelector("summary").focus();
  }
});
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details[data-menu][open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
