import { fleetView, formatQuery, parseQuery, readiness, DEFAULT_QUERY } from '../api/fleet';
import { ListWatch, lineSplitter } from '../api/listwatch';
import type { DataPlaneService } from '../api/types';
import { dps } from './harness';

const cond = (type: string, status: 'True' | 'False' | 'Unknown', reason = '', message = '') => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});
const ready = (name: string, over = {}) =>
  dps(name, over, { conditions: [cond('Registered', 'True', 'RoutesRegistered'), cond('Available', 'True', 'PluginServing')] });
const notFound = (name: string) =>
  dps(name, {}, { conditions: [cond('Registered', 'True', 'RoutesRegistered'), cond('Available', 'False', 'PluginNotFound', 'no plugin x')] });
const conflict = (name: string) =>
  dps(name, {}, { conditions: [cond('Registered', 'False', 'Conflict', 'claimed by y'), cond('Available', 'Unknown')] });

describe('readiness', () => {
  it.each([
    ['no conditions', dps('a'), { state: 'Pending' }],
    ['all true', ready('a'), { state: 'Ready' }],
    ['a False condition names it', notFound('a'), { state: 'NotReady', condition: 'Available', reason: 'PluginNotFound', message: 'no plugin x' }],
    ['False wins over an earlier Unknown', dps('a', {}, { conditions: [cond('Available', 'Unknown'), cond('Registered', 'False', 'Conflict')] }), { state: 'NotReady', condition: 'Registered', reason: 'Conflict' }],
    ['Unknown without a reason', dps('a', {}, { conditions: [cond('Available', 'Unknown')] }), { state: 'NotReady', condition: 'Available', reason: 'AvailableUnknown' }],
  ])('%s', (_, o, want) => {
    expect(readiness(o as DataPlaneService)).toMatchObject(want);
  });
});

describe('query state in the URL', () => {
  it('round-trips and writes only what differs from the defaults', () => {
    expect(formatQuery(DEFAULT_QUERY)).toBe('');
    const f = { q: 'prom', type: 'app' as const, status: 'NotReady' as const, reason: 'PluginNotFound', sort: 'age' as const, desc: true, page: 3 };
    expect(formatQuery(f)).toBe('q=prom&type=app&status=NotReady&reason=PluginNotFound&sort=-age&page=3');
    expect(parseQuery(formatQuery(f))).toEqual(f);
  });
  it('falls back to defaults on bad values', () => {
    expect(parseQuery('type=panel&status=Weird&sort=-bogus&page=-2')).toEqual(DEFAULT_QUERY);
  });
});

describe('fleetView', () => {
  const items = [
    ...Array.from({ length: 150 }, (_, i) => notFound(`nf-${String(i).padStart(3, '0')}`)),
    ...Array.from({ length: 140 }, (_, i) => ready(`ok-${String(i).padStart(3, '0')}`)),
    ...Array.from({ length: 10 }, (_, i) => conflict(`cf-${i}`)),
    dps('pending-1'),
    dps('pending-2'),
    ready('zz-app', { pluginType: 'app' }),
  ];

  it('counts states and reasons, most frequent reason first', () => {
    const v = fleetView(items, DEFAULT_QUERY);
    expect(v.byState).toEqual({ Ready: 141, NotReady: 160, Pending: 2 });
    expect(v.byReason).toEqual([
      { reason: 'PluginNotFound', count: 150 },
      { reason: 'Conflict', count: 10 },
    ]);
    expect(v.matched).toBe(303);
    expect(v.pages).toBe(7);
    expect(v.rows).toHaveLength(50);
  });

  it('filters by reason, by text matching a reason, and by type', () => {
    expect(fleetView(items, { ...DEFAULT_QUERY, reason: 'Conflict' }).matched).toBe(10);
    expect(fleetView(items, { ...DEFAULT_QUERY, q: 'pluginnotfound' }).matched).toBe(150);
    expect(fleetView(items, { ...DEFAULT_QUERY, q: 'claimed by' }).matched).toBe(10);
    expect(fleetView(items, { ...DEFAULT_QUERY, status: 'Pending' }).rows.map((o) => o.metadata.name)).toEqual(['pending-1', 'pending-2']);
    const apps = fleetView(items, { ...DEFAULT_QUERY, type: 'app' });
    expect(apps.matched).toBe(1);
    // Counts follow the text and type filters, not the state filter they drive.
    expect(apps.byState).toEqual({ Ready: 1, NotReady: 0, Pending: 0 });
    expect(fleetView(items, { ...DEFAULT_QUERY, status: 'Ready' }).byState.NotReady).toBe(160);
  });

  it('sorts by readiness (not ready first) and descending, and pages', () => {
    const v = fleetView(items, { ...DEFAULT_QUERY, sort: 'ready' });
    expect(v.rows[0].metadata.name).toBe('cf-0'); // Conflict < PluginNotFound
    const d = fleetView(items, { ...DEFAULT_QUERY, sort: 'name', desc: true });
    expect(d.rows[0].metadata.name).toBe('zz-app');
    const last = fleetView(items, { ...DEFAULT_QUERY, page: 7 });
    expect(last.rows).toHaveLength(3);
    expect(last.page).toBe(7);
    // A page past the end shows the last page.
    expect(fleetView(items, { ...DEFAULT_QUERY, page: 99 }).page).toBe(7);
  });
});

