// Prometheus text exposition format (version 0.0.4), as dpa's /metrics answers it, and the
// per-service figures the detail page shows: request rate, error rate and p95 latency of
// dpa_dataplane_requests_total / dpa_dataplane_request_duration_seconds (labels group,
// version, type, code; see pkg/dataplane/metrics.go).

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(s: string): number {
  switch (s) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
  }
  const v = Number(s);
  if (s === '' || Number.isNaN(v)) {
    throw new Error(`invalid sample value ${JSON.stringify(s)}`);
  }
  return v;
}

/**
 * parsePrometheusText reads the text format: one sample per line, `name{l="v",...} value
 * [timestamp]`; `#` lines (HELP, TYPE, comments) and blank lines are skipped. Label values
 * may contain escaped `\\`, `\"` and `\n`, commas and braces. A malformed line throws.
 */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    let i = 0;
    while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) {
      i++;
    }
    const name = line.slice(0, i);
    if (!name) {
      throw new Error(`line ${n + 1}: no metric name`);
    }
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      for (;;) {
        while (line[i] === ' ' || line[i] === ',') {
          i++;
        }
        if (line[i] === '}') {
          i++;
          break;
        }
        const eq = line.indexOf('=', i);
        if (eq < 0 || line[eq + 1] !== '"') {
          throw new Error(`line ${n + 1}: malformed labels`);
        }
        const key = line.slice(i, eq).trim();
        i = eq + 2;
        let val = '';
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) {
            const c = line[i + 1];
            val += c === 'n' ? '\n' : c;
            i += 2;
          } else {
            val += line[i++];
          }
        }
        if (line[i] !== '"') {
          throw new Error(`line ${n + 1}: unterminated label value`);
        }
        i++;
        labels[key] = val;
      }
    }
    const rest = line.slice(i).trim().split(/\s+/);
    out.push({ name, labels, value: parseValue(rest[0] ?? '') });
  }
  return out;
}

export const REQUESTS_METRIC = 'dpa_dataplane_requests_total';
export const DURATION_METRIC = 'dpa_dataplane_request_duration_seconds';

/** The counters of one service type of one group/version at one moment. */
export interface TypeCounters {
  /** Requests by HTTP status code. */
  byCode: Record<string, number>;
  /** Cumulative histogram bucket counts by upper bound (summed over codes). */
  buckets: Map<number, number>;
}

/** A /metrics scrape reduced to one group/version: counters per service type. */
export interface MetricsSnapshot {
  at: number;
  types: Record<string, TypeCounters>;
}

export function snapshot(samples: Sample[], group: string, version: string, at: number): MetricsSnapshot {
  const types: Record<string, TypeCounters> = {};
  const of = (t: string) => (types[t] ??= { byCode: {}, buckets: new Map() });
  for (const s of samples) {
    if (s.labels.group !== group || s.labels.version !== version || !s.labels.type) {
      continue;
    }
    if (s.name === REQUESTS_METRIC) {
      const c = of(s.labels.type);
      c.byCode[s.labels.code ?? ''] = (c.byCode[s.labels.code ?? ''] ?? 0) + s.value;
    } else if (s.name === `${DURATION_METRIC}_bucket` && s.labels.le !== undefined) {
      const c = of(s.labels.type);
      const le = parseValue(s.labels.le);
      c.buckets.set(le, (c.buckets.get(le) ?? 0) + s.value);
    }
  }
  return { at, types };
}

/**
 * histogramQuantile is PromQL's histogram_quantile over cumulative buckets (upper bound →
 * count): linear interpolation inside the bucket holding the rank; the first bucket starts
 * at 0; a rank in the +Inf bucket answers the highest finite bound. NaN without observations.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number {
  const bs = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  if (bs.length < 2 || bs[bs.length - 1][0] !== Infinity) {
    return NaN;
  }
  const total = bs[bs.length - 1][1];
  if (!(total > 0)) {
    return NaN;
  }
  const rank = q * total;
  let i = bs.findIndex(([, c]) => c >= rank);
  if (i < 0) {
    i = bs.length - 1;
  }
  if (i === bs.length - 1) {
    return bs[bs.length - 2][0];
  }
  const [upper, count] = bs[i];
  const lower = i === 0 ? 0 : bs[i - 1][0];
  const prevCount = i === 0 ? 0 : bs[i - 1][1];
  if (i === 0 && upper <= 0) {
    return upper;
  }
  if (count === prevCount) {
    return upper;
  }
  return lower + (upper - lower) * ((rank - prevCount) / (count - prevCount));
}

export interface ServiceStats {
  /** Requests per second between the two samples. */
  rate: number;
  /** Share (0..1) of those requests answered 5xx; NaN without requests. */
  errorRatio: number;
  /** 95th percentile latency in seconds over the window, NaN without requests in it. */
  p95: number;
  /** Requests since dpa started. */
  total: number;
}

function sum(rec: Record<string, number>, pred: (code: string) => boolean = () => true): number {
  return Object.entries(rec).reduce((a, [k, v]) => (pred(k) ? a + v : a), 0);
}

const isServerError = (code: string) => /^5\d\d$/.test(code);

/**
 * stats compares two snapshots of one service type like PromQL's rate(): counters that went
 * down (a restart) count from zero. Undefined when prev is not older than cur.
 */
export function stats(prev: MetricsSnapshot, cur: MetricsSnapshot, type: string): ServiceStats | undefined {
  const dt = (cur.at - prev.at) / 1000;
  if (!(dt > 0)) {
    return undefined;
  }
  const a = prev.types[type] ?? { byCode: {}, buckets: new Map() };
  const b = cur.types[type] ?? { byCode: {}, buckets: new Map() };
  const delta = (x: number, y: number) => (y >= x ? y - x : y);
  const codes = new Set([...Object.keys(a.byCode), ...Object.keys(b.byCode)]);
  const d: Record<string, number> = {};
  codes.forEach((c) => (d[c] = delta(a.byCode[c] ?? 0, b.byCode[c] ?? 0)));
  const n = sum(d);
  const buckets = new Map<number, number>();
  b.buckets.forEach((v, le) => buckets.set(le, delta(a.buckets.get(le) ?? 0, v)));
  return {
    rate: n / dt,
    errorRatio: n > 0 ? sum(d, isServerError) / n : NaN,
    p95: histogramQuantile(0.95, buckets),
    total: sum(b.byCode),
  };
}

export function formatRate(r: number): string {
  if (r === 0) {
    return '0/s';
  }
  return r >= 10 ? `${r.toFixed(0)}/s` : r >= 1 ? `${r.toFixed(1)}/s` : `${r.toFixed(2)}/s`;
}

export function formatRatio(x: number): string {
  return Number.isNaN(x) ? '—' : `${(x * 100).toFixed(x === 0 || x === 1 ? 0 : 1)}%`;
}

export function formatSeconds(s: number): string {
  if (Number.isNaN(s)) {
    return '—';
  }
  return s < 1 ? `${(s * 1000).toFixed(s < 0.01 ? 2 : 0)} ms` : `${s.toFixed(2)} s`;
}
