// The console's only script: follows a run's progress on its page (polls a small JSON endpoint
// once a second) and reloads the page when the run ends, so the server renders the outcome.
// Every page works without it except this live update.
'use strict';
(function () {
  const run = document.getElementById('run');
  if (!run || run.dataset.done === 'true') return;
  const text = document.getElementById('progress-text');
  const bar = document.getElementById('progress-bar');
  const url = run.dataset.progress;
  let updates = 0;
  async function poll() {
    try {
      const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
      if (response.ok) {
        const p = await response.json();
        text.textContent = p.text;
        if (p.steps_total > 0) { bar.max = p.steps_total; bar.value = p.steps_done; }
        run.dataset.stage = p.stage;
        run.dataset.updates = String(++updates);
        if (p.done) { window.location.reload(); return; }
      } else if (response.status === 401) {
        text.textContent = 'Your session ended: log in again to follow this run.';
        return;
      }
    } catch (e) {
      text.textContent = 'Cannot reach orgsync; retrying…';
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 300);
})();
