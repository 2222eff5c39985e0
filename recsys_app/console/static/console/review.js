// The draft review page (templates/admin/curation/draft/review.html): keyboard shortcuts and
// the highlight of fields edited since the last save. A static file, so the console's
// Content-Security-Policy needs no inline script.
"use strict";
(function () {
  // Keyboard shortcuts, ignored while typing in a field (the reason field sends Enter to Reject).
  const click = (id) => { const el = document.getElementById(id); if (el) el.click(); };
  const form = document.getElementById("review-form");
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
    if (event.target.id === "reason" && event.key === "Enter") { event.preventDefault(); click("reject"); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const actions = { c: () => click("claim"), s: () => click("save"), a: () => click("approve"),
                      r: () => { const r = document.getElementById("reason"); if (r) r.focus(); },
                      n: () => click("next") };
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  });
  // Inline diff: fields that differ from what was saved are highlighted until saved.
  if (form) {
    const fields = form.querySelectorAll("input[type=text], textarea, input[type=checkbox]");
    const value = (el) => el.type === "checkbox" ? String(el.checked) : el.value;
    fields.forEach((el) => { el.dataset.saved = value(el); });
    form.addEventListener("input", () => {
      let changed = 0;
      fields.forEach((el) => { const c = el.id !== "reason" && value(el) !== el.dataset.saved; el.classList.toggle("unsaved", c); changed += c; });
      document.getElementById("unsaved-note").hidden = changed === 0;
    });
  }
})();
