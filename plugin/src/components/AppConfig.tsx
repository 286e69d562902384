import React, { useState } from 'react';
import { lastValueFrom } from 'rxjs';
import { css } from '@emotion/css';
import type { AppPluginMeta, GrafanaTheme2, PluginConfigPageProps, PluginMeta } from '@grafana/data';
import { getBackendSrv, locationService } from '@grafana/runtime';
import { Alert, Button, Field, FieldSet, Input, SecretInput, Switch, TextArea, useStyles2 } from '@grafana/ui';

export interface AppJsonData {
  /** Base URL of the aggregator's API server, e.g. https://dpa.example:6443 */
  url?: string;
  /** PEM CA bundle to verify the aggregator's certificate. */
  caCert?: string;
  tlsSkipVerify?: boolean;
}

export interface AppSecureJsonData {
  token?: string;
}

type Props = PluginConfigPageProps<AppPluginMeta<AppJsonData>>;

/** Plugin settings: aggregator URL, TLS trust and the bearer token (stored encrypted, never read back). */
export function AppConfig({ plugin }: Props) {
  const styles = useStyles2(getStyles);
  const { enabled, pinned, jsonData, secureJsonFields } = plugin.meta;
  const [url, setUrl] = useState(jsonData?.url ?? '');
  const [caCert, setCaCert] = useState(jsonData?.caCert ?? '');
  const [tlsSkipVerify, setTlsSkipVerify] = useState(!!jsonData?.tlsSkipVerify);
  const [token, setToken] = useState('');
  const [tokenConfigured, setTokenConfigured] = useState(!!secureJsonFields?.token);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const urlError = url && !/^https?:\/\/[^\s/]+/.test(url) ? 'Must be an http(s) URL, e.g. https://dpa.example:6443' : undefined;

  const save = async (enable: boolean) => {
    setSaving(true);
    setError(null);
    try {
      const secureJsonData: AppSecureJsonData | undefined = token ? { token } : tokenConfigured ? undefined : { token: '' };
      await updatePlugin(plugin.meta.id, {
        enabled: enable,
        pinned: enable ? pinned : false,
        jsonData: { url: url.trim(), caCert: caCert.trim() || undefined, tlsSkipVerify },
        secureJsonData,
      });
      window.location.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Saving the settings failed');
      setSaving(false);
    }
  };

  return (
    <div className={styles.root}>
      {error && (
        <Alert title="Could not save" severity="error">
          {error}
        </Alert>
      )}
      <FieldSet label="Aggregator API server">
        <Field label="URL" description="Base URL of `dpa serve`, e.g. https://dpa.example:6443" invalid={!!urlError} error={urlError}>
          <Input id="config-url" width={60} value={url} placeholder="https://dpa.example:6443" onChange={(e) => setUrl(e.currentTarget.value)} />
        </Field>
        <Field label="CA certificate" description="PEM bundle used to verify the server certificate (leave empty to use system roots)">
          <TextArea id="config-ca" rows={5} value={caCert} placeholder="-----BEGIN CERTIFICATE-----" onChange={(e) => setCaCert(e.currentTarget.value)} />
        </Field>
        <Field label="Skip TLS verification" description="Insecure: only for testing against self-signed certificates">
          <Switch id="config-skip-verify" value={tlsSkipVerify} onChange={(e) => setTlsSkipVerify(e.currentTarget.checked)} />
        </Field>
        <Field label="Bearer token" description="Sent by the plugin backend only; never returned to the browser">
          <SecretInput
            id="config-token"
            width={60}
            isConfigured={tokenConfigured}
            value={token}
            placeholder="token"
            onChange={(e) => setToken(e.currentTarget.value)}
            onReset={() => {
              setToken('');
              setTokenConfigured(false);
            }}
          />
        </Field>
      </FieldSet>
      <div className={styles.buttons}>
        <Button disabled={saving || !!urlError || !url} onClick={() => save(true)}>
          {enabled ? 'Save settings' : 'Save and enable'}
        </Button>
        {enabled && (
          <Button variant="destructive" disabled={saving} onClick={() => save(false)}>
            Disable
          </Button>
        )}
        {enabled && (
          <Button variant="secondary" fill="outline" onClick={() => locationService.push('/a/dataplane-aggregator-app')}>
            Open app
          </Button>
        )}
      </div>
    </div>
  );
}

async function updatePlugin(pluginId: string, data: Partial<PluginMeta<AppJsonData>> & { secureJsonData?: AppSecureJsonData }) {
  const resp = getBackendSrv().fetch({ url: `/api/plugins/${pluginId}/settings`, method: 'POST', data });
  return lastValueFrom(resp);
}

const getStyles = (theme: GrafanaTheme2) => ({
  root: css({ maxWidth: 800 }),
  buttons: css({ display: 'flex', gap: theme.spacing(1), marginTop: theme.spacing(2) }),
});
