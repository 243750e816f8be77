// reglink console: the pages work without this script; it adds copy buttons and follows
// a command live by polling its progress document until the command's effect is settled.
"use strict";

document.querySelectorAll("button.copy[data-copy]").forEach((button) => {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(button.dataset.copy);
    const label = button.firstChild.textContent;
    button.firstChild.textContent = "Copied";
    setTimeout(() => { button.firstChild.textContent = label; }, 1500);
  });
});

const follow = document.getElementById("follow");
if (follow && follow.dataset.done !== "true") {
  let delay = 500;
  const poll = async () => {
    let doc = null;
    try {
      const answer = await fetch(follow.dataset.progress, { headers: { Accept: "application/json" } });
      if (answer.ok) doc = await answer.json();
    } catch (error) {
      doc = null; // the server is restarting or the network blinked: try again
    }
    if (doc) {
      for (const step of doc.progress.steps) {
        const item = follow.querySelector(`[data-step="${step.step}"]`);
        if (item) {
          item.className = `step step-${step.state}`;
          item.querySelector(".visually-hidden").textContent = ` (${step.state})`;
        }
      }
      if (doc.progress.done) {
        window.location.reload(); // the server renders the outcome, and the fix form if any
        return;
      }
    }
    delay = Math.min(delay * 1.5, 3000);
    setTimeout(poll, delay);
  };
  setTimeout(poll, delay);
}
