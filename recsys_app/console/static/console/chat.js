// The agent's try-out page (templates/admin/agents/chatsession/try.html): sends a message and
// reads the streamed reply. The form carries the message URL and the CSRF token as data
// attributes, so the page needs no inline script under the console's Content-Security-Policy.
"use strict";
(function () {
  const chat = document.getElementById("chat"), log = document.getElementById("log");
  if (!chat || !log) return;
  const url = chat.dataset.url;
  const csrf = document.cookie.split("; ").find(c => c.startsWith("csrftoken="))?.split("=")[1] || chat.dataset.csrf;
  function add(cls, text) { const d = document.createElement("div"); d.className = "msg " + cls; d.textContent = text; log.appendChild(d); log.scrollTop = log.scrollHeight; return d; }
  chat.addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = document.getElementById("message"), message = box.value; box.value = "";
    add("you", message || "(empty)");
    const reply = add("agent", "");
    const response = await fetch(url, {method: "POST", headers: {"X-CSRFToken": csrf, "Content-Type": "application/json"}, body: JSON.stringify({message})});
    const reader = response.body.getReader(), decoder = new TextDecoder(); let buffer = "";
    while (true) {
      const {value, done} = await reader.read(); if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut; while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const name = chunk.match(/^event: (.*)$/m)[1], data = JSON.parse(chunk.match(/^data: (.*)$/m)[1]);
        if (name === "token") { reply.textContent += data; }
        if (name === "error") { reply.textContent = "Error: " + data.message; }
        if (name === "done") {
          reply.textContent = data.reply; reply.insertAdjacentHTML("afterbegin", '<span class="generated-label">generated</span> ');
          const cards = document.createElement("div"); cards.className = "cards";
          for (const c of data.cards) { const d = document.createElement("div"); d.className = "card";
            d.textContent = `${c.title} · ${c.category}${c.year ? " · " + c.year : ""}${c.price ? " · " + c.price + " " + c.currency : ""} (${c.item_id})`; cards.appendChild(d); }
          reply.after(cards);
          add("meta", `intent: ${data.intent} · constraints: ${JSON.stringify(data.constraints)} · trace #${data.trace_id}`).style.color = "#888";
        }
      }
    }
  });
})();
