#!/usr/bin/env node
// Browser end-to-end test of the detail page's request console and per-service metrics,
// against a real `dpa serve` with the example plugins (examples/plugins) and datasources
// (examples/provisioning). scripts/ui-e2e.sh runs it after ui.e2e.mjs.
//
//   DPA_URL=https://127.0.0.1:6443 DPA_TOKEN=… DPA_VIEWER_TOKEN=… node e2e/console.e2e.mjs
//
// Env as ui.e2e.mjs: DPA_URL, DPA_TOKEN (a server admin), DPA_VIEWER_TOKEN (an org-1 Viewer),
// TEST_OUTPUT_DIR (default test-output/ui), CHROMIUM (default /usr/bin/chromium), HEADFUL=1.
// Flow: register the example datasource and app (the examples' DataPlaneServices) unless they
// exist; as admin: Test (health) on datasource "example" → OK; a query → 200 and a frames
// table with rows; a resource call (echo); the curl text has the real URL and no token;
// metrics beside the services after some requests; no horizontal overflow at 800 and 1366 px
// (with 25 routes) and at 800 px no word broken across lines, URLs wrapped only after "/";
// a failing stream's error line shown as an error; a query slower than 30 s (dpa runs with
// --timeout query=45s) answered in the console, and Cancel on another; the plugin process
// frozen (SIGSTOP): /ui/plugins says NotResponding with the probe's message and the console
// warns that the service is not available; the app's instance Test; as a Viewer: no
// metrics, the console works. On every page: no asset or document answered 4xx/5xx, no
// console error, an icon that is served.
import fs from 'node:fs';
import path from 'node:path';
import { API, AssertionError, axeCheck, brokenText, iconProblems, launch, reporter, setTheme, testEnv } from './lib.mjs';

const { DPA_URL, DPA_TOKEN, DPA_VIEWER_TOKEN, OUT } = testEnv();
const DS_GROUP = 'example.datasource.grafana.app';
fs.rmSync(path.join(OUT, 'console-failure.png'), { force: true });

let failures = 0;
const { log, assert } = reporter('console-e2e');
const { context, page, problems, close } = await launch('dpa-console-e2e-', { permissions: ['clipboard-read', 'clipboard-write'] });
const iconIssues = new Set();

let shot = 0;
const axeViolations = [];
/** Screenshots in the light and dark themes, each checked with axe-core. */
async function shoot(name) {
  ++shot;
  // Not hovering the last clicked button: @grafana/ui's primary hover colour in the dark theme
  // is 3.55:1 against white text (axe wants 4.5:1) — Grafana's palette (README, "The web UI").
  await page.mouse.move(0, 0);
  for (const mode of ['light', 'dark']) {
    await setTheme(page, mode);
    await page.waitForTimeout(150);
    const file = path.join(OUT, `console-${String(shot).padStart(2, '0')}-${name}-${mode}.png`);
    await page.screenshot({ path: file, fullPage: true });
    axeViolations.push(...(await axeCheck(page, `console ${name} (${mode})`)));
  }
  (await iconProblems(page)).forEach((p) => iconIssues.add(p));
  log(`screenshots: console ${name}`);
}

