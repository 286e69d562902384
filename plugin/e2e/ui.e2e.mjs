#!/usr/bin/env node
// Browser end-to-end test of the standalone UI served by `dpa serve` at /ui/.
//
//   DPA_URL=https://127.0.0.1:6443 DPA_TOKEN=$(cat data/admin-token) node e2e/ui.e2e.mjs
//
// Env: DPA_URL, DPA_TOKEN (a server admin) and DPA_VIEWER_TOKEN (an org-1 Viewer) (required),
//      TEST_OUTPUT_DIR (default test-output/ui),
//      CHROMIUM (default /usr/bin/chromium), HEADFUL=1 to watch.
// Flow: sign in (bad token first), create a DataPlaneService through the form, see it listed
// with its conditions, edit it, hit a client-side check and a server-side 422 shown next to
// the field (group/version already claimed by another object), delete it with confirmation,
// sign out (the old session cookie is then refused), and sign in as a Viewer, who sees the
// services but no write action. On every page: no asset or document answered 4xx/5xx, no
// console error, an icon that is served (no /favicon.ico asked of the API); keyboard: skip
// links first on the list, a theme toggle that says the theme in use; at 800 px the detail
// page breaks no word across lines.
// Screenshots of every page in light and dark go to TEST_OUTPUT_DIR. Exits non-zero on failure.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { API, AssertionError, axeCheck, brokenText, iconProblems, launch, reporter, testEnv } from './lib.mjs';

const { DPA_URL, DPA_TOKEN, DPA_VIEWER_TOKEN, OUT } = testEnv();
const KUBECONFIG = process.env.KUBECONFIG || '';
// Screenshots of an earlier run would pass for this one's.
for (const f of fs.readdirSync(OUT)) {
  if (f.endsWith('.png')) {
    fs.rmSync(path.join(OUT, f));
  }
}

const suffix = Date.now().toString(36);
const NAME = `e2e-${suffix}`;
const BLOCKER = `e2e-blocker-${suffix}`;
const GROUP = `e2e-${suffix}.grafana.app`;
const BLOCKED_GROUP = `e2e-taken-${suffix}.grafana.app`;

let step = 0;
let failures = 0;
const { log, assert } = reporter('e2e');
// problems: every asset the UI loads is served, no console error (lib.mjs watchPage).
const { context, page, problems, close } = await launch('dpa-e2e-profile-');
const iconIssues = new Set();
// The bundle is served compressed to browsers that accept it.
const uncompressed = new Set();
page.on('response', async (r) => {
  if (/\/ui\/build\/.*\.js$/.test(r.url()) && r.status() === 200) {
    const enc = (await r.allHeaders())['content-encoding'];
    if (enc !== 'gzip' && enc !== 'br') {
      uncompressed.add(r.url().replace(DPA_URL, ''));
    }
  }
});

/** Screenshot the current page in light and dark. */
async function shoot(name, useToggle = false) {
  step++;
  for (const mode of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: mode });
    const toggle = page.getByTestId('theme-toggle');
    if (await toggle.count()) {
      const cur = await page.evaluate(() => document.documentElement.dataset.theme);
      if (cur !== mode) {
        if (useToggle) {
          await toggle.click(); // the header button
        } else {
          await page.evaluate((m) => window.dispatchEvent(new CustomEvent('dpa:set-theme', { detail: m })), mode);
        }
      }
      await page.waitForFunction((m) => document.documentElement.dataset.theme === m, mode);
      if (useToggle) {
        await page.mouse.move(0, 0);
      }
    }
    await page.waitForTimeout(150);
    const file = path.join(OUT, `${String(step).padStart(2, '0')}-${name}-${mode}.png`);
    await page.screenshot({ path: file, fullPage: true });
    axeViolations.push(...(await axeCheck(page, `${name} (${mode})`)));
  }
  (await iconProblems(page)).forEach((p) => iconIssues.add(p));
  log(`screenshots: ${name}`);
}

const axeViolations = [];
/** No horizontal scrollbar, and the last column (the row actions) is on screen. */
async function layoutAt(width) {
  await page.setViewportSize({ width, height: 900 });
  await page.waitForTimeout(200);
  return page.evaluate(() => {
    const th = [...document.querySelectorAll('table[aria-label="Data plane services"] thead th')];
    const last = th[th.length - 1]?.getBoundingClientRect();
    const ready = th.find((h) => h.textContent.includes('Ready'))?.getBoundingClientRect();
    return {
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      actionsVisible: !!last && last.right <= window.innerWidth,
      readyVisible: !!ready && ready.width > 0 && ready.right <= window.innerWidth,
    };
  });
}

