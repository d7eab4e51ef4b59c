// Uses the orgsync web console in Debian's Chromium as a person would, one phase at a time, and
// prints what it saw as JSON on stdout. Usage: node check_console.mjs SPEC.json, where SPEC is
//   { "phase": "access" | "approval" | "person", "base": "http://127.0.0.1:PORT",
//     "viewerToken": "...", "operatorToken": "...", "screenshots": "/abs/docs" | null }
// Called by tests/console_browser.rs, which changes the upstream between phases and asserts.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const base = spec.base;
const profile = mkdtempSync(join(tmpdir(), 'orgsync-console-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = { phase: spec.phase, consoleErrors: [], pageErrors: [], outsideRequests: [] };

const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(60000);
// Refused requests are the point of some checks; any other error (a CSP violation) counts.
page.on('console', (m) => {
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) out.consoleErrors.push(m.text());
});
page.on('pageerror', (e) => out.pageErrors.push(String(e)));
page.on('request', (r) => { if (!r.url().startsWith(base)) out.outsideRequests.push(r.url()); });

async function login(token) {
  await page.goto(base + '/login');
  await page.fill('#token', token);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.click('button[type=submit]'),
  ]);
  return response;
}

async function logout() {
  await Promise.all([page.waitForNavigation(), page.click('header button:has-text("Log out")')]);
}

// On a run page: every progress sentence shown until the outcome appears, and the outcome.
async function followRun() {
  const texts = [];
  const started = Date.now();
  while (Date.now() - started < 60000) {
    try {
      const now = await page.evaluate(() => {
        const outcome = document.querySelector('#run [data-outcome]');
        const text = document.getElementById('progress-text');
        return { outcome: outcome && outcome.dataset.outcome, text: text && text.textContent };
      });
      if (now.text && texts[texts.length - 1] !== now.text) texts.push(now.text);
      if (now.outcome) return { texts, outcome: now.outcome, url: page.url() };
    } catch (e) { /* the page is reloading */ }
    await page.waitForTimeout(100);
  }
  return { texts, outcome: null, url: page.url() };
}

