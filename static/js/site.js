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

// The federated credential form's editor (templates/federation/credential_form.html): a
// preset and a few fields build the subject, or, with a wildcard, a claims-matching
// expression (SPEC §11). Without this script the form is typed by hand; the server checks
// both the same way.
const CREDENTIAL_PRESETS = {
  "github-branch": {
    issuer: () => "https://token.actions.githubusercontent.com",
    fields: [["owner", "Owner (user or organization)"], ["repository", "Repository"],
             ["branch", "Branch (* within a segment, ** across /)"]],
    subject: (v) => `repo:${v.owner}/${v.repository}:ref:refs/heads/${v.branch}`,
  },
  "github-tag": {
    issuer: () => "https://token.actions.githubusercontent.com",
    fields: [["owner", "Owner (user or organization)"], ["repository", "Repository"],
             ["tag", "Tag (e.g. v*)"]],
    subject: (v) => `repo:${v.owner}/${v.repository}:ref:refs/tags/${v.tag}`,
  },
  "github-environment": {
    issuer: () => "https://token.actions.githubusercontent.com",
    fields: [["owner", "Owner (user or organization)"], ["repository", "Repository"],
             ["environment", "Environment"]],
    subject: (v) => `repo:${v.owner}/${v.repository}:environment:${v.environment}`,
  },
  "github-pull-request": {
    issuer: () => "https://token.actions.githubusercontent.com",
    fields: [["owner", "Owner (user or organization)"], ["repository", "Repository"]],
    subject: (v) => `repo:${v.owner}/${v.repository}:pull_request`,
  },
  "entra-managed-identity": {
    issuer: (v) => `https://login.microsoftonline.com/${v.tenant}/v2.0`,
    audience: "api://AzureADTokenExchange",
    fields: [["tenant", "Directory (tenant) ID"], ["object", "Object (principal) ID"]],
    subject: (v) => v.object,
  },
  "google-service-account": {
    issuer: () => "https://accounts.google.com",
    fields: [["account", "Service account's unique ID (21 digits)"]],
    subject: (v) => v.account,
  },
  "kubernetes-service-account": {
    fields: [["namespace", "Kubernetes namespace"], ["account", "Service account (* for any)"]],
    subject: (v) => `system:serviceaccount:${v.namespace}:${v.account}`,
  },
};

function credentialEditorShow(editor) {
  const preset = CREDENTIAL_PRESETS[editor.querySelector("#preset-kind").value];
  const box = editor.querySelector("#preset-fields");
  box.replaceChildren();
  for (const [name, label] of preset ? preset.fields : []) {
    const field = document.createElement("div");
    field.className = "field";
    const caption = document.createElement("label");
    caption.htmlFor = `preset-${name}`;
    caption.textContent = label;
    const input = document.createElement("input");
    input.id = `preset-${name}`;
    input.dataset.preset = name;
    input.autocomplete = "off";
    input.spellcheck = false;
    field.append(caption, input);
    box.append(field);
  }
}

function credentialEditorApply(editor) {
  const preset = CREDENTIAL_PRESETS[editor.querySelector("#preset-kind").value];
  const status = editor.querySelector("#preset-result");
  if (!preset) return;
  const values = {};
  for (const input of editor.querySelectorAll("[data-preset]")) {
    values[input.dataset.preset] = input.value.trim();
    if (!values[input.dataset.preset]) {
      status.textContent = `Fill in ${input.labels[0].textContent} first.`;
      input.focus();
      return;
    }
  }
  const form = editor.closest("form");
  const subject = preset.subject(values);
  const subjectField = form.querySelector("#id_subject");
  const expressionField = form.querySelector("#id_claimsMatchingExpression");
  if (/[*?]/.test(subject)) {
    // A literal of the expression: a quote or backslash is escaped with a backslash.
    const literal = subject.replace(/\\/g, "\\\\").replace(/'/g, "\\'");
    expressionField.value = `claims['sub'] matches '${literal}'`;
    subjectField.value = "";
    status.textContent = "The expression is filled in (the value has a wildcard).";
  } else {
    subjectField.value = subject;
    expressionField.value = "";
    status.textContent = "The subject is filled in.";
  }
  if (preset.issuer) form.querySelector("#id_issuer").value = preset.issuer(values);
  const audience = form.querySelector("#id_audience");
  if (preset.audience && !audience.value) audience.value = preset.audience;
}

document.addEventListener("DOMContentLoaded", () => {
  const editor = document.getElementById("credential-editor");
  if (!editor) return;
  editor.hidden = false;
  editor.querySelector("#preset-kind").addEventListener("change", () => credentialEditorShow(editor));
  editor.querySelector("#preset-apply").addEventListener("click", () => credentialEditorApply(editor));
  credentialEditorShow(editor);
});

// Identity provider kinds (federation.forms.IDP_PRESETS): choosing one fills in what that
// kind always has (Google's issuer, Entra ID's subject claim `oid`) and shows the shape of
// its issuer; values the admin typed are kept. Without JavaScript the help texts say it.
function identityProviderPreset(kind, presets, changed) {
  const form = kind.closest("form");
  const issuer = form.querySelector("#id_issuer");
  const subject = form.querySelector("#id_subjectClaim");
  const preset = presets[kind.value] || {};
  issuer.placeholder = preset.issuer || preset.issuer_hint || "";
  if (!changed) return;
  const presetIssuers = Object.values(presets).map((p) => p.issuer).filter(Boolean);
  if (preset.issuer && (!issuer.value || presetIssuers.includes(issuer.value))) {
    issuer.value = preset.issuer;
  } else if (!preset.issuer && presetIssuers.includes(issuer.value)) {
    issuer.value = "";
  }
  if (["", "sub", "oid"].includes(subject.value)) subject.value = preset.subject_claim || "sub";
}

document.addEventListener("DOMContentLoaded", () => {
  const kind = document.querySelector("select[data-idp-presets]");
  if (!kind) return;
  const presets = JSON.parse(kind.dataset.idpPresets);
  kind.addEventListener("change", () => identityProviderPreset(kind, presets, true));
  identityProviderPreset(kind, presets, false);
});
