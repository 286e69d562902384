import { formatRate, formatRatio, formatSeconds, histogramQuantile, parsePrometheusText, snapshot, stats } from '../api/prom';

const G = 'example.datasource.grafana.app';

/** dpa's /metrics as client_golang writes it: labels sorted, HELP/TYPE lines, other metrics around. */
function exposition(q200: number, q502: number, buckets200: number[], buckets502: number[], health = 1): string {
  const les = ['0.001', '0.005', '0.01', '0.1', '1', '+Inf'];
  const lines = [
    '# HELP apiserver_request_total Counter of apiserver requests.',
    '# TYPE apiserver_request_total counter',
    'apiserver_request_total{code="200",verb="GET"} 12',
    '# HELP dpa_dataplane_request_duration_seconds Data-plane request duration (streams: until the client leaves).',
    '# TYPE dpa_dataplane_request_duration_seconds histogram',
  ];
  les.forEach((le, i) => lines.push(`dpa_dataplane_request_duration_seconds_bucket{code="200",group="${G}",type="query",version="v0alpha1",le="${le}"} ${buckets200[i]}`));
  les.forEach((le, i) => lines.push(`dpa_dataplane_request_duration_seconds_bucket{code="502",group="${G}",type="query",version="v0alpha1",le="${le}"} ${buckets502[i]}`));
  lines.push(`dpa_dataplane_request_duration_seconds_sum{code="200",group="${G}",type="query",version="v0alpha1"} 0.5`);
  lines.push(`dpa_dataplane_request_duration_seconds_count{code="200",group="${G}",type="query",version="v0alpha1"} ${q200}`);
  lines.push('# HELP dpa_dataplane_requests_total Data-plane requests by API group, version, service type and HTTP status code.');
  lines.push('# TYPE dpa_dataplane_requests_total counter');
  lines.push(`dpa_dataplane_requests_total{code="200",group="${G}",type="query",version="v0alpha1"} ${q200}`);
  lines.push(`dpa_dataplane_requests_total{code="502",group="${G}",type="query",version="v0alpha1"} ${q502}`);
  lines.push(`dpa_dataplane_requests_total{code="200",group="${G}",type="health",version="v0alpha1"} ${health}`);
  // Another group/version must not count.
  lines.push(`dpa_dataplane_requests_total{code="200",group="${G}",type="query",version="v1"} 1000`);
  lines.push(`dpa_dataplane_requests_total{code="200",group="other.grafana.app",type="query",version="v0alpha1"} 1000`);
  return lines.join('\n') + '\n';
}

describe('parsePrometheusText', () => {
  it('reads names, labels (escapes, commas, braces), special values and timestamps; skips comments', () => {
    const s = parsePrometheusText(
      [
        '# HELP x help with "quotes"',
        'up 1',
        'x{a="1",b="with \\"quote\\", comma, {brace} and \\\\ backslash",c="line\\nbreak"} 2.5e-3 1700000000000',
        'y{le="+Inf"} +Inf',
        'z NaN',
        'w{a="x",} -Inf',
        '',
      ].join('\n')
    );
    expect(s).toHaveLength(5);
    expect(s[0]).toEqual({ name: 'up', labels: {}, value: 1 });
    expect(s[1].labels).toEqual({ a: '1', b: 'with "quote", comma, {brace} and \\ backslash', c: 'line\nbreak' });
    expect(s[1].value).toBe(0.0025);
    expect(s[2]).toEqual({ name: 'y', labels: { le: '+Inf' }, value: Infinity });
    expect(s[3].value).toBeNaN();
    expect(s[4]).toEqual({ name: 'w', labels: { a: 'x' }, value: -Infinity });
  });

  it('rejects malformed lines', () => {
    expect(() => parsePrometheusText('x{a="1" 2')).toThrow();
    expect(() => parsePrometheusText('x notanumber')).toThrow();
    expect(() => parsePrometheusText('{a="1"} 2')).toThrow();
  });
});

