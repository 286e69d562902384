// Helpers shared by the browser tests (ui.e2e.mjs, console.e2e.mjs).
import { chromium } from 'playwright-core';
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

/**
 * launch starts headless Chromium (CHROMIUM, default /usr/bin/chromium; HEADFUL=1 to watch)
 * with a throwaway profile, 1366×900, TLS errors ignored (dpa's own CA), and collects the
 * page's console errors.
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
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  const close = async () => {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, consoleErrors, close };
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