// Whether the page is wider than the window at a phone's and a desktop's width.
async function overflow(path, screenshot) {
  const result = {};
  for (const [name, width] of [['phone', 375], ['desktop', 1280]]) {
    await page.setViewportSize({ width, height: 800 });
    await page.goto(base + path);
    result[name] = await page.evaluate(() =>
      document.documentElement.scrollWidth > document.documentElement.clientWidth);
  }
  if (screenshot && spec.screenshots) {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(base + path);
    await page.screenshot({ path: join(spec.screenshots, screenshot), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  return result;
}

const csrfOfPage = () => page.evaluate(() => document.querySelector('input[name=csrf]').value);
const postStatus = (path, body) => page.evaluate(async ([path, body]) => {
  const r = await fetch(path, { method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return r.status;
}, [path, body]);
const showsConnector = () => page.evaluate(() => !!document.querySelector('[data-connector="hq"]'));
const syncButtons = () => page.locator('button:has-text("Sync now")').count();

async function syncNowByClick() {
  await Promise.all([page.waitForURL(/\/runs\//), page.click('button:has-text("Sync now")')]);
  return followRun();
}

try {
  if (spec.phase === 'access') {
    // No session: every page sends to the login page; data endpoints answer 401.
    await page.goto(base + '/');
    out.anonymous = {
      redirectedToLogin: page.url() === base + '/login',
      showsConnector: await showsConnector(),
      progressStatus: await page.evaluate(async () => (await fetch('/runs/x/progress')).status),
    };
    for (const path of ['/runs', '/health', '/compare?a=x&b=y']) {
      await page.goto(base + path);
      if (page.url() !== base + '/login') out.anonymous.redirectedToLogin = false;
    }
    // A wrong token: refused, still no data.
    const wrong = await login('not-the-token');
    await page.goto(base + '/');
    out.wrongToken = { status: wrong.status(), loggedIn: page.url() !== base + '/login' };

    // The viewer sees the connector, has no sync button, and a forged POST is refused.
    await login(spec.viewerToken);
    out.viewer = {
      showsConnector: await showsConnector(),
      syncButtons: await syncButtons(),
      schedule: await page.locator('[data-connector="hq"] dd').nth(0).textContent(),
      nextRun: await page.locator('[data-connector="hq"] dd').nth(1).textContent(),
      forgedSyncStatus: await postStatus('/connectors/hq/sync',
        'csrf=' + encodeURIComponent(await csrfOfPage()) + '&mode=apply'),
    };
    await logout();

    // The operator: a POST without the CSRF token or from another origin is refused; Sync now
    // reached and pressed with the keyboard alone.
    await login(spec.operatorToken);
    out.operator = { syncButtons: await syncButtons() };
    out.operator.noCsrfStatus = await postStatus('/connectors/hq/sync', 'mode=apply');
    const foreign = await context.request.post(base + '/connectors/hq/sync', {
      headers: { Origin: 'https://evil.example' },
      form: { csrf: await csrfOfPage(), mode: 'apply' },
      maxRedirects: 0,
    });
    out.operator.foreignOriginStatus = foreign.status();
    await page.goto(base + '/');
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement
        && document.activeElement.textContent === 'Sync now');
    }
    out.operator.keyboardReachedSyncNow = reached;
    if (reached) {
      await Promise.all([page.waitForURL(/\/runs\//), page.keyboard.press('Enter')]);
      const run = await followRun();
      out.operator.progressTexts = run.texts;
      out.operator.outcome = run.outcome;
    }
    out.overflow = await overflow('/', 'console-overview.png');
    for (const path of ['/runs', '/health']) {
      const o = await overflow(path);
      out.overflow.phone ||= o.phone;
      out.overflow.desktop ||= o.desktop;
    }
  } else if (spec.phase === 'approval') {
    await login(spec.operatorToken);
    out.refusedOutcome = (await syncNowByClick()).outcome;
    await page.goto(base + '/plans');
    out.plans = await page.locator('section.plan').count();
    out.removals = await page.locator('section.plan li[data-removal]').allTextContents();
    out.overflow = await overflow('/plans', 'console-approval.png');
    await page.goto(base + '/plans');
    await Promise.all([page.waitForURL(/\/runs\//),
      page.click('section.plan button:has-text("Approve")')]);
    out.approvedOutcome = (await followRun()).outcome;
    // The approved run's report: the HTML report, working under the console's headers.
    await Promise.all([page.waitForNavigation(), page.click('#run a:has-text("Open the report")')]);
    await page.waitForSelector('body[data-ready="true"]');
    out.reportShowsRemoved = await page.evaluate(() => document.body.textContent.includes('周明'));
    // The first sync (A, the oldest run) compared with the approved one (B, the newest).
    await page.goto(base + '/runs');
    await page.locator('input[name=a]').last().check();
    await Promise.all([page.waitForURL(/\/compare\?/), page.click('button:has-text("Compare A with B")')]);
    out.comparison = await page.locator('pre.comparison').textContent();
    await page.goto(base + '/plans');
    out.plansAfter = await page.locator('section.plan').count();
  } else if (spec.phase === 'person') {
    await login(spec.operatorToken);
    // Searches the connector for `query`; what the result page shows once the search ran.
    const search = async (query) => {
      await page.goto(base + '/people');
      await page.fill('#person-query', query);
      await Promise.all([page.waitForURL(/\/people\/.+/), page.click('button:has-text("Search")')]);
      await page.waitForSelector('section.person, ul.matches, p.none, main p.bad');
      return page.evaluate(() => {
        const person = document.querySelector('section.person');
        return {
          key: person && person.dataset.key,
          matches: [...document.querySelectorAll('ul.matches li')].map((li) => li.dataset.key),
          explained: person ? person.querySelector('pre').textContent
            : document.querySelector('main').textContent,
        };
      });
    };
    out.byName = await search('王小芳');
    out.byKey = await search('wang');
    if (out.byKey.key) {
      await Promise.all([page.waitForURL(/\/runs\//),
        page.click('button:has-text("Sync this person")')]);
      out.personOutcome = (await followRun()).outcome;
    }
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