describe('histogramQuantile', () => {
  const b = (pairs: Array<[number, number]>) => new Map(pairs);
  it('interpolates inside the bucket holding the rank, like PromQL', () => {
    // 100 observations: 50 ≤ 10 ms, 40 in (10 ms, 100 ms], 10 in (100 ms, 1 s].
    const buckets = b([[0.01, 50], [0.1, 90], [1, 100], [Infinity, 100]]);
    // rank 95 is in (0.1, 1]: 0.1 + 0.9 * (95 - 90) / (100 - 90) = 0.55
    expect(histogramQuantile(0.95, buckets)).toBeCloseTo(0.55, 10);
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.01, 10);
    // the first bucket starts at 0: rank 25 → 0.01 * 25 / 50
    expect(histogramQuantile(0.25, buckets)).toBeCloseTo(0.005, 10);
  });
  it('answers the highest finite bound for a rank in +Inf, NaN without observations', () => {
    expect(histogramQuantile(0.95, b([[0.01, 1], [0.1, 2], [Infinity, 100]]))).toBe(0.1);
    expect(histogramQuantile(0.95, b([[0.01, 0], [Infinity, 0]]))).toBeNaN();
    expect(histogramQuantile(0.95, b([[0.01, 3]]))).toBeNaN();
  });
});

describe('per-service stats from two samples', () => {
  const t0 = 1_000_000;
  const first = snapshot(parsePrometheusText(exposition(10, 0, [5, 10, 10, 10, 10, 10], [0, 0, 0, 0, 0, 0])), G, 'v0alpha1', t0);
  // 4 s later: 36 more 200s, 4 more 502s.
  //  200s: 20 ≤ 1 ms, 10 in (1, 5] ms, 6 in (5, 10] ms; 502s: 4 in (0.1, 1] s.
  const second = snapshot(parsePrometheusText(exposition(46, 4, [25, 40, 46, 46, 46, 46], [0, 0, 0, 0, 4, 4])), G, 'v0alpha1', t0 + 4000);

  it('computes the request rate, 5xx ratio and p95 of the window', () => {
    const s = stats(first, second, 'query')!;
    expect(s.rate).toBeCloseTo(40 / 4, 10);
    expect(s.errorRatio).toBeCloseTo(4 / 40, 10);
    // window buckets summed over codes: ≤1ms 20, ≤5ms 30, ≤10ms 36, ≤100ms 36, ≤1s 40, +Inf 40.
    // rank 0.95 * 40 = 38 is in (0.1, 1]: 0.1 + 0.9 * (38 - 36) / (40 - 36) = 0.55
    expect(s.p95).toBeCloseTo(0.55, 10);
    expect(s.total).toBe(50);
  });

  it('ignores other groups and versions, and types without traffic', () => {
    const h = stats(first, second, 'health')!;
    expect(h.rate).toBe(0);
    expect(h.errorRatio).toBeNaN();
    expect(h.p95).toBeNaN();
    expect(h.total).toBe(1);
    expect(second.types.query.byCode['200']).toBe(46);
    expect(stats(first, second, 'resource')!.rate).toBe(0);
  });

  it('treats a counter that went down as a restart', () => {
    const restarted = snapshot(parsePrometheusText(exposition(2, 0, [2, 2, 2, 2, 2, 2], [0, 0, 0, 0, 0, 0])), G, 'v0alpha1', t0 + 6000);
    expect(stats(second, restarted, 'query')!.rate).toBe(2 / 2);
    expect(stats(second, second, 'query')).toBeUndefined();
  });

  it('formats the figures', () => {
    expect(formatRate(10)).toBe('10/s');
    expect(formatRate(0.25)).toBe('0.25/s');
    expect(formatRatio(0.1)).toBe('10.0%');
    expect(formatRatio(NaN)).toBe('—');
    expect(formatSeconds(0.55)).toBe('550 ms');
    expect(formatSeconds(0.0042)).toBe('4.20 ms');
    expect(formatSeconds(NaN)).toBe('—');
  });
});
