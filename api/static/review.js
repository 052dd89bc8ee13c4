// The review screen: one flagged item at a time, decided with the keyboard. Decisions are
// sent in the background (one request at a time, the rest batched behind it), so the next
// item shows at once; each batch goes into the correction journal and the reports are
// regraded before the server answers with the new queue. A decision that is not saved is
// kept and sent again: none is dropped.
"use strict";

const CROP_ZOOM = 3;

const Review = (() => {
  const state = { base: "", examId: null, items: [], skipped: new Set(), pending: [], refused: [], oneByOne: false, sending: false, current: null, crops: new Map() };
  const keyOf = (item) => `${item.copy}:${item.question}`;

  function decided() { return new Set(state.pending.map((d) => `${d.copy}:${d.question}`)); }
  function open_items() {
    const done = decided();
    const left = state.items.filter((item) => !done.has(keyOf(item)));
    return left.filter((i) => !state.skipped.has(keyOf(i))).concat(left.filter((i) => state.skipped.has(keyOf(i))));
  }

  async function open(base, examId) {
    state.base = base;
    state.examId = examId;
    state.skipped.clear();
    $("review-back").href = examId ? `#/exam/${examId}` : "#review";
    $("review-back").hidden = !examId;
    say($("review-save"), "");
    try {
      state.items = (await json(base)).items;
    } catch (error) {
      say($("review-save"), explain(error), true);
      return;
    }
    render();
  }

  function who(item) {
    const name = item.name ? `${item.name} · ` : "";
    const id = item.student_id ? `ID ${item.student_id} · ` : "";
    return `${name}${id}copy ${item.copy}`;
  }

  async function cropInto(item, holder) {
    if (!item.crop_url) { holder.replaceChildren(el("p", { className: "note" }, "No image of these boxes (their page is missing).")); return; }
    let url = state.crops.get(item.crop_url);
    if (!url) {
      try { url = await blobUrl(item.crop_url); state.crops.set(item.crop_url, url); } catch (_) { holder.textContent = "The image could not be loaded."; return; }
    }
    const image = el("img", { src: url, className: "crop", alt: `the boxes of ${item.question === "student_id" ? "the student ID" : item.question} as scanned` });
    // shown up to CROP_ZOOM times its size: larger only blurs the scan
    image.addEventListener("load", () => { image.style.width = `${image.naturalWidth * CROP_ZOOM}px`; });
    holder.replaceChildren(image);
  }

  function sure(probability) {
    return probability === null || probability === undefined ? "" : ` · ${Math.floor(probability * 1000) / 10}% sure`;
  }

  function render() {
    const items = open_items();
    const card = $("review-card");
    const students = new Set(items.map((i) => i.copy)).size;
    $("review-count").textContent = items.length ? `· ${items.length} item(s) of ${students} student(s) left` : "";
    $("review-done").hidden = items.length > 0;
    card.hidden = items.length === 0;
    document.querySelector("#view-review .keys").hidden = items.length === 0;
    if (!items.length) { state.current = null; showDone(); return; }
    const item = items[0];
    state.current = item;
    const image = el("div", { className: "crop-holder" }, "Loading the image…");
    const input = el("input", { id: "review-value", autocomplete: "off", inputMode: "numeric", className: "value" });
    const parts = [el("p", { className: "who" }, who(item))];
    if (item.kind === "answer") {
      const read = item.read === null ? "not read" : (item.read || "blank");
      parts.push(el("h3", {}, `Question ${item.question.replace(/^q/, "")}`), image,
        el("p", {}, el("strong", {}, `Read: ${read}`), item.outcome ? ` (${{ correct: "right", incorrect: "wrong", blank: "blank" }[item.outcome] || item.outcome})` : "", sure(item.probability),
          item.key ? ` · key: ${item.key}` : " · no key"),
        el("p", { className: "note reason" }, item.reason));
      input.maxLength = item.boxes || 10;
      input.value = item.read || "";
      input.placeholder = "blank";
      parts.push(el("label", { htmlFor: "review-value" }, "The answer written"), input);
    } else if (item.kind === "id") {
      parts.push(el("h3", {}, "Student ID"), image,
        el("p", {}, el("strong", {}, `Read: ${item.read}`), sure(item.probability)),
        el("p", { className: "note reason" }, item.reason));
      const choices = el("div", { className: "candidates", role: "group", "aria-label": "Roster students it may be" });
      for (const [n, c] of (item.candidates || []).entries()) {
        const pick = el("button", { type: "button", className: "candidate" }, `${n + 1}: ${c.student_id} ${c.name} · ${Math.floor(c.probability * 1000) / 10}% among the roster`);
        pick.addEventListener("click", () => decide(c.student_id));
        choices.append(pick);
      }
      const best = item.candidates && item.candidates[0] ? item.candidates[0].student_id : "";
      input.value = (item.on_roster && item.value) || best || item.value || item.read.replace(/\?/g, "");
      parts.push(choices, el("label", { htmlFor: "review-value" }, "The student's ID"), input);
    } else {
      parts.push(el("h3", {}, "The sheets"), el("p", { className: "reason" }, item.reason),
        el("p", { className: "note" }, "Check the paper sheets, then confirm."));
    }
    const buttons = el("div", { className: "actions" });
    const accept = el("button", { type: "submit", id: "review-accept" }, item.kind === "sheet" ? "Checked (Enter)" : "Save (Enter)");
    buttons.append(accept);
    if (item.kind === "answer") {
      const blank = el("button", { type: "button", id: "review-blank" }, "Blank (b)");
      blank.addEventListener("click", () => decide("blank"));
      buttons.append(blank);
    }
    const skip = el("button", { type: "button", id: "review-skip" }, "Skip (s)");
    skip.addEventListener("click", () => { state.skipped.add(keyOf(item)); render(); });
    const rest = el("button", { type: "button", id: "review-rest" }, "Accept the rest of this student (r)");
    rest.addEventListener("click", acceptRest);
    buttons.append(skip, rest);
    const form = el("form", { className: "decide" }, ...parts, buttons);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (item.kind === "sheet") { decide("yes"); return; }
      const typed = input.value.trim();
      if (item.kind === "answer" && typed === (item.read || "")) decide(item.read === null ? "blank" : "ok");
      else decide(typed === "" ? "blank" : typed);
    });
    card.replaceChildren(form);
    cropInto(item, image);
    (item.kind === "sheet" ? accept : input).focus();
    if (input.select) input.select();
  }

  function decide(value) {
    const item = state.current;
    if (!item) return;
    if (!state.sending) state.refused = [];
    state.pending.push({ copy: item.copy, question: item.question, value });
    state.skipped.delete(keyOf(item));
    render();
    send();
  }

  function acceptRest() {
    const item = state.current;
    if (!item) return;
    for (const other of open_items().filter((i) => i.copy === item.copy)) {
      state.pending.push({ copy: other.copy, question: other.question, value: other.kind === "sheet" ? "yes" : "ok" });
    }
    render();
    send();
  }

  async function send() {
    if (state.sending || !state.pending.length) return;
    state.sending = true;
    // After a refused batch, one at a time: only the decision that does not fit is dropped.
    const batch = state.pending.slice(0, state.oneByOne ? 1 : state.pending.length);
    say($("review-save"), `Saving ${batch.length} decision(s)…`);
    try {
      const queue = await json(state.base, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ decisions: batch }) });
      state.pending.splice(0, batch.length);
      state.items = queue.items;
      if (state.pending.length) say($("review-save"), `Saving ${state.pending.length} more…`);
      else if (state.refused.length) say($("review-save"), "Not saved: " + state.refused.join("; ") + ". The other decisions are saved; the item is back in the list.", true);
      else say($("review-save"), "All decisions saved; the reports are up to date.");
    } catch (error) {
      if (error.status === 422 && batch.length > 1) {  // nothing of it was kept: find which
        state.oneByOne = true;
      } else if (error.status === 422) {  // this one does not fit: drop it, say why
        state.pending.splice(0, 1);
        state.refused.push(error.message);
        say($("review-save"), "Not saved: " + state.refused.join("; ") + ". The item is back in the list.", true);
      } else {
        say($("review-save"), "Not saved yet (" + explain(error) + "); trying again…", true);
        setTimeout(() => { state.sending = false; send(); }, 3000);
        return;
      }
    }
    state.sending = false;
    if (!state.pending.length) state.oneByOne = false;
    render();
    send();
  }

  function showDone() {
    const box = $("review-downloads");
    if (!state.examId) {
      box.replaceChildren(el("p", { className: "note" }, "The reports in the folder are regraded with your decisions (corrections.csv keeps every one)."));
      return;
    }
    box.replaceChildren(el("p", {}, el("a", { href: `#/exam/${state.examId}` }, "Back to the exam to download the grades")));
  }

  document.addEventListener("keydown", (event) => {
    if ($("view-review").hidden || !state.current || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    const actions = { b: () => state.current.kind === "answer" && decide("blank"), s: () => { state.skipped.add(keyOf(state.current)); render(); }, r: acceptRest };
    if (actions[key]) { event.preventDefault(); actions[key](); }
  });

  return { open, send, state };
})();