async function admin(method, url, data) {
  const r = await context.request.fetch(DPA_URL + url, {
    method,
    data: data === undefined ? undefined : JSON.stringify(data),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${DPA_TOKEN}` },
    failOnStatusCode: false,
  });
  return { status: r.status(), body: await r.json().catch(() => undefined) };
}

async function signIn(token) {
  await context.clearCookies();
  await page.goto(`${DPA_URL}/ui/login`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(/\/ui\/$/), page.click('button[type=submit]')]);
}

/** A screenshot of one part of the page (readable at full size). */
async function shootPart(name, locator) {
  const file = path.join(OUT, `console-${String(++shot).padStart(2, '0')}-${name}.png`);
  await locator.screenshot({ path: file });
  log(`screenshot: ${path.basename(file)}`);
}

async function noOverflow(width) {
  await page.setViewportSize({ width, height: 900 });
  await page.waitForTimeout(300);
  const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  assert(m.scroll <= m.inner, `no horizontal overflow at ${width} px (scrollWidth ${m.scroll}, innerWidth ${m.inner})`);
}

/** Picks an option of a @grafana/ui Select by its visible text. */
async function pick(inputId, text) {
  await page.locator(`#${inputId}`).click();
  await page.getByRole('option').filter({ hasText: text }).first().click();
}

// The examples' DataPlaneServices, with 25 routes on the datasource (table width check).
const exampleDS = {
  apiVersion: 'aggregation.grafana.app/v0alpha1',
  kind: 'DataPlaneService',
  metadata: { name: 'example-datasource' },
  spec: {
    pluginID: 'example-datasource',
    pluginType: 'datasource',
    group: DS_GROUP,
    version: 'v0alpha1',
    services: [
      { type: 'query' },
      { type: 'health' },
      { type: 'resource' },
      { type: 'stream' },
      { type: 'metrics' },
      { type: 'admission' },
      { type: 'conversion' },
      { type: 'datasource-proxy' },
      { type: 'route', method: 'GET', path: '/namespaces/{namespace}/datasources/{uid}/items/{id}' },
      { type: 'route', path: '/namespaces/{namespace}/datasources/{uid}/echo' },
      ...Array.from({ length: 23 }, (_, i) => ({
        type: 'route',
        method: 'GET',
        path: `/namespaces/{namespace}/datasources/{uid}/a-rather-long-custom-route-segment-number-${i}/with/{several}/{placeholders}/and-more`,
      })),
    ],
  },
};
const exampleApp = {
  apiVersion: 'aggregation.grafana.app/v0alpha1',
  kind: 'DataPlaneService',
  metadata: { name: 'example-app' },
  spec: { pluginID: 'example-app', pluginType: 'app', group: 'example.app.grafana.app', version: 'v0alpha1', services: [{ type: 'health' }, { type: 'resource' }, { type: 'stream' }] },
};
const created = [];

try {
  for (const o of [exampleDS, exampleApp]) {
    const cur = await admin('GET', `${API}/${o.metadata.name}`);
    if (cur.status === 404) {
      const r = await admin('POST', API, o);
      assert(r.status === 201, `registered ${o.metadata.name} (${r.status})`);
      created.push(o.metadata.name);
    } else {
      log(`${o.metadata.name} exists already: using it`);
    }
  }
  // Wait until the data plane serves the datasource (Available).
  for (let i = 0; i < 100; i++) {
    const r = await admin('GET', `/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/health`);
    if (r.status === 200) {
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  // --- Admin ---------------------------------------------------------------------------------
  await signIn(DPA_TOKEN);
  await page.goto(`${DPA_URL}/ui/services/example-datasource`);
  await page.getByRole('heading', { name: 'Request console' }).waitFor();
  const row = page.getByTestId('target-default/example');
  await row.waitFor();
  await row.getByRole('button', { name: 'Test default/example' }).click();
  const health = page.getByTestId('health-default/example');
  await health.waitFor();
  assert((await health.textContent()).startsWith('OK'), `Test (health) on datasource "example" shows OK (${await health.textContent()})`);

  // A query with the prefilled body (real namespace and uid), with a few rows.
  const prefix = await page.getByTestId('console-prefix').textContent();
  assert(prefix === `/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/query`, `the console's query URL has the real namespace and uid (${prefix})`);
  const body = JSON.parse(await page.locator('#console-body').inputValue());
  body.queries[0].scenario = 'table';
  body.queries[0].points = 5;
  await page.locator('#console-body').fill(JSON.stringify(body, null, 2));
  const curl = await page.getByTestId('console-curl').textContent();
  assert(curl.includes(`'${DPA_URL}/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/query'`), 'the curl command has the real URL');
  assert(curl.includes('Bearer $TOKEN') && !curl.includes(DPA_TOKEN) && !/dpa_session|Cookie/i.test(curl), 'the curl command has a $TOKEN placeholder and no credential');
  const queryResp = page.waitForResponse((r) => r.url().endsWith('/datasources/example/query') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Send' }).click();
  assert((await queryResp).status() === 200, 'the query went to dpa and answered 200');
  await page.getByTestId('console-status').waitFor();
  assert((await page.getByTestId('console-status').textContent()).includes('HTTP 200'), 'the console shows HTTP 200');
  assert(/\d+ ms/.test(await page.getByTestId('console-latency').textContent()), 'the console shows the latency');
  const frame = page.getByTestId('frame-table').first();
  await frame.waitFor();
  const rows = await frame.locator('tbody tr').count();
  assert(rows === 5, `the answer's frame is a table with its rows (${rows})`);
  assert((await frame.locator('thead th').allTextContents()).join(',') === 'time,float,int,string,bool,nullable', 'the frame table has the fields as columns');
  await page.getByText(/Response headers/).click();
  assert((await page.getByRole('table', { name: 'Response headers' }).textContent()).includes('content-type'), 'the response headers are shown');
  await shoot('query');
  await shootPart('query-console', page.locator('section[aria-labelledby="console-h"]'));
  // Send a few more (for the metrics below).
  for (let i = 0; i < 4; i++) {
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByTestId('console-status').waitFor();
  }

  // A resource call: echo with a query string, through the resource endpoint.
  await pick('console-endpoint', 'resource ·');
  await page.waitForFunction(() => document.querySelector('[data-testid="console-prefix"]')?.textContent?.endsWith('/resource/'));
  await page.locator('#console-suffix').fill('echo?x=1');
  const resResp = page.waitForResponse((r) => r.url().includes('/datasources/example/resource/echo?x=1'));
  await page.getByRole('button', { name: 'Send' }).click();
  assert((await resResp).status() === 200, 'the resource call answered 200');
  const echoed = await page.getByTestId('console-body-text').textContent();
  assert(echoed.includes('"path": "/echo"') && echoed.includes('"x"'), 'the resource answer (the echo) is shown');
  assert((await page.getByTestId('console-curl').textContent()).includes(`${DPA_URL}/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/resource/echo?x=1`), 'curl follows the endpoint and suffix');
  await shoot('resource');

  // Per-service metrics for the admin: the queries above show up as traffic.
  const qm = page.getByTestId('metrics-query').first();
  await qm.waitFor({ timeout: 30000 });
  let text = '';
  for (let i = 0; i < 60; i++) {
    text = await qm.textContent();
    if (!text.startsWith('0/s')) {
      break;
    }
    // keep some traffic going until a sample window holds it
    await page.getByRole('button', { name: 'Send' }).click();
    await page.waitForTimeout(500);
  }
  assert(/^\d/.test(text) && /5xx/.test(text) && /p95/.test(text), `metrics are shown beside the query service (${text})`);
  const rm = await page.getByTestId('metrics-resource').first().textContent();
  assert(/\/s/.test(rm), `metrics beside the resource service (${rm})`);
  await shoot('metrics');

  // Layout: 25 routes, no horizontal overflow at 1366 and 800 px.
  await page.evaluate(() => window.scrollTo(0, 0));
  await noOverflow(1366);
  await shoot('1366');
  await shootPart('services-1366', page.locator('section[aria-labelledby="services-h"] tbody tr').nth(0).locator('xpath=ancestor::table'));
  await noOverflow(800);
  // No word of the page broken across lines; URLs (and route paths, shown in full) wrap only
  // after a "/". With the answer and its headers open.
  if (!(await page.locator('details:has(table[aria-label="Response headers"])').evaluate((d) => d.open))) {
    await page.getByText(/Response headers/).click();
  }
  const broken = await brokenText(page);
  assert(broken.length === 0, `at 800 px no word is broken across lines and URLs break only after "/"${broken.length ? ':\n  ' + broken.slice(0, 20).join('\n  ') : ''}`);
  const urlCount = await page.locator('main [data-url]').count();
  const wrapped = await page.locator('main [data-url]').evaluateAll((els) => els.filter((e) => e.getClientRects().length > 1).length);
  assert(urlCount > 25 && wrapped > 0, `the check saw the URLs, some of them wrapped (${wrapped} of ${urlCount})`);
  const routePath = exampleDS.spec.services[12].path;
  assert((await page.textContent('main')).includes(`/apis/${DS_GROUP}/v0alpha1${routePath}`), 'a long route path is on the page in full');
  await shoot('800');
  await shootPart('console-800', page.locator('section[aria-labelledby="console-h"]'));
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.evaluate(() => window.scrollTo(0, 0));

  // A stream that fails: dpa's last line {"error": <Status>} is shown as an error.
  await pick('console-endpoint', 'stream ·');
  await page.waitForFunction(() => document.querySelector('[data-testid="console-prefix"]')?.textContent?.endsWith('/stream/'));
  await page.locator('#console-suffix').fill('fail/2');
  await page.getByRole('button', { name: 'Listen' }).click();
  await page.getByTestId('console-response').waitFor();
  const streamErr = page.getByTestId('console-stream-error');
  const shown = (await streamErr.count()) === 1;
  const errText = shown ? await streamErr.textContent() : `no error shown; the messages: ${await page.getByTestId('console-messages').textContent()}`;
  assert(shown && errText.includes('the fail channel failed after 2 frames') && errText.includes('502'), `a failing stream's error line is shown as an error (${errText.slice(0, 300)})`);
  const msgs = await page.getByTestId('console-messages').textContent();
  assert(!msgs.includes('"error"') && msgs.includes('failAfter'), 'and not among the stream messages');
  await shootPart('stream-error', page.getByTestId('console-response'));

  // A query slower than 30 s (the console's old client limit; dpa's deadline here is 45 s):
  // the console waits, counting, then shows dpa's 200 in view and focused.
  await pick('console-endpoint', 'query · POST /namespaces/{namespace}/datasources/{uid}/query');
  await page.locator('#console-body').waitFor();
  const slow = JSON.parse(await page.locator('#console-body').inputValue());
  slow.queries[0].scenario = 'table';
  slow.queries[0].points = 3;
  slow.queries[0].delay = '35s';
  await page.locator('#console-body').fill(JSON.stringify(slow, null, 2));
  const sentAt = Date.now();
  const slowResp = page
    .waitForResponse((r) => r.url().endsWith('/datasources/example/query') && r.request().method() === 'POST', { timeout: 60000 })
    .catch((e) => e);
  await page.getByRole('button', { name: 'Send' }).click();
  const waiting = page.getByTestId('console-waiting');
  await waiting.waitFor();
  assert((await waiting.getByRole('button', { name: 'Cancel' }).count()) === 1, 'while it waits the console offers Cancel');
  // 31 s on its counter, or an answer (which, before the server's, would be the console giving up).
  await page.waitForFunction(
    () => parseInt(document.querySelector('[data-testid="console-elapsed"]')?.textContent ?? '0', 10) >= 31 || document.querySelector('[data-testid="console-response"]'),
    null,
    { timeout: 40000 }
  );
  const early = (await page.getByTestId('console-response').count()) ? await page.getByTestId('console-response').textContent() : '';
  assert(!early && (await waiting.isVisible()), `after 31 s the console still waits, counting the seconds${early ? ` (it answered after ${Math.round((Date.now() - sentAt) / 1000)} s: ${early.slice(0, 120)})` : ''}`);
  await shootPart('waiting', page.getByTestId('console'));
  const slowAnswer = await slowResp;
  assert(typeof slowAnswer.status === 'function' && slowAnswer.status() === 200, `dpa answered the slow query 200 (${slowAnswer.status?.() ?? slowAnswer})`);
  await page.getByTestId('console-status').waitFor({ timeout: 20000 });
  const took = Date.now() - sentAt;
  assert((await page.getByTestId('console-status').textContent()).includes('HTTP 200') && took >= 34000, `the console shows the server's 200 after ${Math.round(took / 1000)} s`);
  assert((await page.getByTestId('frame-table').first().locator('tbody tr').count()) === 3, 'with the frames of the answer');
  const answerPlace = await page.getByTestId('console-response').evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { top: Math.round(r.top), h: window.innerHeight, focused: el === document.activeElement };
  });
  assert(answerPlace.focused && answerPlace.top >= 0 && answerPlace.top < answerPlace.h, `the answer is in view and focused (${JSON.stringify(answerPlace)})`);
  await shoot('slow-query');

  // Cancel on a second such call: the request is aborted and the console says so.
  const aborted = page.waitForEvent('requestfailed', { predicate: (r) => r.url().endsWith('/datasources/example/query'), timeout: 30000 }).catch((e) => e);
  await page.getByRole('button', { name: 'Send' }).click();
  await waiting.waitFor();
  await page.waitForTimeout(2000);
  await waiting.getByRole('button', { name: 'Cancel' }).click();
  const clickedAt = Date.now();
  await page.getByTestId('console-response').waitFor({ timeout: 45000 });
  const after = Date.now() - clickedAt;
  assert(
    (await page.getByTestId('console-cancelled').count()) === 1 && after < 5000,
    `Cancel ends the wait at once (${after} ms) and says so (${(await page.getByTestId('console-response').textContent()).slice(0, 100)})`
  );
  const abortedReq = await aborted;
  assert(abortedReq.failure?.()?.errorText.includes('ABORTED'), `Cancel aborted the request (${abortedReq.failure?.()?.errorText ?? abortedReq})`);
  assert(/cancelled the call after \d/.test(await page.getByTestId('console-cancelled').textContent()) && (await page.getByRole('button', { name: 'Send' }).isEnabled()), 'the console says it was cancelled, and Send works again');

  // The plugin process frozen (SIGSTOP: it keeps its socket, only the probe notices).
  const pidResp = await admin('GET', `/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/resource/pid`);
  const pid = pidResp.body?.pid;
  assert(pid > 0, `the example datasource's process id (${pid})`);
  process.kill(pid, 'SIGSTOP');
  try {
    await page.goto(`${DPA_URL}/ui/plugins`);
    const prow = page.getByTestId('plugin-example-datasource');
    await prow.waitFor();
    let badge = '';
    for (let i = 0; i < 60 && !/NotResponding/.test(badge); i++) {
      await page.waitForTimeout(500);
      badge = await prow.getByTestId('plugin-running').textContent();
    }
    assert(/^NotResponding · 0\/1$/.test(badge), `/ui/plugins shows the frozen plugin as NotResponding, serving 0 of 1 (${badge})`);
    const nr = (await prow.getByTestId('plugin-not-responding').count()) ? await prow.getByTestId('plugin-not-responding').textContent() : '';
    assert(/probe/.test(nr), `/ui/plugins shows the frozen plugin NotResponding, with the probe's message (${nr})`);
    assert((await prow.getByText(/Running/).count()) === 0, 'and nowhere "Running"');
    await shoot('plugin-frozen');
    await page.goto(`${DPA_URL}/ui/services/example-datasource`);
    const warn = page.getByTestId('console-unavailable');
    await page.getByTestId('console').waitFor();
    for (let i = 0; i < 60 && !(await warn.count()); i++) {
      await page.waitForTimeout(500);
    }
    const warnText = (await warn.count()) ? await warn.textContent() : 'no warning shown';
    assert(
      warnText.includes('PluginNotResponding') && /not responding/.test(warnText),
      `the console warns that the service is not available now, with reason and message (${warnText})`
    );
    await shoot('console-unavailable');
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await page.goto(`${DPA_URL}/ui/plugins`);
  await page.getByTestId('plugin-example-datasource').getByText(/Running · 1\/1/).waitFor({ timeout: 30000 });
  assert(true, 'after SIGCONT the plugin is Running again');

  // The app plugin: one instance per namespace.
  await page.goto(`${DPA_URL}/ui/services/example-app`);
  const appRow = page.getByTestId('target-default');
  await appRow.waitFor();
  await appRow.getByRole('button', { name: 'Test default' }).click();
  await page.getByTestId('health-default').waitFor();
  assert((await page.getByTestId('health-default').textContent()).startsWith('OK'), 'Test on the app instance in default shows OK');
  assert((await page.getByTestId('console-prefix').textContent()).startsWith('/apis/example.app.grafana.app/v0alpha1/namespaces/default/'), 'the app console URL has the real namespace');

  // --- Viewer --------------------------------------------------------------------------------
  await signIn(DPA_VIEWER_TOKEN);
  let metricsCalls = 0;
  page.on('request', (r) => new URL(r.url()).pathname === '/metrics' && metricsCalls++);
  await page.goto(`${DPA_URL}/ui/services/example-datasource`);
  await page.getByTestId('target-default/example').waitFor();
  await page.getByTestId('metrics-hint').waitFor();
  await page.waitForTimeout(3500);
  assert((await page.getByTestId('metrics-query').count()) === 0, 'a Viewer sees no metrics, only the hint');
  assert(metricsCalls === 0, `the UI did not ask /metrics for the Viewer (${metricsCalls})`);
  assert((await page.locator('[role="alert"]').count()) === 0, 'and no error');
  // Admission needs a server admin: not offered to the Viewer, with the reason.
  assert((await page.getByTestId('console-not-offered').textContent()).includes('admission'), 'calls the Viewer may not make are not offered');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByTestId('console-status').waitFor();
  assert((await page.getByTestId('console-status').textContent()).includes('HTTP 200'), 'a Viewer (datasources:query by default) can query');
  await noOverflow(800);
  await shoot('viewer-800');
  assert(axeViolations.length === 0, `axe-core finds no violations on the console in either theme${axeViolations.length ? ':\n  ' + axeViolations.join('\n  ') : ''}`);
  assert(iconIssues.size === 0, `every page has an icon that is served${iconIssues.size ? ':\n  ' + [...iconIssues].join('\n  ') : ''}`);
  assert(problems.length === 0, `no asset or page answered 4xx/5xx and no console error on any page${problems.length ? ':\n  ' + problems.join('\n  ') : ''}`);
} catch (e) {
  failures++;
  console.error(`FAIL: ${e instanceof AssertionError ? e.message : e.stack || e}`);
  try {
    await page.screenshot({ path: path.join(OUT, 'console-failure.png'), fullPage: true });
  } catch {}
} finally {
  for (const n of created) {
    await admin('DELETE', `${API}/${n}`).catch(() => {});
  }
  await close();
}

if (failures && problems.length) {
  console.error('also seen in the browser:\n  ' + problems.join('\n  '));
}
if (failures) {
  console.error(`console e2e FAILED (screenshots in ${OUT})`);
  process.exit(1);
}
log(`console e2e passed; screenshots in ${OUT}`);
