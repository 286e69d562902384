// Helpers shared by the browser tests (ui.e2e.mjs, console.e2e.mjs).
import { chromium, request as pwRequest } from 'playwright-core';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** axe-core's WCAG 2.1 A/AA rules and its best practices. */
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

/**
 * axeCheck runs axe-core on the page as it is now and returns its violations as lines. The
 * script is evaluated over the DevTools protocol: the page's CSP (script-src 'self') rightly
 * refuses injected script tags.
 */
export async function axeCheck(page, label) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    await page.evaluate(AXE_SOURCE);
  }
  const found = await page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} node(s), e.g. ${v.nodes[0]?.target?.join(' ')} ${(v.nodes[0]?.html ?? '').slice(0, 160)} ${v.nodes[0]?.failureSummary ?? ''} — ${v.help}`);
  }, AXE_TAGS);
  return found.map((v) => `${label}: ${v}`);
}

/** setTheme switches the standalone UI's theme (the header button's event) and waits for it. */
export async function setTheme(page, mode) {
  await page.emulateMedia({ colorScheme: mode });
  if (await page.getByTestId('theme-toggle').count()) {
    await page.evaluate((m) => window.dispatchEvent(new CustomEvent('dpa:set-theme', { detail: m })), mode);
    await page.waitForFunction((m) => document.documentElement.dataset.theme === m, mode);
  }
}

export class AssertionError extends Error {}

/** reporter returns log and assert functions that prefix their lines with name. */
export function reporter(name) {
  const log = (...a) => console.log(`[${name} ${new Date().toISOString().slice(11, 19)}]`, ...a);
  const assert = (cond, msg) => {
    if (!cond) {
      throw new AssertionError(msg);
    }
    log(`ok - ${msg}`);
  };
  return { log, assert };
}

/** isApiPath: a request of the UI to dpa's API (its answers, 4xx included, are the tests' business). */
export function isApiPath(pathname) {
  return pathname.startsWith('/apis/') || pathname === '/apis' || pathname === '/metrics' || pathname.startsWith('/openapi/') || pathname === '/version';
}

/**
 * watchPage collects what must never happen on any page the test visits: an asset (script,
 * style, image, font, icon — the favicon too) answered 4xx/5xx or failing, a document
 * answered 4xx/5xx, a console error, an uncaught exception. Exceptions, each asserted by the
 * tests where they happen: answers of API calls (and Chromium's "Failed to load resource"
 * line for them), and a refused sign-in (the sign-in page answers 401/429 to a bad token).
 */
export function watchPage(page) {
  const problems = [];
  const where = (u) => {
    try {
      const x = new URL(u);
      return x.pathname + x.search;
    } catch {
      return u;
    }
  };
  const refusedSignIn = (req, status) => req.method() === 'POST' && new URL(req.url()).pathname === '/ui/login' && (status === 401 || status === 429);
  page.on('response', (r) => {
    const req = r.request();
    const type = req.resourceType();
    if (r.status() < 400) {
      return;
    }
    let path = '';
    try {
      path = new URL(r.url()).pathname;
    } catch {}
    if ((type === 'fetch' || type === 'xhr' || type === 'eventsource') && isApiPath(path)) {
      return;
    }
    if (type === 'document' && refusedSignIn(req, r.status())) {
      return;
    }
    problems.push(`${r.status()} for ${type} ${req.method()} ${where(r.url())}`);
  });
  page.on('requestfailed', (req) => {
    const type = req.resourceType();
    const err = req.failure()?.errorText ?? '';
    // Navigating away aborts what is still loading; API calls are aborted on purpose (Cancel).
    if (type === 'fetch' || type === 'xhr' || type === 'document' || err === 'net::ERR_ABORTED') {
      return;
    }
    problems.push(`${type} ${where(req.url())} failed: ${err}`);
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') {
      return;
    }
    const loc = m.location()?.url ?? '';
    let path = '';
    try {
      path = new URL(loc).pathname;
    } catch {}
    if (/^Failed to load resource/.test(m.text()) && (isApiPath(path) || (path === '/ui/login' && /status of (401|429)/.test(m.text())))) {
      return;
    }
    problems.push(`console error: ${m.text()} (${where(loc)})`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  return problems;
}

/**
 * iconProblems checks the page's icon as the browser would use it: the page declares one
 * (else the browser asks for /favicon.ico, which dpa's API answers 401), and it is served
 * (200, an image) without credentials.
 */
export async function iconProblems(page) {
  const href = await page.evaluate(() => document.querySelector('link[rel~="icon"]')?.href ?? '');
  if (!href) {
    return [`${new URL(page.url()).pathname} declares no icon (the browser asks /favicon.ico)`];
  }
  const anonymous = await pwRequest.newContext({ ignoreHTTPSErrors: true });
  try {
    const r = await anonymous.get(href, { failOnStatusCode: false, maxRedirects: 0 });
    const ct = r.headers()['content-type'] ?? '';
    return r.status() === 200 && ct.startsWith('image/') ? [] : [`icon ${href}: ${r.status()} ${ct}`];
  } finally {
    await anonymous.dispose();
  }
}

/**
 * brokenText lists the visible text of root (in the page as it is laid out now) that wraps
 * where it must not: a word (a run without spaces) whose characters lie on more than one
 * line other than right after a "/" (a path in a message), and URL text (data-url, the UI's
 * UrlText) whose line breaks come other than right after a "/". Measured with
 * Range.getClientRects per word, and per character where a word or URL spans lines.
 */
export async function brokenText(page, root = 'main') {
  return page.evaluate((sel) => {
    const out = [];
    const rootEl = document.querySelector(sel);
    if (!rootEl) {
      return [`no ${sel}`];
    }
    const visible = (el) => {
      const cs = getComputedStyle(el);
      return cs.visibility !== 'hidden' && el.getClientRects().length > 0;
    };
    const tops = (range) =>
      [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0).map((r) => Math.round(r.top));
    const lines = (ts) => ts.filter((t, i) => ts.findIndex((u) => Math.abs(u - t) <= 3) === i).length;
    const label = (el) => `${el.tagName.toLowerCase()}${el.closest('table') ? ` in table "${el.closest('table').getAttribute('aria-label') ?? ''}"` : ''}`;
    // Words.
    const walker = document.createTreeWalker(rootEl, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !visible(el) || el.closest('[data-url], textarea, script, style')) {
        continue;
      }
      for (const m of n.data.matchAll(/\S+/g)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        if (lines(tops(r)) <= 1) {
          continue;
        }
        // On more than one line: fine only where it wraps right after a "/" (a path in prose).
        let prev;
        for (let i = 0; i < m[0].length; i++) {
          const c = document.createRange();
          c.setStart(n, m.index + i);
          c.setEnd(n, m.index + i + 1);
          const t = tops(c)[0];
          if (t === undefined) {
            continue;
          }
          if (prev !== undefined && Math.abs(t - prev) > 3 && m[0][i - 1] !== '/') {
            out.push(`word "${m[0]}" broken across lines after "${m[0].slice(0, i)}" (${label(el)})`);
            break;
          }
          prev = t;
        }
      }
    }
    // URLs: a new line only right after "/".
    for (const u of rootEl.querySelectorAll('[data-url]')) {
      if (!visible(u)) {
        continue;
      }
      const chars = [];
      const w = document.createTreeWalker(u, NodeFilter.SHOW_TEXT);
      for (let n = w.nextNode(); n; n = w.nextNode()) {
        for (let i = 0; i < n.data.length; i++) {
          const r = document.createRange();
          r.setStart(n, i);
          r.setEnd(n, i + 1);
          const t = tops(r);
          if (t.length) {
            chars.push({ c: n.data[i], top: t[0] });
          }
        }
      }
      for (let i = 1; i < chars.length; i++) {
        if (Math.abs(chars[i].top - chars[i - 1].top) > 3 && chars[i - 1].c !== '/') {
          const text = chars.map((x) => x.c).join('');
          out.push(`URL "${text}" breaks after "${text.slice(Math.max(0, i - 12), i)}", not after a "/" (${label(u)})`);
          break;
        }
      }
    }
    return out;
  }, root);
}

/**
 * launch starts headless Chromium (CHROMIUM, default /usr/bin/chromium; HEADFUL=1 to watch)
 * with a throwaway profile, 1366×900, TLS errors ignored (dpa's own CA), and watches the page
 * (watchPage: problems, for the test to assert at its end).
 */
export async function launch(profilePrefix, extra = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), profilePrefix));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: !process.env.HEADFUL,
    ignoreHTTPSErrors: true,
    viewport: { width: 1366, height: 900 },
    ...extra,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ].filter((a) => !(process.env.HEADFUL && a === '--headless')),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);
  const problems = watchPage(page);
  const close = async () => {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, problems, close };
}

/** The collection URL of DataPlaneServices. */
export const API = '/apis/aggregation.grafana.app/v0alpha1/dataplaneservices';

/**
 * testEnv reads what scripts/ui-e2e.sh passes: DPA_URL, DPA_TOKEN (a server admin) and
 * DPA_VIEWER_TOKEN (an org-1 Viewer), all required, and TEST_OUTPUT_DIR (default
 * test-output/ui, created). Exits 2 when one is missing.
 */
export function testEnv() {
  const env = {
    DPA_URL: (process.env.DPA_URL || '').replace(/\/+$/, ''),
    DPA_TOKEN: process.env.DPA_TOKEN || '',
    DPA_VIEWER_TOKEN: process.env.DPA_VIEWER_TOKEN || '',
    OUT: path.resolve(process.env.TEST_OUTPUT_DIR || 'test-output/ui'),
  };
  if (!env.DPA_URL || !env.DPA_TOKEN || !env.DPA_VIEWER_TOKEN) {
    console.error('DPA_URL, DPA_TOKEN and DPA_VIEWER_TOKEN must be set');
    process.exit(2);
  }
  fs.mkdirSync(env.OUT, { recursive: true });
  return env;
}
