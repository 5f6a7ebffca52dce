// "?" opens the list of keyboard shortcuts (a native <dialog>: Esc closes it, focus returns).
(() => {
  const dialog = document.getElementById("shortcuts");
  const opener = document.querySelector(".shortcuts-open");
  if (!dialog || !dialog.showModal) return;
  const open = () => { if (!dialog.open) dialog.showModal(); };
  if (opener) {
    opener.hidden = false;
    opener.addEventListener("click", open);
  }
  document.addEventListener("keydown", (event) => {
    if (event.key !== "?" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    event.preventDefault();
    open();
  });
})();
