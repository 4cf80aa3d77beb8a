// Browser check of a finished peerbench report, as a practice manager would open it.
//
// Usage: node tests/browser/check.mjs <report-dir> <artefact-dir>
//
// Opens index.html, indicators.html, how.html and two practice pages from <report-dir> in
// Debian's Chromium (driven by playwright-core, which ships no browser of its own,
// so nothing is downloaded at run time) and fails if any page:
//   - logs a console error or warning, throws an uncaught exception, or has a
//     request fail;
//   - asks for anything that is not file:// or data: (reports must be
//     self-contained: they are emailed and opened offline);
//   - has a chart <svg> that renders with a zero-sized box (or a practice page has
//     no chart at all);
//   - has an axe-core WCAG 2.x A/AA violation of impact "serious" or "critical".
// Every axe violation (any impact) is printed so it can be fixed, not just the
// failing ones. Full-page screenshots, an A4 print-media PDF of the first
// practice page and a close-up of its "In brief" and "Where you stand"
// (practice-verdict.png, copied to docs/img/) go to <artefact-dir> for a
// person to look at. Practice pages must also lead with one verdict per
// indicator: one verdict cell per row, opening with its tag, no separate
// comparison and funnel columns, and a sentence saying which verdict leads.
//
// Exit status: 0 all pages pass, 1 some check failed (or the browser could not
// run), 2 bad usage.

import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, mkdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [reportArg, artefactArg] = process.argv.slice(2);
if (!reportArg || !artefactArg) {
  console.error('usage: node tests/browser/check.mjs <report-dir> <artefact-dir>');
  process.exit(2);
}
const reportDir = resolve(reportArg);
const artefactDir = resolve(artefactArg);
if (!existsSync(join(reportDir, 'index.html'))) {
  console.error(`check.mjs: ${reportDir} has no index.html; is it a finished report?`);
  process.exit(2);
}
mkdirSync(artefactDir, { recursive: true });

// axe-core is injected as source text rather than loaded by URL: the page is a
// file:// page and must not fetch anything, and this keeps the check offline.
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// The WCAG levels the NHS service standard asks for (2.2 AA, which includes the
// 2.0 and 2.1 A/AA rules). Only serious/critical fail the run; the rest are
// printed as things to fix.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const FAILING_IMPACTS = new Set(['serious', 'critical']);

// Desktop width a practice manager is likely to use; tall enough that most of
// the first screen is visible without scrolling.
const VIEWPORT = { width: 1280, height: 900 };

// This machine is small and may be busy compiling: be generous before calling
// a page hung.
const PAGE_TIMEOUT_MS = 120_000;

/**
 * Which pages to open: the board page, the indicator page, two practices'
 * reports and one of the first practice's detail pages.
 */
