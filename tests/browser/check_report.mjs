// Opens HTML reports in Debian's Chromium and reports what a person would see, as JSON on stdout.
// Usage: node check_report.mjs SPEC.json, where SPEC is
//   { "pages": [ { "file": "/abs/report.html", "searches": ["王"], "kinds": ["create"],
//                  "text": ["<img src=x onerror=alert(1)>"] } ] }
// Called by tests/html_report_browser.rs, which knows the expected numbers and asserts them.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const profile = mkdtempSync(join(tmpdir(), 'orgsync-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  // The machine has no network: these keep Chromium from trying (and logging failures).
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const results = [];
try {
  for (const p of spec.pages) {
    const page = await context.newPage();
    const consoleErrors = [];
    const pageErrors = [];
    const dialogs = [];
    const requests = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });

    const started = Date.now();
    await page.goto('file://' + p.file, { waitUntil: 'load', timeout: 60000 });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60000 });
    const loadMs = Date.now() - started;

    const state = () => page.evaluate(() => ({
      count: Number(document.getElementById('match-count').dataset.count),
      rows: document.querySelectorAll('#steps tbody tr').length,
      updates: Number(document.body.dataset.updates || 0),
    }));
    const settle = async (before) => {
      await page.waitForFunction((n) => Number(document.body.dataset.updates || 0) > n, before.updates,
        { timeout: 30000 });
      return state();
    };
    const initial = await state();

    const searches = [];
    for (const query of p.searches || []) {
      const before = await state();
      const t = Date.now();
      await page.fill('#search', query);
      const after = await settle(before);
      searches.push({ query, count: after.count, rows: after.rows, ms: Date.now() - t });
      const reset = await state();
      await page.fill('#search', '');
      await settle(reset);
    }
    const kinds = [];
    for (const kind of p.kinds || []) {
      const offered = await page.evaluate(() => [...document.querySelectorAll('#kind option')].map((o) => o.value));
      if (!offered.includes(kind)) {
        throw new Error(`${p.file}: the kind filter offers no ${kind} (it offers ${offered.join(', ')})`);
      }
      const before = await state();
      await page.selectOption('#kind', kind);
      const after = await settle(before);
      kinds.push({ kind, count: after.count, rows: after.rows });
    }
    if (p.kinds && p.kinds.length) {
      const before = await state();
      await page.selectOption('#kind', '');
      await settle(before);
    }
    let nextPage = null;
    if (initial.count > 200) {
      await page.click('#steps-pager button:last-of-type');
      nextPage = await page.textContent('#steps-pager span');
    }
    // Open the collapsed sections so their (hostile) contents are rendered too.
    await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
    await page.waitForTimeout(50);
    const body = await page.evaluate(() => document.body.innerText);
    const found = Object.fromEntries((p.text || []).map((t) => [t, body.includes(t)]));
    const images = await page.evaluate(() => document.querySelectorAll('img').length);
    const injected = await page.evaluate(() => document.querySelectorAll('img[src="x"], [onerror]').length);

    results.push({ file: p.file, loadMs, initial, searches, kinds, nextPage, found, images,
      injected, consoleErrors, pageErrors, dialogs, requests });
    await page.close();
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ results }) + '\n');
