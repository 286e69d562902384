// Helpers shared by the browser tests (ui.e2e.mjs, console.e2e.mjs).
import fs from 'node:fs';
import { createRequire } from 'node:module';

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
