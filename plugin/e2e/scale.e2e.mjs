#!/usr/bin/env node
// The service list at 10,000 DataPlaneServices, in real headless Chromium against a real
// `dpa serve` (issue 24). scripts/ui-e2e.sh runs it last: it adds SCALE_N (10,000) objects to
// the server's storage through the API, 16 requests at a time, then a fresh browser profile
// signs in and opens /ui/.
//
//   DPA_URL=https://127.0.0.1:6443 DPA_TOKEN=… DPA_VIEWER_TOKEN=… node e2e/scale.e2e.mjs
//
// Checked: the list shows every object (the total in the page) once loaded, a page of rows, the
// bytes the browser received for the list (encoded, as transferred, every page of it) stay
// ≤ 2 MB, and no asset or console error. Reported, not asserted (speed is measured, never a
// timed assertion): time from navigation to the first row (the list comes in pages of 500,
// the first shown at once), the list's bytes decoded and transferred, the page's JS heap.
import https from 'node:https';
import { API, AssertionError, launch, reporter, testEnv } from './lib.mjs';

const { DPA_URL, DPA_TOKEN } = testEnv();
const N = Number(process.env.SCALE_N || 10000);
const MAX_LIST_BYTES = 2 * 1024 * 1024;
const { log, assert } = reporter('scale-e2e');

// The local dpa's own CA is not the system's: this script only talks to it.
const agent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${DPA_URL}${path}`,
      { method, agent, headers: { Authorization: `Bearer ${DPA_TOKEN}`, 'Content-Type': 'application/json' } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      }
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

async function createServices() {
  const t0 = Date.now();
  let next = 0;
  let created = 0;
  const worker = async () => {
    for (let i = next++; i < N; i = next++) {
      const name = `scale-${String(i).padStart(5, '0')}`;
      const r = await request('POST', API, {
        apiVersion: 'aggregation.grafana.app/v0alpha1',
        kind: 'DataPlaneService',
        metadata: { name },
        spec: {
          pluginID: 'example-datasource',
          pluginType: 'datasource',
          group: `g${String(i).padStart(5, '0')}.scale.grafana.app`,
          version: 'v1',
          services: [{ type: 'query' }, { type: 'health' }],
        },
      });
      if (r.status === 201) {
        created++;
      } else if (r.status !== 409) {
        throw new AssertionError(`creating ${name}: ${r.status} ${r.body.slice(0, 200)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  log(`created ${created} DataPlaneServices in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

let failures = 0;
const { page, problems, close } = await launch('dpa-scale-e2e-');
try {
  await createServices();
  const total = JSON.parse((await request('GET', API)).body).items.length;
  log(`${total} DataPlaneServices stored`);

  await page.goto(`${DPA_URL}/ui/login`);
  await page.fill('#token', DPA_TOKEN);
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/login')), page.press('#token', 'Enter')]);

  // A fresh navigation to the list: every response of the collection (lists, not the watch,
  // which streams until the page leaves) with its sizes.
  const lists = [];
  page.on('response', (resp) => {
    const u = new URL(resp.url());
    if (u.pathname === API && !u.searchParams.has('watch')) {
      lists.push(resp);
    }
  });
  const t0 = Date.now();
  await page.goto(`${DPA_URL}/ui/`);
  await page.waitForSelector('[data-testid^="row-"]', { timeout: 60000 });
  const firstRow = Date.now() - t0;
  log(`first row ${firstRow} ms after navigation`);
  // Every page of the first list has arrived once the loading notice is gone.
  await page.waitForSelector('[data-testid="list-loading"]', { state: 'detached', timeout: 60000 });
  const rows = await page.locator('[data-testid^="row-"]').count();
  assert(rows > 0 && rows <= 100, `the first page shows a page of rows (${rows}), not all ${total}`);
  const text = await page.textContent('main');
  const shown = [...text.matchAll(/\d[\d,.\u202f\u00a0]*/g)].map((m) => Number(m[0].replace(/[^\d]/g, '')));
  assert(shown.includes(total), `the page counts all ${total} services (numbers shown: ${shown.filter((n) => n > 1000).join(', ')})`);

  let transferred = 0;
  let decoded = 0;
  for (const resp of lists) {
    const sizes = await resp.request().sizes();
    transferred += sizes.responseBodySize + sizes.responseHeadersSize;
    decoded += (await resp.body()).length;
  }
  assert(lists.length > 0, 'the page listed the services');
  assert(
    transferred <= MAX_LIST_BYTES,
    `the list of ${total} services transferred ≤ 2 MB: ${(transferred / 1024).toFixed(0)} KiB (${(decoded / 1048576).toFixed(1)} MiB decoded, ${lists.length} requests)`
  );
  const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
  assert(problems.length === 0, `no asset or page answered 4xx/5xx and no console error${problems.length ? ':\n  ' + problems.join('\n  ') : ''}`);
  log(
    `at ${total} services: first row ${firstRow} ms after navigation; list ${(transferred / 1024).toFixed(0)} KiB transferred, ${(decoded / 1048576).toFixed(1)} MiB decoded; JS heap ${(heap / 1048576).toFixed(0)} MiB`
  );
} catch (e) {
  failures++;
  console.error(`scale-e2e: FAIL: ${e.message}`);
} finally {
  await close();
  agent.destroy();
}
if (failures > 0) {
  process.exit(1);
}
log('passed');
