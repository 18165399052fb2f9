// uchi console: streaming for Ask and keyboard shortcuts for the review queue. No framework.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]').content;

const askForm = document.getElementById("ask-form");
if (askForm) {
  askForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("ask-answer"), status = document.getElementById("ask-status");
    out.hidden = false; out.textContent = ""; status.textContent = status.dataset.thinking;
    const response = await fetch("/ask/stream", {method: "POST", body: new FormData(askForm),
                                                 headers: {"X-CSRF-Token": csrf}});
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, {stream: true});
      let end;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const piece = JSON.parse(buffered.slice(0, end));
        buffered = buffered.slice(end + 1);
        if (piece.text !== undefined) out.textContent = piece.text;
        if (piece.error) { status.textContent = ""; out.className = "error"; out.textContent = piece.error; }
        if (piece.done) window.location = "/answers/" + piece.done;
      }
    }
  });
}

const rows = Array.from(document.querySelectorAll("tr.pair"));
if (rows.length) {
  let current = 0;
  const show = (i) => {
    rows[current].classList.remove("current");
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows[current].classList.add("current");
    rows[current].scrollIntoView({block: "nearest"});
  };
  show(0);
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const row = rows[current];
    const keys = {
      j: () => show(current + 1), k: () => show(current - 1),
      x: () => { const box = row.querySelector('input[type="checkbox"]'); box.checked = !box.checked; },
      a: () => row.querySelector("button.approve").click(),
      r: () => row.querySelector("button.reject").click(),
      e: () => { const edit = row.querySelector("details.edit"); edit.open = true; edit.querySelector("textarea").focus(); },
    };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
}
