import React, { useEffect, useState } from 'react';
import type { DataPlaneServiceClient } from '../api/client';
import { sendRequest } from '../api/console';
import { formatRate, formatRatio, formatSeconds, parsePrometheusText, snapshot, stats, type MetricsSnapshot, type ServiceStats } from '../api/prom';

export type MetricsState =
  /** Asking the server whether the user may read /metrics. */
  | 'checking'
  /** Not a server admin nor system:monitoring: nothing is fetched. */
  | 'denied'
  /** /metrics could not be read here (e.g. through Grafana's proxy, which serves /apis only). */
  | 'unavailable'
  /** One sample so far: rates need two. */
  | 'sampling'
  | 'ready';

export interface ServiceMetrics {
  state: MetricsState;
  /** By service type (the metrics' type label). */
  byType: Record<string, ServiceStats>;
}

/**
 * useServiceMetrics samples dpa's /metrics (first two samples firstGapMs apart, then every
 * intervalMs) and computes each service type's request rate, 5xx ratio and p95 latency of
 * group/version between the last two samples. A SelfSubjectAccessReview asks first whether
 * the user may read /metrics at all: others get state 'denied' and no request to /metrics.
 */
export function useServiceMetrics(
  client: DataPlaneServiceClient,
  group: string,
  version: string,
  { intervalMs = 5000, firstGapMs = 3000 }: { intervalMs?: number; firstGapMs?: number } = {}
): ServiceMetrics {
  const [m, setM] = useState<ServiceMetrics>({ state: 'checking', byType: {} });
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let prev: MetricsSnapshot | undefined;
    const sample = async () => {
      const r = await sendRequest(`${client.base}/metrics`, 'GET');
      if (!live) {
        return;
      }
      if (r.status !== 200 || typeof r.text !== 'string') {
        setM({ state: r.status === 403 ? 'denied' : 'unavailable', byType: {} });
        return; // no retry: the answer will not change while the page is open
      }
      let cur: MetricsSnapshot;
      try {
        cur = snapshot(parsePrometheusText(r.text), group, version, Date.now());
      } catch {
        setM({ state: 'unavailable', byType: {} });
        return;
      }
      if (prev) {
        const byType: Record<string, ServiceStats> = {};
        const types = new Set([...Object.keys(prev.types), ...Object.keys(cur.types)]);
        types.forEach((t) => {
          const s = stats(prev!, cur, t);
          if (s) {
            byType[t] = s;
          }
        });
        setM({ state: 'ready', byType });
      } else {
        setM({ state: 'sampling', byType: {} });
      }
      const first = !prev;
      prev = cur;
      timer = setTimeout(sample, first ? firstGapMs : intervalMs);
    };
    client
      .review({ nonResourceAttributes: { path: '/metrics', verb: 'get' } })
      .then((a) => {
        if (!live) {
          return;
        }
        if (!a.allowed) {
          setM({ state: 'denied', byType: {} });
          return;
        }
        sample();
      })
      .catch(() => live && setM({ state: 'unavailable', byType: {} }));
    return () => {
      live = false;
      if (timer) {
        clearTimeout(timer);
      }
    };
  }, [client, group, version, intervalMs, firstGapMs]);
  return m;
}

/** The figures of one service type, for a table cell. */
export function MetricsCell({ metrics, type, shared }: { metrics: ServiceMetrics; type: string; shared?: boolean }) {
  if (metrics.state === 'sampling') {
    return <span title="Rates need a second sample of /metrics">…</span>;
  }
  if (metrics.state !== 'ready') {
    return null;
  }
  const s = metrics.byType[type] ?? { rate: 0, errorRatio: NaN, p95: NaN, total: 0 };
  const title =
    `${type}: ${formatRate(s.rate)} requests, ${formatRatio(s.errorRatio)} answered 5xx, p95 ${formatSeconds(s.p95)} ` +
    `over the last sampling window; ${s.total} requests since dpa started` +
    (shared ? '. Every route of this service is counted together (the metrics have no route label).' : '');
  if (s.rate === 0) {
    return (
      <span data-testid={`metrics-${type}`} title={title} aria-label={title}>
        <span data-testid="metrics-rate">0/s</span>
      </span>
    );
  }
  return (
    <span data-testid={`metrics-${type}`} title={title} aria-label={title}>
      <span data-testid="metrics-rate">{formatRate(s.rate)}</span> · <span data-testid="metrics-errors">{formatRatio(s.errorRatio)} 5xx</span> ·{' '}
      <span data-testid="metrics-p95">p95 {formatSeconds(s.p95)}</span>
    </span>
  );
}
