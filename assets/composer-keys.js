// Keyboard for the composer's suggestions (components/composer.py): Down from the message box (caret on its
// last line) moves into the list, Up/Down move within it, Up from the first item or Escape goes back to the
// box; Escape also hides the list. Enter on an item picks it (it is a button). No user data here.
(() => {
  if (window.__icComposerKeys) return;
  window.__icComposerKeys = true;
  const items = () => Array.from(document.querySelectorAll('#prompt-suggestions .prompt-suggestion'));
  const box = () => document.getElementById('prompt-input');
  const hide = () => { const b = document.getElementById('hide-suggestions'); if (b) b.click(); };
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (!t || e.altKey || e.ctrlKey || e.metaKey) return;
    if (t.id === 'prompt-input') {
      const list = items();
      if (!list.length) return;
      if (e.key === 'ArrowDown' && !e.shiftKey && !t.value.slice(t.selectionEnd || 0).includes('\n')) {
        e.preventDefault();
        list[0].focus();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        hide();
      }
    } else if (t.classList && t.classList.contains('prompt-suggestion')) {
      const list = items();
      const i = list.indexOf(t);
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        list[Math.min(i + 1, list.length - 1)].focus();
      } else if (e.key === 'ArrowUp') {
        e.preventDefault();
        if (i <= 0) { const b = box(); if (b) b.focus(); } else list[i - 1].focus();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        const b = box();
        if (b) b.focus();
        hide();
      }
    }
  });
})();