/** kubectl against dpa with the admin kubeconfig the server wrote. */
function kubectl(...args) {
  return execFileSync('kubectl', ['--kubeconfig', KUBECONFIG, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** API call from the browser context (shares the session cookie). */
async function api(method, url, data, headers = {}) {
  const r = await context.request.fetch(DPA_URL + url, {
    method,
    data: data === undefined ? undefined : JSON.stringify(data),
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    failOnStatusCode: false,
  });
  let body;
  try {
    body = await r.json();
  } catch {
    body = undefined;
  }
  return { status: r.status(), body };
}

const dps = (name, group) => ({
  apiVersion: 'aggregation.grafana.app/v0alpha1',
  kind: 'DataPlaneService',
  metadata: { name },
  spec: { pluginID: 'e2e-blocker', pluginType: 'datasource', group, version: 'v1', services: [{ type: 'health' }] },
});

async function fill(selector, value) {
  const el = page.locator(selector);
  await el.fill('');
  await el.fill(value);
}

try {
  // --- Sign in -----------------------------------------------------------------------------
  await page.goto(`${DPA_URL}/ui/`);
  await page.waitForURL(/\/ui\/login/);
  assert(page.url().includes('/ui/login'), 'unauthenticated /ui/ redirects to the sign-in page');
  await shoot('login');
  assert((await page.textContent('main')).includes('admin-token'), 'the sign-in page says where the admin token is');
  // The sign-in button's keyboard focus ring is visible in the light theme too.
  await page.emulateMedia({ colorScheme: 'light' });
  await page.click('#token');
  await page.keyboard.press('Tab');
  const ring = await page.evaluate(() => {
    const b = document.activeElement;
    const cs = getComputedStyle(b);
    return { tag: b.tagName, outline: cs.outlineColor, style: cs.outlineStyle, page: getComputedStyle(document.body).backgroundColor };
  });
  assert(ring.tag === 'BUTTON' && ring.style !== 'none' && ring.outline !== 'rgb(255, 255, 255)', `light sign-in button focus ring is visible (${ring.outline})`);
  await page.fill('#token', 'definitely-not-a-valid-token');
  await page.click('button[type=submit]');
  await page.waitForSelector('#login-error');
  assert((await page.textContent('#login-error')).includes('not accepted'), 'a wrong token is rejected with a message');
  await shoot('login-error');
  await page.fill('#token', DPA_TOKEN);
  await Promise.all([page.waitForURL(/\/ui\/$/), page.click('button[type=submit]')]);
  const cookie = (await context.cookies(DPA_URL)).find((c) => c.name === 'dpa_session');
  assert(cookie && cookie.httpOnly && cookie.secure && cookie.sameSite === 'Strict', 'session cookie is HttpOnly, Secure, SameSite=Strict');
  assert(!(await page.evaluate(() => document.cookie)).includes('dpa_session'), 'session cookie is not readable from JavaScript');

  // --- CSRF rule on cookie-authenticated writes -------------------------------------------
  const noCsrf = await api('POST', API, dps(BLOCKER, BLOCKED_GROUP));
  assert(noCsrf.status === 401 || noCsrf.status === 403, `a cookie-authenticated write without X-DPA-CSRF is refused (got ${noCsrf.status})`);
  const blockerObj = dps(BLOCKER, BLOCKED_GROUP);
  blockerObj.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': '{"kind":"DataPlaneService","secret-ish":"copy"}', team: 'e2e' };
  const blocker = await api('POST', API, blockerObj, { 'X-DPA-CSRF': '1' });
  assert(blocker.status === 201, `blocker object created via the API with X-DPA-CSRF (got ${blocker.status})`);

  // --- List ----------------------------------------------------------------------------------
  await page.waitForSelector(`[data-testid="row-${BLOCKER}"]`);
  assert(true, 'list shows existing services');
  // The blocker's plugin is not installed: the reason shows in the row, not only in a tooltip.
  await page.getByTestId(`row-${BLOCKER}`).getByTestId('ready-reason').waitFor({ timeout: 30000 });
  assert(
    (await page.getByTestId(`row-${BLOCKER}`).getByTestId('ready-reason').textContent()) === 'PluginNotFound',
    'a service that is not ready shows the reason inline in the Ready column'
  );
  assert((await page.locator('main [role="status"]').count()) === 0, 'condition badges are not live regions');
  assert((await page.getByRole('group', { name: 'Plugin type' }).count()) === 1, 'the type filter has a label');
  const layout = await page.evaluate(() => ({
    margin: getComputedStyle(document.body).marginLeft,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  }));
  assert(layout.margin === '0px' && layout.overflow <= 0, `no body margin and no horizontal scrollbar at 1366 px (${JSON.stringify(layout)})`);
  assert((await page.title()).startsWith('Data plane services'), `the tab title names the page (${await page.title()})`);
  // The theme toggle says the theme in use (and what pressing it does), before and after.
  for (let i = 0; i < 2; i++) {
    const mode = await page.evaluate(() => document.documentElement.dataset.theme);
    const other = mode === 'dark' ? 'light' : 'dark';
    const t = page.getByTestId('theme-toggle');
    assert(
      (await t.getAttribute('aria-label')) === `Theme: ${mode} (switch to ${other})` && (await t.textContent()) === `Theme: ${mode}`,
      `the theme toggle says "Theme: ${mode} (switch to ${other})" (${await t.getAttribute('aria-label')})`
    );
    await t.click();
    await page.waitForFunction((m) => document.documentElement.dataset.theme === m, other);
  }
  await shoot('list', true);

  // --- Create through the form ------------------------------------------------------------
  await page.getByRole('button', { name: 'New service' }).click();
  await page.waitForURL(/\/ui\/new$/);
  await page.waitForSelector('#dps-name');
  // client-side checks first
  await fill('#dps-name', 'Bad Name');
  await fill('#dps-plugin-id', 'Bad_Plugin');
  await page.getByRole('button', { name: 'Create' }).click();
  assert(
    (await page.getByTestId('field-spec.pluginID').textContent()).includes('single dashes'),
    'client-side validation message shown next to Plugin ID'
  );
  assert((await page.getByTestId('field-metadata.name').textContent()).includes('DNS-1123'), 'client-side validation message shown next to Name');
  assert((await page.getByTestId('plugin-not-installed').count()) === 0, 'one bad plugin id, one message (not also "not installed")');
  await shoot('create-client-errors');

  await fill('#dps-name', NAME);
  await fill('#dps-plugin-id', 'e2e-datasource');
  await fill('#dps-group', GROUP);
  await fill('#dps-version', 'v1');
  await page.getByRole('button', { name: 'Add service' }).click();
  await page.locator('#svc-1-type').click();
  await page.keyboard.type('route');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#svc-1-path');
  await page.getByTestId('service-1').getByRole('radio', { name: 'GET', exact: true }).check();
  await fill('#svc-1-path', '/things/{name}');
  await shoot('create-form');
  const created = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith(API) && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Create' }).click();
  const createResp = await created;
  assert(createResp.status() === 201, `POST through the form answered 201 (got ${createResp.status()})`);
  assert(createResp.request().headers()['x-dpa-csrf'] === '1', 'the UI sends X-DPA-CSRF: 1 on writes');
  const managers = ((await api('GET', `${API}/${NAME}`)).body?.metadata?.managedFields ?? []).map((m) => m.manager);
  assert(managers.includes('dpa-ui') && !managers.some((m) => /Mozilla/.test(m)), `the UI's writes are recorded as field manager dpa-ui (${managers})`);
  await page.waitForURL(new RegExp(`/ui/services/${NAME}$`));
  assert((await page.getByTestId('flash').textContent()).includes(`Created ${NAME}`), 'the page after a create confirms it');

  // --- Detail --------------------------------------------------------------------------------
  await page.getByRole('heading', { name: 'Spec' }).waitFor();
  const detailText = await page.textContent('main');
  assert((await page.title()).startsWith(NAME), `the tab title names the service (${await page.title()})`);
  assert(detailText.includes(`/apis/${GROUP}/v1/things/{name}`), 'detail page lists the concrete route URL');
  assert(detailText.includes(`/apis/${GROUP}/v1/namespaces/{namespace}/datasources/{uid}/query`), 'detail page lists the query URL');
  assert(detailText.includes(`name: ${NAME}`), 'detail page shows the YAML');
  await page.getByRole('table', { name: 'Conditions' }).waitFor({ timeout: 30000 });
  assert(true, 'detail page shows the conditions table');
  await shoot('detail');

  // --- Listed with its conditions -----------------------------------------------------------
  await page.getByRole('button', { name: 'All services' }).click();
  await page.waitForURL(/\/ui\/$/);
  const row = page.getByTestId(`row-${NAME}`);
  await row.waitFor();
  await row.getByTestId('ready-reason').waitFor({ timeout: 30000 });
  const readyCell = row.getByTestId('ready');
  assert(
    (await readyCell.getAttribute('data-state')) === 'NotReady' && (await readyCell.textContent()).startsWith('Not ready'),
    `the Ready column says Not ready in words (${await readyCell.textContent()})`
  );
  // Keyboard: Tab from the row's name link to the Ready cell opens its tooltip (condition and message).
  await row.getByRole('link', { name: NAME }).focus();
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? '')).startsWith('Not ready')) {
      break;
    }
  }
  await page.getByRole('tooltip').waitFor();
  assert((await page.getByRole('tooltip').textContent()).includes('Available: PluginNotFound'), 'the Ready tooltip opens on keyboard focus and names the condition');
  // The tooltip lives in a portal outside the page's landmarks; close it before the screenshots and axe.
  await page.evaluate(() => document.activeElement?.blur());
  await page.getByRole('tooltip').waitFor({ state: 'detached' });
  await shoot('list-with-new');
  await page.getByPlaceholder(/Filter by name/).fill(GROUP);
  assert((await page.locator('tbody tr').count()) === 1, 'text filter narrows the list');
  await page.getByPlaceholder(/Filter by name/).fill('');

  // --- Edit ------------------------------------------------------------------------------------
  await row.getByRole('button', { name: `Edit ${NAME}` }).click();
  await page.waitForURL(new RegExp(`/ui/services/${NAME}/edit$`));
  await page.waitForSelector('#dps-plugin-id');
  assert(await page.locator('#dps-name').isDisabled(), 'name is read-only when editing');
  // The YAML view: a labelled monospace editor with line numbers and the line count.
  await page.getByRole('group', { name: 'Editor' }).getByRole('radio', { name: 'YAML' }).check();
  await page.locator('#dps-yaml').waitFor();
  const yamlView = await page.evaluate(() => {
    const ta = document.getElementById('dps-yaml');
    return {
      label: document.querySelector('label[for="dps-yaml"]')?.textContent ?? '',
      mono: /mono|Menlo|Consolas/i.test(getComputedStyle(ta).fontFamily),
      lines: ta.value.split('\n').length,
      count: document.querySelector('[data-testid="yaml-lines"]')?.textContent ?? '',
      gutter: document.querySelector('[data-testid="yaml-gutter"]')?.textContent.split('\n').length ?? 0,
    };
  });
  assert(
    yamlView.label.startsWith('YAML') && yamlView.mono && yamlView.count === `${yamlView.lines} lines` && yamlView.gutter === yamlView.lines,
    `the YAML view is labelled, monospace, with line numbers and count (${JSON.stringify(yamlView)})`
  );
  await shoot('edit-yaml');
  await page.getByRole('group', { name: 'Editor' }).getByRole('radio', { name: 'Form' }).check();
  await page.waitForSelector('#dps-plugin-id');
  // Saving an unchanged form sends nothing.
  let puts = 0;
  const countPuts = (r) => {
    if (r.method() === 'PUT' && r.url().includes(`${API}/${NAME}`)) {
      puts++;
    }
  };
  page.on('request', countPuts);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(new RegExp(`/ui/services/${NAME}$`));
  await page.getByRole('heading', { name: 'Spec' }).waitFor();
  page.off('request', countPuts);
  assert(puts === 0, `saving an unchanged form sends no PUT (${puts})`);
  await page.getByRole('button', { name: 'Edit' }).click();
  await page.waitForURL(new RegExp(`/ui/services/${NAME}/edit$`));
  await page.waitForSelector('#dps-plugin-id');
  await fill('#dps-plugin-id', 'e2e-datasource-v2');
  const put1 = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith(`${API}/${NAME}`) && r.request().method() === 'PUT');
  await page.getByRole('button', { name: 'Save' }).click();
  assert((await put1).status() === 200, 'PUT through the form answered 200');
  await page.waitForURL(new RegExp(`/ui/services/${NAME}$`));
  await page.getByText('e2e-datasource-v2', { exact: true }).waitFor();
  assert(true, 'edited plugin ID shows on the detail page');

  // --- Server-side validation error next to the field ------------------------------------------
  await page.getByRole('button', { name: 'Edit' }).click();
  await page.waitForSelector('#dps-group');
  await fill('#svc-1-path', '/a//b');
  await page.getByRole('button', { name: 'Save' }).click();
  assert((await page.getByTestId('field-spec.services[1].path').textContent()).includes('empty segments'), 'client-side path check');
  await fill('#svc-1-path', '/things/{name}');
  await fill('#dps-group', BLOCKED_GROUP); // valid syntax, but claimed by the blocker object
  const put2 = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith(`${API}/${NAME}`) && r.request().method() === 'PUT');
  await page.getByRole('button', { name: 'Save' }).click();
  const put2Resp = await put2;
  assert(put2Resp.status() === 422, `server rejects the claimed group/version with 422 (got ${put2Resp.status()})`);
  const groupField = page.getByTestId('field-spec.group');
  await groupField.getByText(/already claimed/).waitFor();
  assert((await groupField.textContent()).includes(BLOCKER), "the server's 422 cause is shown next to the Group field");
  await shoot('edit-server-error');
  // A failed save is brought into view and focused, however long the form (issue: the alert
  // appeared ~730 px above the viewport and focus went to the body).
  const long = (await api('GET', `${API}/${NAME}`)).body;
  long.spec.services = [{ type: 'query' }, ...Array.from({ length: 14 }, (_, i) => ({ type: 'route', method: 'GET', path: `/r${i}/{x}` }))];
  assert((await api('PUT', `${API}/${NAME}`, long, { Authorization: `Bearer ${DPA_TOKEN}` })).status === 200, 'a service with a long form');
  // (The form above was left with unsaved changes, which this tab keeps: drop them first.)
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${DPA_URL}/ui/services/${NAME}/edit`);
  await page.waitForSelector('#svc-14-path');
  await fill('#dps-plugin-id', 'e2e-datasource-v3');
  await page.locator('#svc-14-path').scrollIntoViewIfNeeded();
  const inView = async (loc) =>
    loc.evaluate((el) => {
      const r = el.getBoundingClientRect();
      return r.top >= 0 && r.top < window.innerHeight && el.contains(document.activeElement);
    });
  await page.route(new RegExp(`${API}/${NAME}\\?`), (route) => (route.request().method() === 'PUT' ? route.abort('failed') : route.continue()));
  await page.getByRole('button', { name: 'Save' }).click();
  const saveAlerts = page.getByTestId('save-alerts');
  await saveAlerts.getByText(/dpa did not answer/).waitFor();
  assert(await inView(saveAlerts), 'a network failure on save is shown in view and focused, in words (not "Failed to fetch")');
  await page.unroute(new RegExp(`${API}/${NAME}\\?`));
  const cur = (await api('GET', `${API}/${NAME}`)).body;
  cur.metadata.labels = { ...(cur.metadata.labels || {}), touched: 'by-someone-else' };
  assert((await api('PUT', `${API}/${NAME}`, cur, { Authorization: `Bearer ${DPA_TOKEN}` })).status === 200, 'someone else changes the service');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByTestId('conflict-alert').waitFor();
  assert(await inView(saveAlerts), 'a 409 conflict on save is shown in view and focused');
  const conflictDiff = saveAlerts.getByTestId('diff');
  await conflictDiff.waitFor();
  assert(
    (await conflictDiff.locator('[data-op="-"]').allTextContents()).some((t) => t.includes('touched: by-someone-else')) &&
      (await conflictDiff.locator('[data-op="+"]').allTextContents()).some((t) => t.includes('e2e-datasource-v3')),
    'the 409 shows what changed: their version against the user\'s edits'
  );
  await shoot('edit-conflict-diff');
  await saveAlerts.getByRole('button', { name: 'Keep my changes' }).click();
  const put3 = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith(`${API}/${NAME}`) && r.request().method() === 'PUT');
  await page.getByRole('button', { name: 'Save' }).click();
  assert((await put3).status() === 200, 'after "Keep my changes" the save goes through on top of the current version');
  await page.waitForURL(new RegExp(`/ui/services/${NAME}$`));
  assert((await api('GET', `${API}/${NAME}`)).body.spec.pluginID === 'e2e-datasource-v3', 'the user\'s change is stored');

  // A dry run shows the server's 422 before anything is applied.
  await page.goto(`${DPA_URL}/ui/services/${NAME}/edit`);
  await page.waitForSelector('#dps-group');
  await fill('#dps-group', BLOCKED_GROUP);
  const dry = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith(`${API}/${NAME}`) && r.request().method() === 'PUT');
  await page.getByRole('button', { name: 'Review changes' }).click();
  const dryResp = await dry;
  assert(dryResp.status() === 422 && new URL(dryResp.url()).searchParams.get('dryRun') === 'All', `Review changes is a server-side dry run (${dryResp.status()})`);
  await page.getByTestId('field-spec.group').getByText(/already claimed/).waitFor();
  assert((await api('GET', `${API}/${NAME}`)).body.spec.group === GROUP, 'the dry run\'s 422 shows at the field, and nothing was applied');
  await fill('#dps-group', GROUP);
  await fill('#dps-version', 'v2');
  await page.getByRole('button', { name: 'Review changes' }).click();
  const review = page.getByTestId('review');
  await review.waitFor();
  assert((await review.locator('[data-op="+"]').allTextContents()).some((t) => t.includes('version: v2')), 'a successful dry run shows the diff of what would be stored');
  await shoot('edit-review');
  assert((await api('GET', `${API}/${NAME}`)).body.spec.version === 'v1', 'reviewing stores nothing');

  // The session ends mid-edit: sign in again and the edits are still there.
  await fill('#dps-plugin-id', 'kept-across-sign-in');
  await context.clearCookies();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/\/ui\/login/);
  await page.fill('#token', DPA_TOKEN);
  await Promise.all([page.waitForURL(new RegExp(`/ui/services/${NAME}/edit$`)), page.click('button[type=submit]')]);
  await page.getByTestId('restored-alert').waitFor();
  assert(
    (await page.inputValue('#dps-plugin-id')) === 'kept-across-sign-in' && (await page.inputValue('#dps-version')) === 'v2',
    'after the session ended mid-edit and the user signed in again, the form has their changes'
  );
  await shoot('edit-restored');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(new RegExp(`/ui/services/${NAME}$`));
  const stored = (await api('GET', `${API}/${NAME}`)).body.spec;
  assert(stored.pluginID === 'kept-across-sign-in' && stored.version === 'v2', 'and saving them stores them');

  // The YAML view leaves out kubectl's last-applied copy of the object.
  await page.goto(`${DPA_URL}/ui/services/${BLOCKER}`);
  await page.getByRole('heading', { name: 'Spec' }).waitFor();
  const blockerText = await page.textContent('main');
  assert(!blockerText.includes('last-applied-configuration') && blockerText.includes('team: e2e'), 'the YAML view drops last-applied-configuration and keeps other annotations');
  await page.goto(`${DPA_URL}/ui/services/${NAME}/edit`);
  await page.waitForSelector('#dps-group');
  // Cancel on a changed form asks first.
  await fill('#dps-plugin-id', 'changed-then-cancelled');
  await page.getByRole('button', { name: 'Cancel' }).click();
  const discard = page.getByRole('dialog');
  await discard.getByText('Discard your changes?').waitFor();
  await discard.getByRole('button', { name: 'Keep editing' }).click();
  assert((await page.inputValue('#dps-plugin-id')) === 'changed-then-cancelled', 'Keep editing keeps the changes');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Discard' }).click();
  await page.waitForURL(new RegExp(`/ui/services/${NAME}$`));

  // --- Delete with confirmation --------------------------------------------------------------
  await page.getByRole('heading', { name: 'Spec' }).waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert((await dialog.textContent()).includes(`Delete ${NAME}?`), 'delete asks for confirmation');
  await page.waitForFunction(() => document.activeElement?.textContent?.trim() === 'Cancel');
  assert(true, 'the delete dialog opens with Cancel focused (Enter does not delete)');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await page.waitForFunction(() => document.activeElement?.textContent?.trim() === 'Delete');
  assert(true, 'focus returns to the Delete button when the dialog closes');
  await page.getByRole('button', { name: 'Delete' }).click();
  await dialog.waitFor();
  await shoot('delete-confirm');
  const del = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith(`${API}/${NAME}`) && r.request().method() === 'DELETE');
  await dialog.getByRole('button', { name: 'Delete' }).click();
  assert((await del).status() === 200, 'DELETE answered 200');
  await page.waitForURL(/\/ui\/$/);
  await page.getByTestId(`row-${NAME}`).waitFor({ state: 'detached' });
  assert((await page.getByTestId('flash').textContent()).includes(`Deleted ${NAME}`), 'the list after a delete confirms it');
  assert((await api('GET', `${API}/${NAME}`)).status === 404, 'the object is gone');
  await shoot('list-after-delete');


  // --- Installed plugins: the same truth as kubectl -------------------------------------------
  await page.goto(`${DPA_URL}/ui/`);
  await page.getByRole('button', { name: 'Installed plugins' }).click();
  await page.waitForURL(/\/ui\/plugins$/);
  await page.getByTestId('plugin-example-datasource').waitFor();
  const kubectlIDs = JSON.parse(kubectl('get', 'plugins.aggregation.grafana.app', '-o', 'json')).items.map((o) => o.metadata.name).sort();
  const uiIDs = (await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-testid').replace(/^plugin-/, '')))).sort();
  assert(JSON.stringify(uiIDs) === JSON.stringify(kubectlIDs), `the plugins page lists what kubectl get plugins lists (${uiIDs})`);
  await page.getByTestId('plugin-example-datasource').getByText(/Running · 1\/1/).waitFor({ timeout: 30000 });
  assert(true, 'the example datasource runs on the one replica');
  await shoot('plugins');
  // The editor picks a plugin from them and prefills the services it serves.
  await page.goto(`${DPA_URL}/ui/new`);
  await page.locator('#dps-installed').click();
  await page.getByText('Example Datasource (example-datasource)').first().click();
  assert((await page.inputValue('#dps-plugin-id')) === 'example-datasource', 'picking an installed plugin fills in its id');
  const prefilled = await page.locator('[data-testid^="service-"]:not([data-testid$="-support"]):not([data-testid$="-error"])').count();
  assert(prefilled >= 3, `and prefills the services it serves (${prefilled})`);
  await fill('#dps-plugin-id', `nobody-installed-${suffix}`);
  assert((await page.getByTestId('plugin-not-installed').textContent()).includes('PluginNotFound'), 'an id no plugin has is flagged before saving');
  await shoot('create-from-plugin');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Discard' }).click();
  await page.waitForURL(/\/ui\/$/);

  // --- 300 services: the fleet view --------------------------------------------------------
  // 150 of a plugin that is not installed (PluginNotFound), 150 of the example datasource.
  const FLEET = 300;
  const fleetName = (i) => `fleet-${suffix}-${String(i).padStart(3, '0')}`;
  const started = Date.now();
  for (let i = 0; i < FLEET; i += 25) {
    await Promise.all(
      Array.from({ length: 25 }, async (_, j) => {
        const n = i + j;
        const o = dps(fleetName(n), `${fleetName(n)}.grafana.app`);
        o.metadata.labels = { 'e2e-fleet': suffix };
        o.spec.pluginID = n % 2 === 0 ? `missing-${suffix}` : 'example-datasource';
        const r = await api('POST', API, o, { Authorization: `Bearer ${DPA_TOKEN}` });
        if (r.status !== 201) {
          throw new AssertionError(`creating ${fleetName(n)}: ${r.status} ${JSON.stringify(r.body)}`);
        }
      })
    );
  }
  log(`created ${FLEET} services in ${Date.now() - started} ms`);
  let listGets = 0;
  let watches = 0;
  const countLists = (r) => {
    const u = new URL(r.url());
    if (u.pathname === API && r.method() === 'GET') {
      if (u.searchParams.get('watch')) {
        watches++;
      } else {
        listGets++;
      }
    }
  };
  page.on('request', countLists);
  const t0 = Date.now();
  await page.goto(`${DPA_URL}/ui/`);
  await page.getByTestId(`row-${BLOCKER}`).waitFor();
  const firstRender = Date.now() - t0;
  assert((await page.locator('tbody tr').count()) === 50, 'the list shows one page of 50 rows, not 300+');
  assert(/\d+ services · showing 1–50/.test(await page.getByTestId('list-count').textContent()), `the list says how many there are (${await page.getByTestId('list-count').textContent()})`);
  // Condition reasons are counted: PluginNotFound for the 150 (and the blocker).
  await page.getByTestId('reason-filter').getByText(/^\d+ PluginNotFound$/).waitFor({ timeout: 30000 });
  for (let i = 0; i < 60; i++) {
    const t = await page.getByTestId('reason-filter').getByText(/^\d+ PluginNotFound$/).textContent();
    if (parseInt(t, 10) >= FLEET / 2 + 1) {
      break;
    }
    await page.waitForTimeout(500);
  }
  const nf = parseInt(await page.getByTestId('reason-filter').getByText(/^\d+ PluginNotFound$/).textContent(), 10);
  assert(nf >= FLEET / 2 + 1, `the reason count covers the 150 services without a plugin (${nf} PluginNotFound)`);
  log(`first render of ${FLEET}+ services: ${firstRender} ms`);
  // Keyboard: the skip links are the first two Tab stops; the pager is 3 presses away.
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
  await page.keyboard.press('Tab');
  assert((await page.evaluate(() => document.activeElement?.textContent)) === 'Skip to table', 'the first Tab stop on the list is "Skip to table"');
  const skipVisible = await page.evaluate(() => {
    const r = document.activeElement.getBoundingClientRect();
    return r.width > 20 && r.height > 10 && r.top >= 0;
  });
  assert(skipVisible, 'the focused skip link is visible');
  await page.keyboard.press('Tab');
  assert((await page.evaluate(() => document.activeElement?.textContent)) === 'Skip to pager', 'the second is "Skip to pager"');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  const onPager = await page.evaluate(() => {
    const a = document.activeElement;
    const r = a.getBoundingClientRect();
    return { inPager: !!a.closest('nav[aria-label="Pages"]'), inView: r.top >= 0 && r.bottom <= window.innerHeight, text: a.textContent };
  });
  assert(onPager.inPager && onPager.inView, `Enter on it, then Tab: a pager button, in view (${JSON.stringify(onPager)})`);
  await page.keyboard.press('Shift+Tab');
  await page.evaluate(() => document.activeElement?.blur());
  await shoot('fleet');
  // Filter by reason: every row says PluginNotFound, and the filter is in the URL.
  await page.getByTestId('reason-filter').getByText(/^\d+ PluginNotFound$/).click();
  await page.waitForFunction(() => location.search.includes('reason=PluginNotFound'));
  const reasons = await page.locator('tbody [data-testid="ready-reason"]').allTextContents();
  assert(reasons.length === 50 && reasons.every((r) => r === 'PluginNotFound'), 'filtering by reason shows only PluginNotFound rows');
  // Sort by name, descending; the next page; all survives a reload.
  await page.getByRole('columnheader', { name: /Name/ }).getByRole('button').click(); // ascending is the default
  await page.waitForFunction(() => location.search.includes('sort=-name'));
  assert((await page.locator('tbody tr').first().getAttribute('data-testid')) === `row-${fleetName(298)}`, 'sorted by name, descending');
  await page.getByRole('button', { name: 'next page' }).click();
  await page.waitForFunction(() => location.search.includes('page=2'));
  assert((await page.locator('tbody tr').first().getAttribute('data-testid')) === `row-${fleetName(198)}`, 'the second page starts where the first ended');
  await page.reload();
  await page.locator('tbody tr').first().waitFor();
  const afterReload = await page.locator('tbody [data-testid="ready-reason"]').allTextContents();
  assert(
    (await page.locator('tbody tr').first().getAttribute('data-testid')) === `row-${fleetName(198)}` &&
      afterReload.length > 0 &&
      afterReload.every((r) => r === 'PluginNotFound'),
    'filter, sort and page survive a reload (they live in the URL)'
  );
  await page.goto(`${DPA_URL}/ui/?q=${fleetName(1)}`);
  const live = page.getByTestId(`row-${fleetName(1)}`);
  await live.waitFor();
  // A change made with kubectl shows up through the watch, without a reload or polling.
  assert(watches >= 1, `the list opened a Kubernetes watch (${watches} watch requests so far)`);
  listGets = 0;
  await page.waitForTimeout(1000);
  kubectl('patch', 'dataplaneservices.aggregation.grafana.app', fleetName(1), '--type=merge', '-p', JSON.stringify({ spec: { pluginID: `missing-${suffix}` } }));
  await live.getByText('PluginNotFound').waitFor({ timeout: 30000 });
  assert(true, 'a kubectl patch shows up in the open list (PluginNotFound) without a reload');
  kubectl('delete', 'dataplaneservices.aggregation.grafana.app', fleetName(1));
  await live.waitFor({ state: 'detached' });
  assert(true, 'a kubectl delete removes the row');
  await page.waitForTimeout(6000);
  assert(listGets === 0, `no polling while the watch is open (${listGets} list requests in ~8 s)`);
  page.off('request', countLists);

  // --- Layouts: 800 px and 1920 px --------------------------------------------------------
  await page.goto(`${DPA_URL}/ui/`);
  await page.locator('tbody tr').first().waitFor();
  for (const width of [800, 1920]) {
    const l = await layoutAt(width);
    assert(l.overflow <= 0 && l.actionsVisible && l.readyVisible, `at ${width} px the list fits: Ready and actions on screen, no horizontal scrollbar (${JSON.stringify(l)})`);
    await shoot(`fleet-${width}px`);
  }
  await page.goto(`${DPA_URL}/ui/services/${BLOCKER}`);
  await page.getByRole('heading', { name: 'Spec' }).waitFor();
  await page.getByRole('table', { name: 'Conditions' }).waitFor({ timeout: 30000 });
  // Its plugin is not installed: the console says so (not "nothing you may call").
  await page.getByTestId('console-empty').waitFor();
  assert(
    (await page.getByTestId('console-empty').textContent()).includes('e2e-blocker is not installed (PluginNotFound)'),
    `the console of a service without its plugin says the plugin is not installed (${await page.getByTestId('console-empty').textContent()})`
  );
  for (const width of [800, 1920]) {
    const l = await layoutAt(width);
    assert(l.overflow <= 0, `at ${width} px the detail page has no horizontal scrollbar (${l.overflow})`);
    const broken = await brokenText(page);
    assert(broken.length === 0, `at ${width} px no word on the detail page is broken across lines, URLs break only after "/"${broken.length ? ':\n  ' + broken.slice(0, 20).join('\n  ') : ''}`);
    await shoot(`detail-${width}px`);
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  const gone = await api('DELETE', `${API}?labelSelector=e2e-fleet%3D${suffix}`, undefined, { Authorization: `Bearer ${DPA_TOKEN}` });
  assert(gone.status === 200, `the fleet is deleted in one request (deletecollection: ${gone.status})`);

  // --- Sign out --------------------------------------------------------------------------------
  const adminSession = (await context.cookies(DPA_URL)).find((c) => c.name === 'dpa_session');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/ui\/login/);
  assert(!(await context.cookies(DPA_URL)).some((c) => c.name === 'dpa_session' && c.value), 'sign-out clears the session cookie');
  await page.goto(`${DPA_URL}/ui/`);
  await page.waitForURL(/\/ui\/login/);
  assert(true, 'after sign-out /ui/ asks to sign in again');
  // The old cookie, put back by hand, is refused: sign-out revoked the session on the server.
  await context.addCookies([adminSession]);
  const reused = await api('GET', API);
  assert(reused.status === 401, `the signed-out session cookie is refused (got ${reused.status})`);
  await context.clearCookies();

  // --- A Viewer sees the services and no write action -------------------------------------------
  const viewed = await api('POST', API, dps(NAME, GROUP), { Authorization: `Bearer ${DPA_TOKEN}` });
  assert(viewed.status === 201, `a service for the Viewer to look at (got ${viewed.status})`);
  await page.goto(`${DPA_URL}/ui/`);
  await page.waitForURL(/\/ui\/login/);
  let reviews = 0;
  page.on('response', (r) => {
    if (r.url().endsWith('/selfsubjectaccessreviews') && r.status() === 201) {
      reviews++;
    }
  });
  await page.fill('#token', DPA_VIEWER_TOKEN);
  await Promise.all([page.waitForURL(/\/ui\/$/), page.click('button[type=submit]')]);
  const vrow = page.getByTestId(`row-${NAME}`);
  await vrow.waitFor();
  // What is absent is asserted once the UI has its answers (create, update, delete).
  for (let i = 0; i < 200 && reviews < 3; i++) {
    await page.waitForTimeout(50);
  }
  assert(reviews >= 3, `the UI asked the server what the Viewer may do (${reviews} access reviews)`);
  await page.waitForTimeout(200);
  assert((await page.getByRole('button', { name: 'New service' }).count()) === 0, 'a Viewer sees no New service button');
  assert((await vrow.getByRole('button', { name: `Edit ${NAME}` }).count()) === 0, 'a Viewer sees no Edit action in the list');
  assert((await vrow.getByRole('button', { name: `Delete ${NAME}` }).count()) === 0, 'a Viewer sees no Delete action in the list');
  await shoot('viewer-list');
  await vrow.getByRole('link', { name: NAME }).click();
  await page.getByRole('heading', { name: 'Spec' }).waitFor();
  assert((await page.getByRole('button', { name: 'Edit' }).count()) === 0, 'a Viewer sees no Edit button on the detail page');
  assert((await page.getByRole('button', { name: 'Delete' }).count()) === 0, 'a Viewer sees no Delete button on the detail page');
  // A failed load offers Retry (the failure is injected: dpa itself stays up).
  const objURL = `${DPA_URL}${API}/${NAME}`;
  await page.route(objURL, (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"kind":"Status","code":503,"message":"injected"}' }));
  await page.goto(`${DPA_URL}/ui/services/${NAME}`);
  const retry = page.getByRole('button', { name: 'Retry' });
  await retry.waitFor();
  await page.unroute(objURL);
  await retry.click();
  await page.getByRole('heading', { name: 'Spec' }).waitFor();
  assert(true, 'the detail page offers Retry after a failed load, and it loads');
  // An app plugin's URLs are per namespace (from pkg/routes' endpoints), never a datasource's.
  const APP = `e2e-app-${suffix}`;
  const appObj = {
    apiVersion: 'aggregation.grafana.app/v0alpha1',
    kind: 'DataPlaneService',
    metadata: { name: APP },
    spec: { pluginID: 'e2e-app', pluginType: 'app', group: `${APP}.grafana.app`, version: 'v1', services: [{ type: 'resource' }, { type: 'stream' }] },
  };
  assert((await api('POST', API, appObj, { Authorization: `Bearer ${DPA_TOKEN}` })).status === 201, 'an app service to look at');
  await page.goto(`${DPA_URL}/ui/services/${APP}`);
  await page.getByRole('heading', { name: 'Spec' }).waitFor();
  const appText = await page.textContent('main');
  assert(
    appText.includes(`/apis/${APP}.grafana.app/v1/namespaces/{namespace}/resource/{path...}`) &&
      appText.includes(`/apis/${APP}.grafana.app/v1/namespaces/{namespace}/stream/{path...}`) &&
      !appText.includes('/datasources/{uid}'),
    "an app plugin's detail page shows per-namespace URLs, none under datasources"
  );
  await context.request
    .delete(`${DPA_URL}${API}/${APP}`, { headers: { Authorization: `Bearer ${DPA_TOKEN}` }, failOnStatusCode: false })
    .catch(() => {});
  const viewerWrite = await api('DELETE', `${API}/${NAME}`, undefined, { 'X-DPA-CSRF': '1' });
  assert(viewerWrite.status === 403, `the server refuses the Viewer's delete too (got ${viewerWrite.status})`);
  await shoot('viewer-detail');
  assert(iconIssues.size === 0, `every page has an icon that is served${iconIssues.size ? ':\n  ' + [...iconIssues].join('\n  ') : ''}`);
  assert(problems.length === 0, `no asset or page answered 4xx/5xx and no console error on any page${problems.length ? ':\n  ' + problems.join('\n  ') : ''}`);
  assert(axeViolations.length === 0, `axe-core finds no violations on any page in either theme${axeViolations.length ? ':\n  ' + axeViolations.join('\n  ') : ''}`);
  assert(uncompressed.size === 0, `the bundle is served compressed (${[...uncompressed].join(', ') || 'all'})`);
} catch (e) {
  failures++;
  console.error(`FAIL: ${e instanceof AssertionError ? e.message : e.stack || e}`);
  try {
    await page.screenshot({ path: path.join(OUT, 'failure.png'), fullPage: true });
  } catch {}
} finally {
  // Clean up with the bearer token (the session may be gone).
  for (const n of [NAME, BLOCKER]) {
    await context.request
      .delete(`${DPA_URL}${API}/${n}`, { headers: { Authorization: `Bearer ${DPA_TOKEN}` }, failOnStatusCode: false })
      .catch(() => {});
  }
  await context.request
    .delete(`${DPA_URL}${API}?labelSelector=e2e-fleet%3D${suffix}`, { headers: { Authorization: `Bearer ${DPA_TOKEN}` }, failOnStatusCode: false })
    .catch(() => {});
  await close();
}

if (failures && problems.length) {
  console.error('also seen in the browser:\n  ' + problems.join('\n  '));
}
if (failures) {
  console.error(`e2e FAILED (screenshots in ${OUT})`);
  process.exit(1);
}
log(`e2e passed; screenshots in ${OUT}`);
