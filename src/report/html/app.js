// Lays out the report embedded in #report-data (built by src/report/html/data.rs).
// Every string from the report is upstream data and hostile: it is only ever assigned with
// textContent, never parsed as HTML. Large reports stay responsive: rows are built only for the
// page on screen, and the search text of a step is built the first time it is searched.
'use strict';
(function () {
  const D = JSON.parse(document.getElementById('report-data').textContent);
  const PAGE = 200;
  const NONE = '(none)';
  const $ = (id) => document.getElementById(id);
  const num = (n) => n.toLocaleString('en-US');

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // A value is a string, an index into D.strings (values used more than once), or null.
  const val = (v) => (v === null || v === undefined ? null : typeof v === 'number' ? D.strings[v] : v);

  // A step is [kind, user, name, [field, before, after, …], note, outcome, detail]; trailing
  // empty entries are left out. `user` is a group's department id for group steps, and one row
  // may stand for several batches of a group's members (D.total counts steps).
  const step = (r) => ({
    kind: D.kinds[r[0]], user: r[1], name: r[2] || null, changes: r[3] || [],
    note: val(r[4]), outcome: r[5] || 0, detail: r[6] || null,
  });

  function changeLines(s) {
    const lines = [];
    for (let i = 0; i < s.changes.length; i += 3) {
      lines.push({ field: D.fields[s.changes[i]], before: val(s.changes[i + 1]), after: val(s.changes[i + 2]) });
    }
    return lines;
  }

  // ---- header and summary ----
  document.title = D.title;
  $('title').textContent = D.title;
  const summary = $('summary');
  for (const [label, value, bad] of D.summary) {
    const tr = el('tr');
    tr.append(el('th', null, label), el('td', bad ? 'bad' : null, value));
    summary.append(tr);
  }

  const cards = $('cards');
  function card(n, label, cls) {
    const c = el('div', 'card' + (cls ? ' ' + cls : ''));
    c.append(el('div', 'n', n), el('div', 'l', label));
    cards.append(c);
    return c;
  }
  const outcome = D.summary.find((row) => row[0] === 'Outcome');
  card(outcome[1].split(':')[0], 'outcome', outcome[2] ? 'bad' : null);
  card(num(D.total), 'steps');
  const kindCards = new Map();
  for (const [kind, heading, count] of D.counts) {
    const c = card(num(count), heading, 'kind');
    c.dataset.kind = kind;
    c.title = 'Show only ' + heading;
    c.tabIndex = 0;
    c.setAttribute('role', 'button');
    const toggle = () => {
      kindSelect.value = kindSelect.value === kind ? '' : kind;
      update();
    };
    c.addEventListener('click', toggle);
    c.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        toggle();
      }
    });
    kindCards.set(kind, c);
  }
  card(num(D.skipped.length), 'manager links not synced', D.skipped.length ? 'bad' : null);
  card(num(D.problems.length), 'upstream problems', D.problems.length ? 'bad' : null);

  // ---- paging, shared by the three tables ----
  function pager(nav, total, page, go) {
    nav.replaceChildren();
    if (total <= PAGE) return;
    const pages = Math.ceil(total / PAGE);
    const prev = el('button', null, '‹ Previous');
    const next = el('button', null, 'Next ›');
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    prev.addEventListener('click', () => go(page - 1));
    next.addEventListener('click', () => go(page + 1));
    const from = page * PAGE + 1;
    const to = Math.min(total, (page + 1) * PAGE);
    nav.append(prev, el('span', 'muted', `${num(from)}–${num(to)} of ${num(total)} (page ${num(page + 1)} of ${num(pages)})`), next);
  }

  // ---- steps ----
  const kindSelect = $('kind');
  const outcomeSelect = $('outcome');
  const search = $('search');
  for (const [kind, heading, count] of D.counts) {
    const o = el('option', null, `${heading} (${num(count)})`);
    o.value = kind;
    kindSelect.append(o);
  }
  if (D.results) {
    outcomeSelect.hidden = false;
    $('result-head').hidden = false;
    D.outcomes.forEach((name, i) => {
      const o = el('option', null, name);
      o.value = String(i);
      outcomeSelect.append(o);
    });
  }

  const haystacks = new Array(D.steps.length);
  function haystack(i) {
    if (haystacks[i] === undefined) {
      const s = step(D.steps[i]);
      const parts = [s.kind, s.user, s.name, s.note, s.detail];
      for (const c of changeLines(s)) parts.push(c.field, c.before, c.after);
      haystacks[i] = parts.filter((p) => p !== null).join('\n').toLowerCase();
    }
    return haystacks[i];
  }

  function stepRow(s) {
    const tr = el('tr');
    tr.append(el('td', 'kind-tag', s.kind), el('td', null, s.name || ''), el('td', null, s.user));
    const td = el('td');
    for (const c of changeLines(s)) {
      const line = el('span', 'change');
      if (c.field === 'manager') {
        // Manager moves read "A: old manager → new manager".
        line.append(el('span', 'field', (s.name || s.user) + ': '));
      } else {
        line.append(el('span', 'field', c.field + ': '));
      }
      // What a step brings into being has no "before" worth showing.
      const adds = s.kind === 'create' || s.kind === 'create_group' || s.kind === 'add_members';
      if (c.before !== null || !adds) line.append(el('span', 'before', c.before ?? NONE), ' → ');
      line.append(el('span', 'after', c.after ?? NONE));
      td.append(line);
    }
    if (s.note) td.append(el('span', 'change muted', s.note));
    tr.append(td);
    if (D.results) {
      const r = el('td', s.outcome >= 2 ? 'bad' : null, D.outcomes[s.outcome]);
      if (s.detail) r.append(el('span', 'detail', s.detail));
      tr.append(r);
    }
    return tr;
  }

  let matches = [];
  let page = 0;
  function update() {
    const q = search.value.trim().toLowerCase();
    const kind = kindSelect.value;
    const wanted = outcomeSelect.value === '' ? -1 : Number(outcomeSelect.value);
    const kindIndex = kind === '' ? -1 : D.kinds.indexOf(kind);
    matches = [];
    for (let i = 0; i < D.steps.length; i++) {
      const r = D.steps[i];
      if (kindIndex >= 0 && r[0] !== kindIndex) continue;
      if (wanted >= 0 && (r[5] || 0) !== wanted) continue;
      if (q && !haystack(i).includes(q)) continue;
      matches.push(i);
    }
    for (const [k, c] of kindCards) c.classList.toggle('active', k === kind);
    show(0);
    // Lets tests (and anyone scripting the page) wait for a filter to take effect.
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  function show(p) {
    page = p;
    const rows = matches.slice(page * PAGE, (page + 1) * PAGE).map((i) => stepRow(step(D.steps[i])));
    $('steps').tBodies[0].replaceChildren(...rows);
    const count = $('match-count');
    count.dataset.count = String(matches.length);
    count.textContent = matches.length === D.steps.length
      ? `(${num(D.steps.length)})`
      : `(${num(matches.length)} of ${num(D.steps.length)} match)`;
    pager($('steps-pager'), matches.length, page, show);
  }

  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(update, 120);
  });
  kindSelect.addEventListener('change', update);
  outcomeSelect.addEventListener('change', update);

  // ---- skipped links and problems: built when their section is first opened ----
  function lazyTable(section, table, nav, countEl, rows, toCells) {
    countEl.textContent = `(${num(rows.length)})`;
    if (rows.length === 0) return;
    const draw = (p) => {
      const trs = rows.slice(p * PAGE, (p + 1) * PAGE).map((row) => {
        const tr = el('tr');
        for (const cell of toCells(row)) tr.append(el('td', null, cell));
        return tr;
      });
      table.tBodies[0].replaceChildren(...trs);
      pager(nav, rows.length, p, draw);
    };
    section.addEventListener('toggle', () => {
      if (section.open && table.tBodies[0].rows.length === 0) draw(0);
    });
  }
  lazyTable($('groups-section'), $('groups'), $('groups-pager'), $('groups-count'), D.groups, (g) => g);
  lazyTable($('skipped-section'), $('skipped'), $('skipped-pager'), $('skipped-count'), D.skipped, (r) => r);
  lazyTable($('problems-section'), $('problems'), $('problems-pager'), $('problems-count'), D.problems, (p) => [p]);

  update();
  document.body.dataset.ready = 'true';
})();