function choosePages() {
  const pages = [
    { rel: 'index.html', shot: 'index.png', practice: false },
    { rel: 'indicators.html', shot: 'indicators.png', practice: false },
    { rel: 'how.html', shot: 'how.png', practice: false },
  ];
  // One of the board's indicator pages (caterpillar plot and trend).
  const boardDir = join(reportDir, 'board');
  const boardPages = existsSync(boardDir)
    ? readdirSync(boardDir).filter((f) => f.endsWith('.html')).sort()
    : [];
  if (boardPages.length > 0) {
    pages.push({ rel: `board/${boardPages[0]}`, shot: `board-${boardPages[0].replace(/\.html$/, '')}.png`, practice: true });
  }
  const practiceDir = join(reportDir, 'practices');
  const practices = existsSync(practiceDir)
    ? readdirSync(practiceDir).filter((f) => f.endsWith('.html')).sort()
    : [];
  if (practices.length === 0) {
    // A report with no practice pages is broken in itself; say so as a failure
    // rather than silently checking less.
    return { pages, missingPractices: true };
  }
  const first = practices[0];
  // The second practice is one the board page actually links to (so we check a
  // page reachable by a reader), taken from the other end of the alphabet so
  // that it is likely to differ in kind from the first (e.g. a Y-code practice).
  const indexHtml = readFileSync(join(reportDir, 'index.html'), 'utf8');
  const linked = new Set(
    [...indexHtml.matchAll(/href="practices\/([^"#?]+\.html)"/g)].map((m) => m[1]),
  );
  const candidates = practices.filter((p) => p !== first && linked.has(p));
  const second = candidates.length > 0 ? candidates[candidates.length - 1]
    : practices.length > 1 ? practices[practices.length - 1] : null;
  for (const p of [first, second].filter(Boolean)) {
    const code = p.replace(/\.html$/, '');
    pages.push({
      rel: `practices/${p}`,
      shot: `practice-${code}.png`,
      practice: true,
      // One print PDF is enough to show A4 printing works.
      pdf: p === first ? `practice-${code}-print.pdf` : null,
      // And one close-up of the verdicts a practice team reads first.
      verdictShot: p === first ? 'practice-verdict.png' : null,
    });
  }
  // Each domain's indicators in detail (funnel plots, run charts) are on a
  // page of their own beside the report: the first practice's first one.
  const firstCode = first.replace(/\.html$/, '');
  const detailDir = join(practiceDir, firstCode);
  const details = existsSync(detailDir)
    ? readdirSync(detailDir).filter((f) => f.endsWith('.html')).sort()
    : [];
  if (details.length === 0) return { pages, missingPractices: true };
  pages.push({
    rel: `practices/${firstCode}/${details[0]}`,
    shot: `practice-${firstCode}-${details[0].replace(/\.html$/, '')}.png`,
    practice: true,
    detail: true,
  });
  return { pages, missingPractices: false };
}

/** Shorten an HTML snippet for printing on one line. */
function snippet(html, max = 240) {
  const flat = String(html).replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Open one page, run every check on it, and return what was found. */
async function checkPage(context, page_) {
  const url = pathToFileURL(join(reportDir, page_.rel)).href;
  const page = await context.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  const found = {
    console: [], // console error/warning messages
    pageErrors: [], // uncaught exceptions
    failedRequests: [], // requests that did not complete
    external: [], // requests to anything but file:// or data:
    charts: { total: 0, rendered: 0, broken: [] },
    axe: { violations: [], failing: 0, incomplete: [] },
    problems: [], // human-readable reasons this page fails
  };

  // Listeners go on before navigation so nothing logged during load is missed.
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      const loc = msg.location();
      const where = loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : '';
      found.console.push(`${msg.type()}: ${msg.text()}${where}`);
    }
  });
  page.on('pageerror', (err) => found.pageErrors.push(String(err && err.stack || err)));
  page.on('requestfailed', (req) => {
    found.failedRequests.push(`${req.url()} (${req.failure()?.errorText ?? 'failed'})`);
  });
  page.on('request', (req) => {
    const u = req.url();
    if (!u.startsWith('file://') && !u.startsWith('data:')) found.external.push(u);
  });

  await page.goto(url, { waitUntil: 'load' });

  // Charts: an <svg> meant to be read as a picture, i.e. role="img" or with its
  // own <title>. Decorative icons without either are not counted. A chart that
  // lays out to 0x0 (display:none, broken viewBox, CSS collapse) is invisible to
  // the reader even though it is in the HTML.
  const charts = await page.evaluate(() => {
    const out = [];
    for (const svg of document.querySelectorAll('svg')) {
      const isChart = svg.getAttribute('role') === 'img' || svg.querySelector(':scope > title');
      if (!isChart) continue;
      const r = svg.getBoundingClientRect();
      const label = svg.querySelector(':scope > title')?.textContent?.trim()
        || svg.getAttribute('aria-label') || svg.id || svg.outerHTML.slice(0, 80);
      out.push({ w: r.width, h: r.height, label });
    }
    return out;
  });
  found.charts.total = charts.length;
  for (const c of charts) {
    if (c.w > 0 && c.h > 0) found.charts.rendered += 1;
    else found.charts.broken.push(`${c.label} (${c.w}x${c.h})`);
  }

  // Accessibility.
  await page.addScriptTag({ content: axeSource });
  const axeResult = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }),
    AXE_TAGS,
  );
  const simplify = (v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    count: v.nodes.length,
    examples: v.nodes.slice(0, 3).map((n) => ({
      target: n.target.join(' '),
      html: n.html,
      summary: n.failureSummary,
    })),
  });
  found.axe.violations = axeResult.violations.map(simplify);
  found.axe.failing = found.axe.violations.filter((v) => FAILING_IMPACTS.has(v.impact)).length;
  // "Incomplete" means axe could not decide (often contrast over images or
  // gradients): not a failure, but worth a person's look, so it is listed.
  found.axe.incomplete = axeResult.incomplete.map(simplify);

  // Artefacts for a person to look at. Screenshot is taken with screen media.
  await page.screenshot({ path: join(artefactDir, page_.shot), fullPage: true });
  if (page_.detail) {
    // A detail page draws each indicator's funnel (or ranked chart) and run chart.
    const kinds = await page.evaluate(() => {
      const ids = [...document.querySelectorAll('svg.chart')].map((s) => s.getAttribute('aria-labelledby') || '');
      return { funnels: ids.filter((i) => i.startsWith('fn-') || i.startsWith('cp-')).length, runs: ids.filter((i) => i.startsWith('rc-')).length };
    });
    if (kinds.funnels === 0) found.problems.push('no funnel plot on a practice detail page');
    if (kinds.runs === 0) found.problems.push('no run chart on a practice detail page');
  }
  if (page_.practice && !page_.detail && page_.rel.startsWith('practices/')) {
    // One verdict per indicator: every row of "Where you stand" with data has
    // one verdict cell, opening with its tag, and no second comparison column.
    const v = await page.evaluate(() => {
      const cells = [...document.querySelectorAll('td.verdict')];
      const headers = [...document.querySelectorAll('th')].map((th) => th.textContent.trim());
      return {
        cells: cells.length,
        untagged: cells.filter((td) => !td.firstElementChild?.classList.contains('tag')).length,
        twoColumns: headers.includes('Compared with peers') || headers.some((h) => h.startsWith('Peer funnel')),
        leadSaid: document.body.textContent.includes("Each indicator's verdict leads with"),
      };
    });
    if (v.cells === 0) found.problems.push('no verdict cells on a practice page');
    if (v.untagged) found.problems.push(`${v.untagged} verdict cell(s) without their tag`);
    if (v.twoColumns) found.problems.push('a practice page still shows the comparison and the funnel as two columns');
    if (!v.leadSaid) found.problems.push('a practice page does not say which verdict leads');
  }
  if (page_.verdictShot) {
    // From "In brief" to the end of the first domain's "Where you stand" table.
    const clip = await page.evaluate(() => {
      const h2 = (text) => [...document.querySelectorAll('h2')].find((h) => h.textContent.trim() === text);
      const start = h2('In brief');
      const where = h2('Where you stand');
      let table = where?.nextElementSibling;
      while (table && table.tagName !== 'TABLE' && table.tagName !== 'H2') table = table.nextElementSibling;
      if (!start || !table || table.tagName !== 'TABLE') return null;
      const top = start.getBoundingClientRect().top + window.scrollY - 8;
      const bottom = table.getBoundingClientRect().bottom + window.scrollY + 8;
      return { x: 0, y: top, width: document.documentElement.scrollWidth, height: bottom - top };
    });
    if (clip) {
      await page.screenshot({ path: join(artefactDir, page_.verdictShot), clip, fullPage: true });
    } else {
      found.problems.push('no "In brief" and "Where you stand" table to screenshot');
    }
  }
  if (page_.pdf) {
    // Practice managers print these for meetings: render as print media on A4
    // to show the @media print rules and page breaks work. Backgrounds are left
    // off, as in a browser's default print dialog, so the PDF shows what an
    // ordinary print looks like (coloured tags must still read without fill).
    await page.emulateMedia({ media: 'print' });
    await page.pdf({ path: join(artefactDir, page_.pdf), format: 'A4' });
    await page.emulateMedia({ media: 'screen' });
  }

  await page.close();

  if (found.console.length) found.problems.push(`${found.console.length} console error/warning(s)`);
  if (found.pageErrors.length) found.problems.push(`${found.pageErrors.length} page error(s)`);
  if (found.failedRequests.length) found.problems.push(`${found.failedRequests.length} failed request(s)`);
  if (found.external.length) found.problems.push(`${found.external.length} non-file request(s)`);
  if (found.charts.broken.length) found.problems.push(`${found.charts.broken.length} chart(s) with empty box`);
  if (page_.practice && found.charts.rendered === 0) found.problems.push('no rendered chart on a practice page');
  if (found.axe.failing) found.problems.push(`${found.axe.failing} serious/critical axe violation(s)`);
  return found;
}

