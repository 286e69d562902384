import React, { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { css, cx } from '@emotion/css';
import type { GrafanaTheme2, SelectableValue } from '@grafana/data';
import { usePluginContext } from '@grafana/data';
import { Alert, Badge, Button, ClipboardButton, Field, Input, LoadingPlaceholder, RadioButtonGroup, Select, TextArea, useStyles2 } from '@grafana/ui';
import { useEnv } from '../context';
import type { DataPlaneService } from '../api/types';
import { asStatus, errorMessage } from '../api/errors';
import {
  consoleEndpoints,
  consolePath,
  curlCommand,
  defaultMethod,
  emptyConsoleText,
  exampleBody,
  fillTemplate,
  hasBody,
  healthSummary,
  isSubscription,
  listenStream,
  namespacesOf,
  sendRequest,
  unavailable,
  type ConsoleEndpoint,
  type ConsoleResponse,
  type ConsoleTarget,
} from '../api/console';
import { frameTable, queryResults } from '../api/frames';
import { ScrollX } from './ScrollX';
import { MessageText, UrlText } from './UrlText';

/** A console target with what the user may do there (the server's access reviews). */
interface Target extends ConsoleTarget {
  key: string;
  allowed: boolean;
  reason?: string;
}

interface NamespaceState {
  namespace: string;
  loading: boolean;
  error?: string;
  targets: Target[];
}

const targetKey = (t: ConsoleTarget) => (t.uid === undefined ? t.namespace : `${t.namespace}/${t.uid}`);

/**
 * useTargets finds what the user can call: per namespace they belong to (or added by hand),
 * the datasources dpa serves for this plugin (an app plugin: its instance in the namespace),
 * each with a SelfSubjectAccessReview answer for calling it.
 */
function useTargets(obj: DataPlaneService) {
  const { client } = useEnv();
  const { group, version, pluginType } = obj.spec;
  const [identity, setIdentity] = useState<{ serverAdmin: boolean; namespaces: string[] } | null>(null);
  const [identityError, setIdentityError] = useState<string | null>(null);
  const [extra, setExtra] = useState<string[]>([]);
  const [byNs, setByNs] = useState<Record<string, NamespaceState>>({});

  useEffect(() => {
    let live = true;
    client
      .whoami()
      .then((w) => live && setIdentity(namespacesOf(w.groups)))
      .catch((e) => live && setIdentityError(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [client]);

  const namespaces = useMemo(() => [...new Set([...(identity?.namespaces ?? []), ...extra])], [identity, extra]);

  const load = useCallback(
    async (ns: string) => {
      setByNs((m) => ({ ...m, [ns]: { namespace: ns, loading: true, targets: m[ns]?.targets ?? [] } }));
      const base = `${client.base}/apis/${group}/${version}/namespaces/${encodeURIComponent(ns)}`;
      try {
        let targets: Target[];
        if (pluginType === 'app') {
          const a = await client.review({ resourceAttributes: { group, version, namespace: ns, resource: 'health', verb: 'get' } });
          targets = [{ key: ns, namespace: ns, title: `${obj.spec.pluginID} in ${ns}`, allowed: a.allowed, reason: a.reason }];
        } else {
          const r = await sendRequest(`${base}/datasources`, 'GET');
          if (r.status !== 200) {
            const st = asStatus(r.body);
            throw new Error(st?.message || r.networkError || `HTTP ${r.status}`);
          }
          const items = ((r.body as { items?: Array<{ metadata: { name: string }; spec?: { title?: string } }> })?.items ?? []).map((d) => ({
            namespace: ns,
            uid: d.metadata.name,
            title: d.spec?.title || d.metadata.name,
          }));
          targets = await Promise.all(
            items.map(async (t) => {
              const a = await client
                .review({ resourceAttributes: { group, version, namespace: ns, resource: 'datasources', subresource: 'query', name: t.uid!, verb: 'create' } })
                .catch(() => ({ allowed: true, reason: undefined })); // unknown: offer it, the server decides
              return { ...t, key: targetKey(t), allowed: a.allowed, reason: a.reason };
            })
          );
        }
        setByNs((m) => ({ ...m, [ns]: { namespace: ns, loading: false, targets } }));
      } catch (e) {
        setByNs((m) => ({ ...m, [ns]: { namespace: ns, loading: false, targets: [], error: errorMessage(e) } }));
      }
    },
    [client, group, version, pluginType, obj.spec.pluginID]
  );

  useEffect(() => {
    namespaces.filter((ns) => !byNs[ns]).forEach((ns) => load(ns));
  }, [namespaces, byNs, load]);

  return {
    identity,
    identityError,
    namespaces,
    states: namespaces.map((ns) => byNs[ns]).filter(Boolean) as NamespaceState[],
    addNamespace: (ns: string) => setExtra((x) => (x.includes(ns) ? x : [...x, ns])),
  };
}

/** Which global endpoint types (outside a namespace) the user may call, by SSAR. */
function useGlobalAccess(obj: DataPlaneService, endpoints: ConsoleEndpoint[]) {
  const { client } = useEnv();
  const [access, setAccess] = useState<Record<string, { allowed: boolean; reason?: string }>>({});
  const key = endpoints
    .filter((e) => e.scope === 'global')
    .map((e) => e.type)
    .join(',');
  useEffect(() => {
    let live = true;
    const types = [...new Set(key ? key.split(',') : [])];
    Promise.all(
      types.map(async (t) => {
        const resource = t === 'route' ? 'routes' : t;
        const verb = t === 'metrics' ? 'get' : 'create';
        const a = await client
          .review({ resourceAttributes: { group: obj.spec.group, version: obj.spec.version, resource, verb } })
          .catch(() => ({ allowed: false, reason: 'the access review failed' }));
        return [t, a] as const;
      })
    ).then((r) => live && setAccess(Object.fromEntries(r)));
    return () => {
      live = false;
    };
  }, [client, key, obj.spec.group, obj.spec.version]);
  return access;
}

/** The server's base URL for curl: dpa itself (standalone, or the app's configured URL). */
function useCurlBase(): string {
  const { client } = useEnv();
  const plugin = usePluginContext<{ url?: string }>();
  const origin = typeof window !== 'undefined' ? window.location.origin : '';
  if (!client.base) {
    return origin;
  }
  const url = plugin?.meta?.jsonData?.url;
  // Inside Grafana: dpa's URL from the app settings; else Grafana's proxy (with a Grafana token).
  return url ? url.replace(/\/+$/, '') : `${origin}${client.base}`;
}

export function RequestConsole({ obj }: { obj: DataPlaneService }) {
  const styles = useStyles2(getStyles);
  const { client } = useEnv();
  const endpoints = useMemo(() => consoleEndpoints(obj), [obj]);
  const { identity, identityError, states, addNamespace } = useTargets(obj);
  const globalAccess = useGlobalAccess(obj, endpoints);
  const curlBase = useCurlBase();
  const isApp = obj.spec.pluginType === 'app';
  const healthEp = endpoints.find((e) => e.type === 'health' && e.scope !== 'global');

  const [health, setHealth] = useState<Record<string, { running: boolean; ok?: boolean; text?: string }>>({});
  const [newNs, setNewNs] = useState('');

  const allTargets = states.flatMap((s) => s.targets);
  const callable = allTargets.filter((t) => t.allowed);

  const offered = endpoints.filter((e) => (e.scope === 'global' ? globalAccess[e.type]?.allowed : callable.length > 0));
  const notOffered = endpoints.filter((e) => e.scope === 'global' && globalAccess[e.type] && !globalAccess[e.type].allowed);

  const [epKey, setEpKey] = useState<string | undefined>();
  const ep = offered.find((e) => e.key === epKey) ?? offered[0];
  const [tKey, setTKey] = useState<string | undefined>();
  const target = ep && ep.scope !== 'global' ? (callable.find((t) => t.key === tKey) ?? callable[0]) : undefined;
  const [method, setMethod] = useState<string>('');
  const [suffix, setSuffix] = useState('');
  const [body, setBody] = useState('');
  const [resp, setResp] = useState<ConsoleResponse | null>(null);
  const [sending, setSending] = useState(false);
  const inFlight = useRef<AbortController | null>(null);
  const answer = useRef<HTMLDivElement>(null);
  // A call in flight when the page goes away is aborted.
  useEffect(() => () => inFlight.current?.abort(), []);
  // The answer is brought into view and focused: it may be far below the Send button.
  useEffect(() => {
    if (resp && answer.current) {
      answer.current.scrollIntoView?.({ block: 'start', behavior: 'auto' });
      answer.current.focus({ preventScroll: true });
    }
  }, [resp]);
  const down = unavailable(obj);

  const filled = ep ? fillTemplate(ep.template, target) : { prefix: '', suffix: '' };
  const templateKey = `${ep?.key}|${target?.key}`;
  // A new endpoint or target starts from its defaults.
  useEffect(() => {
    if (!ep) {
      return;
    }
    setMethod(defaultMethod(ep));
    setSuffix(fillTemplate(ep.template, target).suffix);
    setBody(exampleBody(ep.type, obj, target));
    setResp(null);
    // A call still out belongs to the endpoint left: it is dropped, not shown here.
    const out = inFlight.current;
    inFlight.current = null;
    out?.abort();
    setSending(false);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [templateKey]);

  const m = ep && ep.methods.includes(method) ? method : ep ? defaultMethod(ep) : 'GET';
  const built = ep ? consolePath(filled.prefix, suffix, ep) : { path: '' };
  const subscription = ep ? isSubscription(ep, m) : false;
  const curl = ep ? curlCommand({ method: m, url: `${curlBase}${built.path}`, body: hasBody(m) ? body : undefined, stream: subscription }) : '';

  const test = async (t: Target) => {
    if (!healthEp) {
      return;
    }
    setHealth((h) => ({ ...h, [t.key]: { running: true } }));
    const { prefix } = fillTemplate(healthEp.template, t);
    const r = await sendRequest(`${client.base}${prefix}`, 'GET');
    const s = healthSummary(r);
    setHealth((h) => ({ ...h, [t.key]: { running: false, ok: s.ok, text: s.text } }));
  };

  const send = async () => {
    if (!ep || built.error) {
      return;
    }
    const ctl = new AbortController();
    inFlight.current = ctl;
    setSending(true);
    setResp(null);
    const url = `${client.base}${built.path}`;
    const r = subscription
      ? await listenStream(url, { ms: 3000, max: 20, signal: ctl.signal })
      : await sendRequest(url, m, hasBody(m) ? body : undefined, { signal: ctl.signal });
    if (inFlight.current === ctl) {
      inFlight.current = null;
      setResp(r);
      setSending(false);
    }
  };
  const cancel = () => inFlight.current?.abort();

  const epOptions: Array<SelectableValue<string>> = offered.map((e) => ({
    value: e.key,
    label: `${e.type} · ${e.methods.length > 2 ? 'ANY' : e.methods.join(', ')} ${e.template.replace(`/apis/${obj.spec.group}/${obj.spec.version}`, '')}`,
  }));
  const targetOptions: Array<SelectableValue<string>> = callable.map((t) => ({
    value: t.key,
    label: isApp ? t.namespace : `${t.title} (${t.namespace}/${t.uid})`,
  }));

  return (
    <section aria-labelledby="console-h" className={styles.section}>
      <h2 id="console-h" className={styles.h}>
        Request console
      </h2>
      {identityError && (
        <Alert title="Could not ask the server who you are" severity="warning">
          {identityError}
        </Alert>
      )}
      {!identity && !identityError && <LoadingPlaceholder text="Loading datasources…" />}
      {identity && (
        <>
          <p className={styles.muted}>
            {isApp ? 'The app instance in each namespace you can see.' : 'The datasources this plugin serves in each namespace you can see.'}{' '}
            Calls go to dpa as you, exactly as shown in the curl command below.
          </p>
          <ScrollX label={isApp ? 'App instances' : 'Datasources'}>
            <table className={styles.table} aria-label={isApp ? 'App instances' : 'Datasources'}>
              <thead>
                <tr>
                  <th scope="col" className={styles.nsCol}>
                    Namespace
                  </th>
                  <th scope="col">{isApp ? 'App' : 'Datasource'}</th>
                  <th scope="col">Health</th>
                </tr>
              </thead>
              <tbody>
                {states.map((s) =>
                  s.loading && s.targets.length === 0 ? (
                    <tr key={s.namespace}>
                      <td>{s.namespace}</td>
                      <td colSpan={2}>Loading…</td>
                    </tr>
                  ) : s.error ? (
                    <tr key={s.namespace}>
                      <td>{s.namespace}</td>
                      <td colSpan={2} className={styles.error}>
                        <MessageText text={s.error} />
                      </td>
                    </tr>
                  ) : s.targets.length === 0 ? (
                    <tr key={s.namespace}>
                      <td>{s.namespace}</td>
                      <td colSpan={2} className={styles.muted}>
                        No datasources of this plugin that you can read
                      </td>
                    </tr>
                  ) : (
                    s.targets.map((t) => {
                      const h = health[t.key];
                      return (
                        <tr key={t.key} data-testid={`target-${t.key}`}>
                          <td>{t.namespace}</td>
                          <td>
                            {t.title}
                            {t.uid !== undefined && <span className={cx(styles.mono, styles.muted)}> uid {t.uid}</span>}
                          </td>
                          <td>
                            {!t.allowed ? (
                              <span className={styles.muted} title={t.reason}>
                                Not allowed{t.reason ? `: ${t.reason}` : ''}
                              </span>
                            ) : healthEp ? (
                              <div className={styles.health}>
                                <Button size="sm" variant="secondary" icon="vial" onClick={() => test(t)} disabled={h?.running} aria-label={`Test ${t.key}`}>
                                  Test
                                </Button>
                                {h?.running && <span className={styles.muted}>Testing…</span>}
                                {h && !h.running && (
                                  <span data-testid={`health-${t.key}`} className={h.ok ? styles.ok : styles.error}>
                                    <MessageText text={h.text ?? ''} />
                                  </span>
                                )}
                              </div>
                            ) : (
                              <span className={styles.muted}>No health service declared</span>
                            )}
                          </td>
                        </tr>
                      );
                    })
                  )
                )}
              </tbody>
            </table>
          </ScrollX>
          <form
            className={styles.addNs}
            onSubmit={(e) => {
              e.preventDefault();
              const ns = newNs.trim();
              if (ns) {
                addNamespace(ns);
                setNewNs('');
              }
            }}
          >
            <Input
              id="console-add-ns"
              aria-label="Another namespace"
              placeholder="Another namespace, e.g. org-2"
              value={newNs}
              onChange={(e) => setNewNs(e.currentTarget.value)}
              width={30}
            />
            <Button type="submit" variant="secondary" size="md" icon="plus" disabled={!newNs.trim()}>
              Add namespace
            </Button>
          </form>

          {ep ? (
            <div className={styles.console} data-testid="console">
              <div className={styles.row}>
                <Field label="Endpoint" className={styles.grow}>
                  <Select
                    inputId="console-endpoint"
                    options={epOptions}
                    value={ep.key}
                    onChange={(v) => setEpKey(v.value)}
                  />
                </Field>
                {ep.scope !== 'global' && (
                  <Field label={isApp ? 'Namespace' : 'Datasource'} className={styles.grow}>
                    <Select inputId="console-target" options={targetOptions} value={target?.key} onChange={(v) => setTKey(v.value)} />
                  </Field>
                )}
              </div>
              <Field label="Method">
                <RadioButtonGroup
                  options={ep.methods.map((x) => ({ label: x, value: x }))}
                  value={m}
                  onChange={(v) => setMethod(v)}
                />
              </Field>
              <Field label="Path" description={subscription ? 'A subscription: the console listens for 3 s (at most 20 messages), then leaves.' : undefined} invalid={!!built.error} error={built.error}>
                <PathInput prefix={filled.prefix} suffix={suffix} onChange={setSuffix} placeholder={ep.pathRequired ? 'channel, e.g. ticks' : 'suffix and ?query'} />
              </Field>
              {hasBody(m) && (
                <Field label="Body">
                  <TextArea id="console-body" aria-label="Request body" rows={Math.min(12, Math.max(3, body.split('\n').length))} value={body} onChange={(e) => setBody(e.currentTarget.value)} className={styles.mono} />
                </Field>
              )}
              {down && (
                <Alert title={`This service is not available now: ${down.reason}`} severity="warning" data-testid="console-unavailable">
                  <span data-testid="console-unavailable-message">
                    <MessageText text={down.message} />
                  </span>{' '}
                  Calls are still sent; dpa answers them with its error.
                </Alert>
              )}
              <div className={styles.row}>
                <Button icon={sending ? 'spinner' : 'play'} onClick={send} disabled={sending || !!built.error}>
                  {subscription ? 'Listen' : 'Send'}
                </Button>
                {sending && <Waiting subscription={subscription} onCancel={cancel} />}
              </div>
              {resp && <ResponseView resp={resp} ref={answer} />}
              <div>
                <div className={styles.curlHeader}>
                  <span className={styles.label}>curl</span>
                  <ClipboardButton variant="secondary" size="sm" icon="copy" getText={() => curl}>
                    Copy
                  </ClipboardButton>
                </div>
                <pre className={styles.pre} data-testid="console-curl" aria-label="curl command" tabIndex={0}>
                  {curl}
                </pre>
              </div>
            </div>
          ) : (
            states.length > 0 &&
            !states.some((s) => s.loading) && (
              <p className={down ? styles.warning : styles.muted} data-testid="console-empty">
                {emptyConsoleText(obj)}
              </p>
            )
          )}
          {notOffered.length > 0 && (
            <p className={styles.muted} data-testid="console-not-offered">
              Not offered to you:{' '}
              {notOffered.map((e) => `${e.type} (${globalAccess[e.type]?.reason || 'not allowed'})`).join('; ')}
            </p>
          )}
        </>
      )}
    </section>
  );
}

/** The fixed, filled-in part of the URL and the user's suffix (Field passes `invalid` on). */
function PathInput(props: { prefix: string; suffix: string; placeholder: string; onChange: (s: string) => void; invalid?: boolean }) {
  const styles = useStyles2(getStyles);
  return (
    <div className={styles.pathRow}>
      <code className={styles.prefix} data-testid="console-prefix">
        <UrlText text={props.prefix} />
      </code>
      <Input
        id="console-suffix"
        aria-label="Path suffix"
        invalid={props.invalid}
        value={props.suffix}
        placeholder={props.placeholder}
        onChange={(e) => props.onChange(e.currentTarget.value)}
      />
    </div>
  );
}

/**
 * While a call is out: how long it has waited (dpa answers every non-stream call by its
 * --timeout for the service type, so this does not run forever) and Cancel.
 */
function Waiting({ subscription, onCancel }: { subscription: boolean; onCancel: () => void }) {
  const styles = useStyles2(getStyles);
  const [seconds, setSeconds] = useState(0);
  useEffect(() => {
    const start = Date.now();
    const t = setInterval(() => setSeconds(Math.floor((Date.now() - start) / 1000)), 1000);
    return () => clearInterval(t);
  }, []);
  return (
    <div className={styles.waiting} data-testid="console-waiting">
      <span role="status">{subscription ? 'Listening to the stream…' : 'Waiting for the answer…'}</span>
      {/* Not announced every second: the status above is, once. */}
      <span className={styles.muted} data-testid="console-elapsed" aria-live="off">
        {seconds} s
      </span>
      <Button variant="secondary" size="sm" icon="times" onClick={onCancel}>
        Cancel
      </Button>
    </div>
  );
}

function statusColor(status: number): 'green' | 'orange' | 'red' {
  return status >= 200 && status < 300 ? 'green' : status >= 400 && status < 500 ? 'orange' : 'red';
}

/** The answer to one call; focusable (tabIndex -1) so the console can move focus to it. */
export const ResponseView = React.forwardRef<HTMLDivElement, { resp: ConsoleResponse }>(function ResponseView({ resp }, ref) {
  const styles = useStyles2(getStyles);
  const results = queryResults(resp.body);
  const st = asStatus(resp.body);
  if (resp.cancelled && !resp.messages) {
    return (
      <div className={styles.response} data-testid="console-response" role="region" aria-label="Answer" tabIndex={-1} ref={ref}>
        <Alert title="Cancelled" severity="info" data-testid="console-cancelled">
          You cancelled the call after {(resp.ms / 1000).toFixed(1)} s, before dpa answered: the request was aborted.
        </Alert>
      </div>
    );
  }
  const se = resp.streamError;
  return (
    <div className={styles.response} data-testid="console-response" role="region" aria-label="Answer" tabIndex={-1} ref={ref}>
      <div className={styles.row}>
        {resp.networkError ? (
          <Badge color="red" text={`No answer: ${resp.networkError}`} />
        ) : (
          <Badge color={statusColor(resp.status)} text={`HTTP ${resp.status}${resp.statusText && resp.statusText !== String(resp.status) ? ` ${resp.statusText}` : ''}`} data-testid="console-status" />
        )}
        <span data-testid="console-latency">{resp.ms.toFixed(0)} ms</span>
      </div>
      {se && (
        <Alert title={`The stream failed: ${se.reason || 'Error'} (${se.code ?? '—'})`} severity="error" data-testid="console-stream-error">
          <span data-testid="console-stream-error-message">
            <MessageText text={se.message ?? ''} />
          </span>
        </Alert>
      )}
      {resp.cancelled && resp.messages && <div className={styles.muted}>You stopped listening after {(resp.ms / 1000).toFixed(1)} s.</div>}
      {st?.status === 'Failure' && (
        <Alert title={`${st.reason || 'Error'} (${st.code ?? resp.status})`} severity={resp.status === 403 ? 'warning' : 'error'}>
          <span data-testid="console-status-message">
            <MessageText text={st.message ?? ''} />
          </span>
        </Alert>
      )}
      {results.map((r) => (
        <div key={r.refId} data-testid={`result-${r.refId}`} className={styles.result}>
          <div className={styles.label}>
            refId {r.refId} · status {r.status ?? '—'} · {r.frames.length} frame{r.frames.length === 1 ? '' : 's'}
          </div>
          {r.error && (
            <div className={styles.error}>
              <MessageText text={r.error} />
              {r.errorSource ? ` (${r.errorSource})` : ''}
            </div>
          )}
          {r.frames.map((f, i) => {
            const t = frameTable(f, r.refId);
            return (
              <div key={i} className={styles.frameWrap}>
                <div className={styles.muted}>
                  Frame {t.name ? `“${t.name}”` : i + 1}: {t.rows.length} rows × {t.columns.length} fields
                </div>
                <div className={styles.scrollX}>
                  <table className={styles.frameTable} aria-label={`Frame ${t.name || i + 1} of ${r.refId}`} data-testid="frame-table">
                    <thead>
                      <tr>
                        {t.columns.map((c, j) => (
                          <th key={j} scope="col" title={`${c} (${t.types[j]})`}>
                            {c}
                          </th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      {t.rows.slice(0, 200).map((row, k) => (
                        <tr key={k}>
                          {row.map((v, j) => (
                            <td key={j}>{v}</td>
                          ))}
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                {t.rows.length > 200 && <div className={styles.muted}>First 200 of {t.rows.length} rows shown.</div>}
              </div>
            );
          })}
        </div>
      ))}
      {resp.messages && (
        <div>
          <div className={styles.label}>
            {resp.messages.length} stream message{resp.messages.length === 1 ? '' : 's'}
            {se ? ' before the error' : ''}
          </div>
          <pre className={styles.pre} data-testid="console-messages" aria-label="Stream messages" tabIndex={0}>
            {resp.messages.join('\n') || (se ? '(none)' : '(none within the listening time)')}
          </pre>
        </div>
      )}
      {resp.headers.length > 0 && (
        <details>
          <summary>Response headers ({resp.headers.length})</summary>
          <ScrollX label="Response headers">
            <table className={styles.headers} aria-label="Response headers">
              <tbody>
                {resp.headers.map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td>{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </ScrollX>
        </details>
      )}
      {!resp.messages && resp.text !== '' && (
        <details open={results.length === 0}>
          <summary>Body</summary>
          <pre className={styles.pre} data-testid="console-body-text" aria-label="Response body" tabIndex={0}>
            {typeof resp.body === 'object' ? JSON.stringify(resp.body, null, 2) : resp.text}
          </pre>
        </details>
      )}
    </div>
  );
});

const getStyles = (theme: GrafanaTheme2) => ({
  section: css({ minWidth: 0 }),
  h: css({ fontSize: theme.typography.h4.fontSize, margin: theme.spacing(1, 0) }),
  muted: css({ color: theme.colors.text.secondary }),
  ok: css({ color: theme.colors.success.text }),
  error: css({ color: theme.colors.error.text }),
  warning: css({ color: theme.colors.warning.text }),
  mono: css({ fontFamily: theme.typography.fontFamilyMonospace, fontSize: theme.typography.bodySmall.fontSize }),
  label: css({ fontWeight: theme.typography.fontWeightMedium, color: theme.colors.text.secondary }),
  table: css({
    width: '100%',
    borderCollapse: 'collapse',
    'th, td': { padding: theme.spacing(1), borderBottom: `1px solid ${theme.colors.border.weak}`, textAlign: 'left', verticalAlign: 'middle' },
    th: { color: theme.colors.text.secondary, fontWeight: theme.typography.fontWeightMedium },
  }),
  nsCol: css({ width: '18%', whiteSpace: 'nowrap' }),
  waiting: css({ display: 'flex', gap: theme.spacing(1), alignItems: 'center' }),
  health: css({ display: 'flex', gap: theme.spacing(1), alignItems: 'center', flexWrap: 'wrap', minWidth: 0 }),
  addNs: css({ display: 'flex', gap: theme.spacing(1), flexWrap: 'wrap', margin: theme.spacing(1, 0, 2) }),
  console: css({
    display: 'flex',
    flexDirection: 'column',
    gap: theme.spacing(1),
    padding: theme.spacing(2),
    border: `1px solid ${theme.colors.border.weak}`,
    borderRadius: theme.shape.radius.default,
    minWidth: 0,
  }),
  row: css({ display: 'flex', gap: theme.spacing(2), alignItems: 'center', flexWrap: 'wrap', minWidth: 0 }),
  grow: css({ flex: '1 1 280px', minWidth: 0, marginBottom: 0 }),
  pathRow: css({ display: 'flex', alignItems: 'center', gap: theme.spacing(1), flexWrap: 'wrap', minWidth: 0 }),
  prefix: css({
    fontFamily: theme.typography.fontFamilyMonospace,
    fontSize: theme.typography.bodySmall.fontSize,
    minWidth: 0,
    maxWidth: '100%',
  }),
  curlHeader: css({ display: 'flex', alignItems: 'center', justifyContent: 'space-between', gap: theme.spacing(1) }),
  pre: css({
    background: theme.colors.background.canvas,
    border: `1px solid ${theme.colors.border.weak}`,
    padding: theme.spacing(1),
    margin: 0,
    overflow: 'auto',
    maxHeight: 360,
    maxWidth: '100%',
    // Lines as they are (curl, JSON, stream messages): the box scrolls, words never break
    // (Grafana's global styles would wrap a <pre> anywhere).
    whiteSpace: 'pre',
    wordBreak: 'normal',
    overflowWrap: 'normal',
    fontSize: theme.typography.bodySmall.fontSize,
  }),
  response: css({
    display: 'flex',
    flexDirection: 'column',
    gap: theme.spacing(1),
    minWidth: 0,
    scrollMarginTop: theme.spacing(2),
    '&:focus': { outline: 'none' },
    '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}`, outlineOffset: 2 },
  }),
  result: css({ display: 'flex', flexDirection: 'column', gap: theme.spacing(0.5), minWidth: 0 }),
  frameWrap: css({ minWidth: 0 }),
  scrollX: css({ overflowX: 'auto', maxWidth: '100%', maxHeight: 360 }),
  frameTable: css({
    borderCollapse: 'collapse',
    fontFamily: theme.typography.fontFamilyMonospace,
    fontSize: theme.typography.bodySmall.fontSize,
    'th, td': { padding: theme.spacing(0.5, 1), borderBottom: `1px solid ${theme.colors.border.weak}`, textAlign: 'left', whiteSpace: 'nowrap' },
    th: { color: theme.colors.text.secondary, position: 'sticky', top: 0, background: theme.colors.background.primary },
  }),
  headers: css({
    fontSize: theme.typography.bodySmall.fontSize,
    'th, td': { padding: theme.spacing(0.25, 1), textAlign: 'left', verticalAlign: 'top' },
    th: { color: theme.colors.text.secondary, fontWeight: theme.typography.fontWeightMedium, whiteSpace: 'nowrap' },
  }),
});