describe('ListWatch', () => {
  const list = (items: DataPlaneService[], rv: string) => ({ items, metadata: { resourceVersion: rv } });
  const ev = (type: string, o: DataPlaneService, rv: string) =>
    JSON.stringify({ type, object: { ...o, metadata: { ...o.metadata, resourceVersion: rv } } }) + '\n';

  it('splits lines across chunks', () => {
    const s = lineSplitter();
    expect(s('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s(':2}\n\n')).toEqual(['{"b":2}']);
  });

  it('lists, watches from the list version, applies events in one batch, resumes, relists on 410', async () => {
    const urls: string[] = [];
    let lists = 0;
    const src = {
      collectionURL: () => '/apis/x',
      list: async () => (++lists === 1 ? list([ready('a'), ready('b')], '10') : list([ready('z')], '50')),
    };
    const streams: Array<() => AsyncGenerator<string>> = [
      async function* () {
        // Split mid-line: the event must still parse.
        const s = ev('ADDED', ready('c'), '11') + ev('DELETED', ready('a'), '12') + ev('MODIFIED', notFound('b'), '13');
        yield s.slice(0, 17);
        yield s.slice(17);
        yield JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '20' } } }) + '\n';
      },
      async function* () {
        await new Promise((r) => setTimeout(r, 50)); // after the batch above was delivered
        yield JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }) + '\n';
      },
      async function* () {
        await new Promise(() => {}); // stays open
      },
    ];
    const updates: string[][] = [];
    let done: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const lw = new ListWatch(
      src,
      (items) => {
        updates.push(items.map((o) => `${o.metadata.name}:${o.status?.conditions?.[1]?.status}`).sort());
        if (updates.length === 3) {
          done();
        }
      },
      () => {},
      {
        batchMs: 5,
        stream: (url) => {
          urls.push(url);
          return streams[urls.length - 1]();
        },
      }
    ).start();
    await finished;
    await new Promise((r) => setTimeout(r, 20)); // the watch after the relist opens
    lw.stop();
    expect(updates).toEqual([
      ['a:True', 'b:True'], // the list
      ['b:False', 'c:True'], // three events, one update
      ['z:True'], // relisted after 410 Gone
    ]);
    expect(urls[0]).toBe('/apis/x?watch=1&allowWatchBookmarks=true&resourceVersion=10');
    // The second watch resumes from the bookmark's version.
    expect(urls[1]).toContain('resourceVersion=20');
    expect(urls[2]).toContain('resourceVersion=50');
    expect(lists).toBe(2);
  });

  it('reports errors and retries; polls without a stream', async () => {
    let calls = 0;
    const errors: Array<unknown> = [];
    const seen: number[] = [];
    const src = {
      collectionURL: () => '/apis/x',
      list: async () => {
        calls++;
        if (calls === 1) {
          throw new Error('down');
        }
        return list([ready(`o${calls}`)], String(calls));
      },
    };
    let done: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const lw = new ListWatch(
      src,
      (items) => {
        seen.push(items.length);
        if (calls >= 3) {
          done();
        }
      },
      (e) => errors.push(e),
      { pollMs: 5, retryMs: 5 }
    ).start();
    await finished;
    lw.stop();
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[1]).toBeNull(); // cleared once a list works again
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(lw.watches).toBe(0);
  });
});

describe('ListWatch pages', () => {
  const page = (items: DataPlaneService[], rv: string, cont?: string, remaining?: number) => ({
    items,
    metadata: { resourceVersion: rv, continue: cont, remainingItemCount: remaining },
  });

  it('lists in pages of pageSize, shows the first list page by page with its progress, then watches from the snapshot', async () => {
    const calls: Array<Record<string, string> | undefined> = [];
    const pages = [page([ready('a'), ready('b')], '7', 'c1', 3), page([ready('c'), ready('d')], '7', 'c2', 1), page([ready('e')], '7')];
    const src = {
      collectionURL: () => '/apis/x',
      list: async (params?: Record<string, string>) => {
        calls.push(params);
        return pages[calls.length - 1];
      },
    };
    const seen: Array<[string[], unknown]> = [];
    const urls: string[] = [];
    let done: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const lw = new ListWatch(
      src,
      (items, loading) => {
        seen.push([items.map((o) => o.metadata.name).sort(), loading]);
        if (!loading) {
          done();
        }
      },
      () => {},
      {
        pageSize: 2,
        progressive: true,
        stream: (url) => {
          urls.push(url);
          return (async function* () {
            await new Promise(() => {});
          })();
        },
      }
    ).start();
    await finished;
    await new Promise((r) => setTimeout(r, 10));
    lw.stop();
    expect(calls).toEqual([{ limit: '2' }, { limit: '2', continue: 'c1' }, { limit: '2', continue: 'c2' }]);
    expect(seen).toEqual([
      [['a', 'b'], { loaded: 2, total: 5 }],
      [['a', 'b', 'c', 'd'], { loaded: 4, total: 5 }],
      [['a', 'b', 'c', 'd', 'e'], undefined], // complete: no loading
    ]);
    expect(urls[0]).toContain('resourceVersion=7');
  });

  it('without progressive, or on a later list, delivers only whole collections', async () => {
    const pages = [page([ready('a')], '3', 'k', 1), page([ready('b')], '3')];
    let n = 0;
    const src = { collectionURL: () => '/apis/x', list: async () => pages[n++ % 2] };
    const seen: Array<[number, unknown]> = [];
    let done: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const lw = new ListWatch(
      src,
      (items, loading) => {
        seen.push([items.length, loading]);
        done();
      },
      () => {},
      { pageSize: 1, pollMs: 1000 }
    ).start();
    await finished;
    lw.stop();
    expect(seen).toEqual([[2, undefined]]);
  });
});