/** Print the detail for one page: everything a developer needs to fix it. */
function printDetail(page_, f) {
  const lines = [];
  const list = (title, items) => {
    if (!items.length) return;
    lines.push(`  ${title}:`);
    for (const i of items) lines.push(`    - ${i}`);
  };
  list('console', f.console);
  list('page errors', f.pageErrors);
  list('failed requests', f.failedRequests);
  list('non-file requests', f.external);
  list('charts with empty box', f.charts.broken);
  const axeBlock = (title, vs) => {
    if (!vs.length) return;
    lines.push(`  ${title}:`);
    for (const v of vs) {
      lines.push(`    - [${v.impact ?? 'n/a'}] ${v.id}: ${v.help} — ${v.count} node(s) ${v.helpUrl}`);
      for (const e of v.examples) {
        lines.push(`        at ${e.target}`);
        lines.push(`           ${snippet(e.html)}`);
        if (e.summary) lines.push(`           ${snippet(e.summary, 400)}`);
      }
    }
  };
  axeBlock('axe violations', f.axe.violations);
  axeBlock('axe needs review (not failing)', f.axe.incomplete);
  if (lines.length) console.log(`${page_.rel}\n${lines.join('\n')}`);
}

async function main() {
  const { pages, missingPractices } = choosePages();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // --no-sandbox: runs as root in a container. The rest stop Chromium's own
    // background traffic (updates, sync, QUIC probes), which would otherwise show
    // up as failed requests on a machine with no internet.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const summary = [];
  try {
    // Fixed locale/timezone so screenshots do not depend on the machine.
    const context = await browser.newContext({
      viewport: VIEWPORT, locale: 'en-GB', timezoneId: 'Europe/London',
    });
    for (const p of pages) {
      let f;
      try {
        f = await checkPage(context, p);
      } catch (err) {
        // A page that cannot even be loaded or screenshotted is a failure of
        // that page, not of the whole run: carry on and report the rest.
        f = null;
        summary.push({ p, ok: false, line: `FAIL ${p.rel}: check crashed: ${err.message.split('\n')[0]}` });
        continue;
      }
      printDetail(p, f);
      const ok = f.problems.length === 0;
      const seriousTotal = `${f.axe.failing} serious/critical of ${f.axe.violations.length} violated rule(s)`
        + ` (+${f.axe.incomplete.length} to review by hand)`;
      const line = `${ok ? 'PASS' : 'FAIL'} ${p.rel}: charts ${f.charts.rendered}/${f.charts.total} rendered, `
        + `console ${f.console.length}, page errors ${f.pageErrors.length}, `
        + `failed requests ${f.failedRequests.length}, non-file requests ${f.external.length}, `
        + `axe ${seriousTotal}, screenshot ${p.shot}${p.pdf ? `, pdf ${p.pdf}` : ''}`
        + (ok ? '' : ` — ${f.problems.join('; ')}`);
      summary.push({ p, ok, line });
    }
    await context.close();
  } finally {
    await browser.close();
  }
  if (missingPractices) {
    summary.push({ p: null, ok: false, line: 'FAIL practices/: report has no practice pages, or the first has no detail pages beside it' });
  }

  console.log('\nSummary:');
  for (const s of summary) console.log(s.line);
  const failed = summary.filter((s) => !s.ok).length;
  // Plain closing line so CI can count the pages as tests.
  console.log(`browser: ${summary.length - failed} passed, ${failed} failed`);
  console.log(`artefacts in ${artefactDir}`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`check.mjs: could not run the browser check: ${err.stack || err}`);
    process.exit(1);
  },
);
