import React, { useCallback, useEffect, useRef, useState } from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2, SelectableValue } from '@grafana/data';
import {
  Alert,
  ConfirmModal,
  Button,
  Field,
  IconButton,
  Input,
  LoadingPlaceholder,
  RadioButtonGroup,
  Select,
  useStyles2,
} from '@grafana/ui';
import { parse as parseYAML } from 'yaml';
import { useEnv, useNav, servicePath } from '../context';
import {
  HTTP_METHODS,
  SERVICE_TYPES,
  newDataPlaneService,
  type DataPlaneService,
  type HTTPMethod,
  type Service,
  type ServiceType,
} from '../api/types';
import { ApiError, causesByField, errorMessage } from '../api/errors';
import { cleanServices, validateObject, validatePluginID, type FieldErrors } from '../api/validation';
import { flash } from '../flash';
import { lineDiff, type DiffLine } from '../api/diff';
import { clearDraft, draftKey, loadDraft, saveDraft } from '../api/drafts';
import { editableYAML } from '../api/yaml';
import { summarize, suggestedServices, supports, type InstalledPlugin } from '../api/plugins';
import { PageLayout } from '../components/PageLayout';
import { YamlEditor } from '../components/YamlEditor';

const TYPE_OPTIONS: Array<SelectableValue<ServiceType>> = SERVICE_TYPES.map((t) => ({ label: t, value: t }));
const METHOD_OPTIONS = HTTP_METHODS.map((m) => ({ label: m || 'Any', value: m }));
const PLUGIN_TYPE_OPTIONS = [
  { label: 'Data source', value: 'datasource' },
  { label: 'App', value: 'app' },
];

const FIELD_LABELS: Record<string, string> = {
  'metadata.name': 'Name',
  'spec.pluginID': 'Plugin ID',
  'spec.pluginType': 'Plugin type',
  'spec.group': 'Group',
  'spec.version': 'Version',
  'spec.services': 'Services',
};

/** Field keys the form renders inline; server causes for other fields go to the summary only. */
function renderedFields(services: Service[]): Set<string> {
  const s = new Set(Object.keys(FIELD_LABELS));
  services.forEach((_, i) => {
    s.add(`spec.services[${i}]`);
    ['type', 'method', 'path'].forEach((f) => s.add(`spec.services[${i}].${f}`));
  });
  return s;
}

interface Props {
  /** Name of the object to edit; undefined creates a new one. */
  name?: string;
}

export function EditPage({ name }: Props) {
  const { client } = useEnv();
  const nav = useNav();
  const styles = useStyles2(getStyles);
  const isNew = name === undefined;

  const key = draftKey(name);
  const [original, setOriginal] = useState<DataPlaneService | null>(isNew ? newDataPlaneService() : null);
  // A create form starts from the unsaved draft of this tab, if there is one.
  const [draft, setDraft] = useState<DataPlaneService | null>(() => (isNew ? loadDraft(key)?.obj ?? newDataPlaneService() : null));
  const [restored, setRestored] = useState(() => isNew && loadDraft(key) !== undefined);
  // The server's current object after a 409, to show the user what changed under them.
  const [theirs, setTheirs] = useState<DataPlaneService | null>(null);
  // The dry run's answer: what the server would store, as a diff against what is stored.
  const [review, setReview] = useState<{ diff: DiffLine[] } | null>(null);
  const [mode, setMode] = useState<'form' | 'yaml'>('form');
  // The installed plugins (dpa's Plugin resource): null until known, or when they cannot be read.
  const [plugins, setPlugins] = useState<InstalledPlugin[] | null>(null);
  useEffect(() => {
    let live = true;
    client
      .listPlugins()
      .then((ps) => live && setPlugins(ps))
      .catch(() => live && setPlugins(null));
    return () => {
      live = false;
    };
  }, [client]);
  const [yamlText, setYamlText] = useState('');
  const [yamlError, setYamlError] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [clientErrors, setClientErrors] = useState<FieldErrors>({});
  const [serverErrors, setServerErrors] = useState<FieldErrors>({});
  const [submitError, setSubmitError] = useState<ApiError | string | null>(null);
  const [confirmDiscard, setConfirmDiscard] = useState(false);
  // Where a failed save is explained: brought into view and focused, so the user sees it
  // however far down the form they are (a 422 instead focuses its first field).
  const alerts = useRef<HTMLDivElement>(null);
  const reviewRef = useRef<HTMLDivElement>(null);
  const showReview = useCallback(() => {
    setTimeout(() => {
      reviewRef.current?.scrollIntoView?.({ block: 'start' });
      reviewRef.current?.focus();
    }, 0);
  }, []);
  const showAlerts = useCallback(() => {
    setTimeout(() => {
      alerts.current?.scrollIntoView?.({ block: 'start' });
      alerts.current?.focus();
    }, 0);
  }, []);
  const [conflict, setConflict] = useState(false);
  const [submitted, setSubmitted] = useState(false);
  const [saving, setSaving] = useState(false);

  const load = useCallback(async () => {
    if (isNew) {
      return;
    }
    try {
      const o = await client.get(name!);
      setOriginal(o);
      // Unsaved edits of this tab (e.g. the session ended mid-edit) come back, on top of the
      // version they were made against: if that is stale, saving says so (409) with a diff.
      const kept = loadDraft(key);
      setDraft(kept ? kept.obj : structuredCloneSafe(o));
      setRestored(kept !== undefined);
      setLoadError(null);
    } catch (e) {
      setLoadError(e);
    }
  }, [client, isNew, name, key]);

  useEffect(() => {
    load();
  }, [load]);

  // Every change is kept for this tab until it is saved or discarded.
  useEffect(() => {
    if (!draft || !original) {
      return;
    }
    if (isDirty(original, draft)) {
      saveDraft(key, draft);
    } else {
      clearDraft(key);
    }
  }, [draft, original, key]);

  const reload = async () => {
    clearDraft(key);
    setRestored(false);
    if (isNew) {
      setDraft(newDataPlaneService());
    }
    setTheirs(null);
    setReview(null);
    setConflict(false);
    setSubmitError(null);
    setServerErrors({});
    setClientErrors({});
    setSubmitted(false);
    await load();
  };

  if (!draft) {
    return (
      <PageLayout title={`Edit ${name}`}>
        {loadError ? (
          <Alert title="Could not load the service" severity="error">
            {errorMessage(loadError)}
          </Alert>
        ) : (
          <LoadingPlaceholder text="Loading…" />
        )}
      </PageLayout>
    );
  }

  const update = (fn: (d: DataPlaneService) => void, touched: string[]) => {
    const next = structuredCloneSafe(draft);
    fn(next);
    setDraft(next);
    setReview(null);
    if (submitted) {
      setClientErrors(validateObject({ ...next, spec: { ...next.spec, services: cleanServices(next.spec.services) } }));
    }
    if (touched.some((t) => serverErrors[t])) {
      const se = { ...serverErrors };
      touched.forEach((t) => delete se[t]);
      setServerErrors(se);
    }
  };
  const setService = (i: number, patch: Partial<Service>) =>
    update(
      (d) => {
        d.spec.services[i] = { ...d.spec.services[i], ...patch };
      },
      Object.keys(patch).map((k) => `spec.services[${i}].${k}`)
    );

  const errorFor = (key: string): string | undefined => serverErrors[key] ?? clientErrors[key];

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    await save(false);
  };

  /** save validates, then writes (or, with dryRun, asks the server what it would store). */
  const save = async (dryRun: boolean) => {
    setSubmitted(true);
    setSubmitError(null);
    setConflict(false);
    setServerErrors({});
    const toSend: DataPlaneService = { ...draft, spec: { ...draft.spec, services: cleanServices(draft.spec.services) } };
    const errs = validateObject(toSend);
    setClientErrors(errs);
    if (Object.keys(errs).length > 0) {
      focusFirstInvalid();
      return;
    }
    if (!isNew && original && unchanged(original, toSend) && !dryRun) {
      // Nothing to save: no PUT (which would only bump the resourceVersion).
      clearDraft(key);
      nav.navigate(servicePath(toSend.metadata.name));
      return;
    }
    setSaving(true);
    try {
      if (dryRun) {
        const would = isNew ? await client.create(toSend, { dryRun: true }) : await client.update(toSend, { dryRun: true });
        setReview({ diff: lineDiff(isNew ? '' : editableYAML(original!), editableYAML(would)) });
        showReview();
        return;
      }
      const saved = isNew ? await client.create(toSend) : await client.update(toSend);
      clearDraft(key);
      flash(`${isNew ? 'Created' : 'Saved'} ${saved.metadata?.name ?? toSend.metadata.name}`);
      nav.navigate(servicePath(saved.metadata?.name ?? toSend.metadata.name));
    } catch (err) {
      const ae = err instanceof ApiError ? err : new ApiError(0, undefined, errorMessage(err));
      setReview(null);
      if (ae.isInvalid) {
        setServerErrors(causesByField(ae));
        setSubmitError(ae);
        if (mode === 'yaml') {
          showAlerts();
        } else {
          focusFirstInvalid();
        }
      } else if (ae.isConflict) {
        setConflict(true);
        setTheirs(await client.get(toSend.metadata.name).catch(() => null));
        showAlerts();
      } else if (ae.isAlreadyExists) {
        setServerErrors({ 'metadata.name': `A DataPlaneService named "${toSend.metadata.name}" already exists` });
        setSubmitError(ae);
        showAlerts();
      } else {
        setSubmitError(ae);
        showAlerts();
      }
    } finally {
      setSaving(false);
    }
  };

  const leave = () => {
    clearDraft(key);
    nav.navigate(isNew ? '/' : servicePath(original?.metadata.name ?? name!));
  };
  /** keepMine: after a 409, put the user's edits on top of the server's current version. */
  const keepMine = () => {
    if (!theirs) {
      return;
    }
    const next = structuredCloneSafe(draft);
    next.metadata.resourceVersion = theirs.metadata.resourceVersion;
    setOriginal(theirs);
    setDraft(next);
    setTheirs(null);
    setConflict(false);
  };
  const installed = plugins?.find((p) => p.spec.id === draft.spec.pluginID);
  /** pickPlugin fills the plugin fields from an installed plugin, and a new form's services from what it serves. */
  const pickPlugin = (p: InstalledPlugin) =>
    update(
      (d) => {
        d.spec.pluginID = p.spec.id;
        if (p.spec.type === 'datasource' || p.spec.type === 'app') {
          d.spec.pluginType = p.spec.type;
        }
        const suggested = suggestedServices(p);
        if (isNew && suggested.length > 0) {
          d.spec.services = suggested.map((type) => ({ type }));
        }
      },
      ['spec.pluginID', 'spec.pluginType', 'spec.services']
    );
  const switchMode = (m: 'form' | 'yaml') => {
    if (m === 'yaml') {
      setYamlText(editableYAML(draft));
      setYamlError(null);
    }
    setMode(m);
  };
  const onYAML = (text: string) => {
    setYamlText(text);
    try {
      const parsed = parseYAML(text) as Partial<DataPlaneService> | null;
      if (!parsed || typeof parsed !== 'object' || !parsed.spec || typeof parsed.spec !== 'object') {
        setYamlError('The YAML must be a DataPlaneService with a spec');
        return;
      }
      if (!isNew && parsed.metadata?.name !== undefined && parsed.metadata.name !== draft.metadata.name) {
        setYamlError(`metadata.name cannot change (it is ${draft.metadata.name})`);
        return;
      }
      setYamlError(null);
      update((d) => {
        d.metadata = { ...d.metadata, ...(parsed.metadata ?? {}), resourceVersion: d.metadata.resourceVersion };
        d.spec = { ...parsed.spec } as DataPlaneService['spec'];
        d.spec.services = d.spec.services ?? [];
      }, []);
    } catch (e) {
      setYamlError(e instanceof Error ? e.message.split('\n')[0] : String(e));
    }
  };
  // Cancel on a changed form asks before the changes are thrown away.
  const cancel = () => {
    if (original !== null && isDirty(original, draft)) {
      setConfirmDiscard(true);
    } else {
      leave();
    }
  };

  const rendered = renderedFields(draft.spec.services);
  // The YAML view has no fields to put causes on: they all go to the summary there.
  const otherServerErrors = Object.entries(serverErrors).filter(([k]) => mode === 'yaml' || !rendered.has(k));
  const servicesError = errorFor('spec.services');

  return (
    <PageLayout title={isNew ? 'New data plane service' : `Edit ${name}`} subTitle="DataPlaneService">
      <div ref={alerts} tabIndex={-1} data-testid="save-alerts" style={{ outline: 'none' }}>
      {restored && (
        <Alert title="Your unsaved changes are back" severity="info" data-testid="restored-alert" onRemove={() => setRestored(false)}>
          <p>This form had changes that were not saved (for example, your session ended). They are kept in this tab until you save or discard them.</p>
          <Button variant="secondary" size="sm" icon="history" onClick={reload}>
            Discard them
          </Button>
        </Alert>
      )}
      {conflict && (
        <Alert title="Someone else changed this service" severity="warning" data-testid="conflict-alert">
          <p>
            The object was modified after you opened it (HTTP 409 Conflict: stale resourceVersion), so your changes were not
            saved.{theirs ? ' Below: the current version (−) against yours (+).' : ''}
          </p>
          {theirs && <Diff lines={lineDiff(editableYAML(theirs), editableYAML(draft))} label="Current version against your changes" />}
          <div className={styles.buttons}>
            {theirs && (
              <Button variant="primary" icon="check" onClick={keepMine}>
                Keep my changes
              </Button>
            )}
            <Button variant="secondary" icon="sync" onClick={reload}>
              {theirs ? 'Discard mine, load theirs' : 'Reload'}
            </Button>
          </div>
        </Alert>
      )}
      {submitError && (
        <Alert
          title={submitError instanceof ApiError && submitError.isInvalid ? 'The server rejected the service' : 'Save failed'}
          severity="error"
        >
          <div>{submitError instanceof ApiError ? saveErrorText(submitError) : submitError}</div>
          {otherServerErrors.length > 0 && (
            <ul>
              {otherServerErrors.map(([k, v]) => (
                <li key={k}>
                  {k ? <code>{k}</code> : null} {v}
                </li>
              ))}
            </ul>
          )}
        </Alert>
      )}
      </div>
      <form onSubmit={submit} noValidate className={styles.form} aria-label="Data plane service">
        <div role="group" aria-label="Editor">
          <RadioButtonGroup
            options={[
              { label: 'Form', value: 'form' },
              { label: 'YAML', value: 'yaml' },
            ]}
            value={mode}
            onChange={(m) => switchMode(m as 'form' | 'yaml')}
          />
        </div>
        {mode === 'yaml' ? (
          <Field
            label="YAML"
            description="The object as kubectl would apply it; Review changes asks the server (dry run) before anything is stored."
            invalid={!!yamlError}
            error={yamlError ?? undefined}
            data-testid="field-yaml"
          >
            <YamlEditor id="dps-yaml" value={yamlText} onChange={onYAML} />
          </Field>
        ) : (
        <>
        <TextField
          path="metadata.name"
          id="dps-name"
          label="Name"
          description="Object name (cluster-scoped). Cannot be changed after creation."
          value={draft.metadata.name}
          disabled={!isNew}
          placeholder="my-datasource"
          error={errorFor('metadata.name')}
          onChange={(v) => update((d) => (d.metadata.name = v), ['metadata.name'])}
        />
        {plugins !== null && plugins.length > 0 && (
          <Field label="Installed plugin" description="Fills in the plugin ID and type (and, for a new service, the services the plugin serves)">
            <Select
              inputId="dps-installed"
              aria-label="Installed plugin"
              placeholder="Pick an installed plugin"
              value={installed ? installed.spec.id : null}
              options={plugins.map((p) => {
                const sum = summarize(p);
                return {
                  label: `${p.spec.name} (${p.spec.id})`,
                  value: p.spec.id,
                  description: `${p.spec.type} ${p.spec.version} · ${sum.phase} on ${sum.running}/${sum.replicas} replica(s)`,
                };
              })}
              onChange={(v) => {
                const p = plugins.find((x) => x.spec.id === v?.value);
                if (p) {
                  pickPlugin(p);
                }
              }}
            />
          </Field>
        )}
        <TextField
          path="spec.pluginID"
          id="dps-plugin-id"
          label="Plugin ID"
          description="The Grafana plugin id, e.g. grafana-testdata-datasource"
          value={draft.spec.pluginID}
          error={errorFor('spec.pluginID')}
          onChange={(v) => update((d) => (d.spec.pluginID = v), ['spec.pluginID'])}
        />
        {/* One message per bad id: an id that is not even well-formed gets its field error only. */}
        {plugins !== null && draft.spec.pluginID !== '' && !installed && !errorFor('spec.pluginID') && !validatePluginID(draft.spec.pluginID) && (
          <div className={styles.warning} data-testid="plugin-not-installed">
            No installed plugin has the id {draft.spec.pluginID}: the service will be Not ready (PluginNotFound) until one is installed.
          </div>
        )}
        {installed && installed.spec.type !== draft.spec.pluginType && (
          <div className={styles.warning} data-testid="plugin-type-mismatch">
            {installed.spec.id} is {installed.spec.type === 'app' ? 'an' : 'a'} {installed.spec.type} plugin.
          </div>
        )}
        <Field label="Plugin type" data-testid="field-spec.pluginType"
          invalid={!!errorFor('spec.pluginType')} error={errorFor('spec.pluginType')}>
          <RadioButtonGroup
            aria-label="Plugin type"
            options={PLUGIN_TYPE_OPTIONS}
            value={draft.spec.pluginType}
            onChange={(v) => update((d) => (d.spec.pluginType = v), ['spec.pluginType'])}
          />
        </Field>
        <div className={styles.row}>
          <TextField
            path="spec.group"
            id="dps-group"
            label="Group"
            description="API group (DNS-1123 subdomain), e.g. testdata.grafana.app"
            value={draft.spec.group}
            error={errorFor('spec.group')}
            className={styles.grow}
            onChange={(v) => update((d) => (d.spec.group = v), ['spec.group'])}
          />
          <TextField
            path="spec.version"
            id="dps-version"
            label="Version"
            description="API version (DNS-1035 label), e.g. v0alpha1"
            value={draft.spec.version}
            error={errorFor('spec.version')}
            onChange={(v) => update((d) => (d.spec.version = v), ['spec.version'])}
          />
        </div>

        <fieldset className={styles.fieldset}>
          <legend className={styles.legend}>Services</legend>
          {servicesError && (
            <div role="alert" className={styles.error} data-testid="services-error">
              {servicesError}
            </div>
          )}
          {draft.spec.services.map((s, i) => (
            <div key={i} className={styles.service} data-testid={`service-${i}`}>
              <Field
                label={`Service ${i + 1} type`}
                data-testid={`field-spec.services[${i}].type`}
          invalid={!!errorFor(`spec.services[${i}].type`)}
                error={errorFor(`spec.services[${i}].type`)}
                className={styles.typeField}
              >
                <Select
                  inputId={`svc-${i}-type`}
                  aria-label={`Service ${i + 1} type`}
                  options={TYPE_OPTIONS}
                  value={s.type}
                  onChange={(v) => setService(i, v.value === 'route' ? { type: 'route' } : { type: v.value!, method: undefined, path: undefined })}
                />
              </Field>
              {s.type === 'route' && (
                <>
                  <Field
                    label="Method"
                    data-testid={`field-spec.services[${i}].method`}
          invalid={!!errorFor(`spec.services[${i}].method`)}
                    error={errorFor(`spec.services[${i}].method`)}
                  >
                    <RadioButtonGroup
                      aria-label={`Service ${i + 1} method`}
                      options={METHOD_OPTIONS}
                      value={s.method ?? ''}
                      onChange={(v) => setService(i, { method: v as HTTPMethod })}
                    />
                  </Field>
                  <Field
                    label="Path"
                    description="Starts with /; {param} placeholders; optional trailing {path...}"
                    data-testid={`field-spec.services[${i}].path`}
          invalid={!!errorFor(`spec.services[${i}].path`)}
                    error={errorFor(`spec.services[${i}].path`)}
                    className={styles.grow}
                  >
                    <Input
                      id={`svc-${i}-path`}
                      name={`spec.services[${i}].path`}
                      value={s.path ?? ''}
                      placeholder="/things/{name}"
                      onChange={(e) => setService(i, { path: e.currentTarget.value })}
                    />
                  </Field>
                </>
              )}
              {(s.type !== 'route' && (errorFor(`spec.services[${i}].method`) || errorFor(`spec.services[${i}].path`))) && (
                <div role="alert" className={styles.error}>
                  {errorFor(`spec.services[${i}].method`) ?? errorFor(`spec.services[${i}].path`)}
                </div>
              )}
              <SupportWarning plugin={installed} type={s.type} index={i} />
              {errorFor(`spec.services[${i}]`) && (
                <div role="alert" className={styles.error} data-testid={`service-${i}-error`}>
                  {errorFor(`spec.services[${i}]`)}
                </div>
              )}
              <IconButton
                name="trash-alt"
                className={styles.remove}
                aria-label={`Remove service ${i + 1}`}
                tooltip={`Remove service ${i + 1}`}
                onClick={() =>
                  update(
                    (d) => {
                      d.spec.services.splice(i, 1);
                    },
                    ['spec.services']
                  )
                }
              />
            </div>
          ))}
          <div>
            <Button
              type="button"
              variant="secondary"
              icon="plus"
              onClick={() => update((d) => d.spec.services.push({ type: 'query' }), ['spec.services'])}
            >
              Add service
            </Button>
          </div>
        </fieldset>
        </>
        )}

        {review && (
          <div ref={reviewRef} tabIndex={-1} data-testid="review" className={styles.review}>
            <h2 className={styles.reviewTitle}>What the server would store</h2>
            <p>The server accepted these changes in a dry run (validation and admission ran; nothing was stored yet).</p>
            <Diff lines={review.diff} label={isNew ? 'The new object' : 'Stored version against your changes'} />
          </div>
        )}
        <div className={styles.buttons}>
          <Button type="submit" disabled={saving || !!yamlError} icon={saving ? 'spinner' : undefined}>
            {isNew ? 'Create' : 'Save'}
          </Button>
          <Button type="button" variant="secondary" icon="eye" disabled={saving || !!yamlError} onClick={() => save(true)}>
            Review changes
          </Button>
          <Button type="button" variant="secondary" onClick={cancel}>
            Cancel
          </Button>
        </div>
      </form>
      <ConfirmModal
        isOpen={confirmDiscard}
        title="Discard your changes?"
        body="The changes you made to this form have not been saved."
        confirmText="Discard"
        dismissText="Keep editing"
        onConfirm={leave}
        onDismiss={() => setConfirmDiscard(false)}
      />
    </PageLayout>
  );
}

interface TextFieldProps {
  /** Field path of the object, as the server names it in 422 causes. */
  path: string;
  id: string;
  label: string;
  description?: string;
  value: string;
  error?: string;
  disabled?: boolean;
  placeholder?: string;
  className?: string;
  onChange: (value: string) => void;
}

/** A labelled text input whose error (client check or server cause) shows under it. */
function TextField({ path, id, label, description, value, error, disabled, placeholder, className, onChange }: TextFieldProps) {
  return (
    <Field
      label={label}
      description={description}
      data-testid={`field-${path}`}
      invalid={!!error}
      error={error}
      className={className}
    >
      <Input
        id={id}
        name={path}
        value={value}
        disabled={disabled}
        placeholder={placeholder}
        onChange={(e) => onChange(e.currentTarget.value)}
      />
    </Field>
  );
}

function structuredCloneSafe<T>(v: T): T {
  return JSON.parse(JSON.stringify(v));
}

function focusFirstInvalid() {
  setTimeout(() => {
    const el = document.querySelector<HTMLElement>('form [aria-invalid="true"], form input[aria-invalid="true"]');
    el?.focus();
  }, 0);
}

const getStyles = (theme: GrafanaTheme2) => ({
  warning: css({ color: theme.colors.warning.text, fontSize: theme.typography.bodySmall.fontSize, flexBasis: '100%' }),
  reviewTitle: css({ fontSize: theme.typography.h4.fontSize }),
  review: css({ outline: 'none', padding: theme.spacing(2), border: `1px solid ${theme.colors.border.medium}`, borderRadius: theme.shape.radius.default }),
  diff: css({
    fontFamily: theme.typography.fontFamilyMonospace,
    fontSize: theme.typography.bodySmall.fontSize,
    maxHeight: 400,
    overflow: 'auto',
    whiteSpace: 'pre-wrap',
    overflowWrap: 'anywhere',
    padding: theme.spacing(1),
    background: theme.colors.background.secondary,
  }),
  added: css({ background: theme.colors.success.transparent, color: theme.colors.text.primary }),
  removed: css({ background: theme.colors.error.transparent, color: theme.colors.text.primary }),
  form: css({ maxWidth: 960 }),
  row: css({ display: 'flex', gap: theme.spacing(2), flexWrap: 'wrap' }),
  grow: css({ flex: '1 1 280px' }),
  fieldset: css({
    border: `1px solid ${theme.colors.border.weak}`,
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(2),
    marginBottom: theme.spacing(2),
  }),
  legend: css({ fontSize: theme.typography.h5.fontSize, padding: theme.spacing(0, 1), width: 'auto', marginBottom: 0 }),
  service: css({
    display: 'flex',
    gap: theme.spacing(2),
    alignItems: 'flex-start',
    flexWrap: 'wrap',
    borderBottom: `1px dashed ${theme.colors.border.weak}`,
    paddingTop: theme.spacing(1),
    marginBottom: theme.spacing(1),
  }),
  typeField: css({ minWidth: 200 }),
  remove: css({ marginTop: theme.spacing(3.5) }),
  error: css({ color: theme.colors.error.text, marginBottom: theme.spacing(1) }),
  buttons: css({ display: 'flex', gap: theme.spacing(1) }),
});

/** unchanged reports whether the form would send what the server already has. */
/** SupportWarning flags a service type the installed plugin's running process does not serve. */
function SupportWarning({ plugin, type, index }: { plugin?: InstalledPlugin; type: ServiceType; index: number }) {
  const styles = useStyles2(getStyles);
  const { reason } = supports(plugin, type);
  return reason ? (
    <div className={styles.warning} data-testid={`service-${index}-support`}>
      {reason}
    </div>
  ) : null;
}

function isDirty(original: DataPlaneService, draft: DataPlaneService): boolean {
  return !unchanged(original, draft) || original.metadata.name !== draft.metadata.name;
}

/** A unified line diff, '−' for the old side and '+' for the new one. */
function Diff({ lines, label }: { lines: DiffLine[]; label: string }) {
  const styles = useStyles2(getStyles);
  if (!lines.some((l) => l.op !== ' ')) {
    return <p data-testid="diff-none">No differences.</p>;
  }
  return (
    <pre className={styles.diff} aria-label={label} data-testid="diff" tabIndex={0} role="region">
      {lines.map((l, i) => (
        <div key={i} className={l.op === '+' ? styles.added : l.op === '-' ? styles.removed : undefined} data-op={l.op}>
          {l.op === '-' ? '−' : l.op} {l.text}
        </div>
      ))}
    </pre>
  );
}

function unchanged(original: DataPlaneService, toSend: DataPlaneService): boolean {
  const norm = (o: DataPlaneService) =>
    JSON.stringify({ spec: { ...o.spec, services: cleanServices(o.spec.services ?? []) }, labels: o.metadata.labels ?? {} });
  return norm(original) === norm(toSend);
}

/** saveErrorText says what a failed save means; a request without an answer is not "Failed to fetch". */
function saveErrorText(e: ApiError): string {
  if (e.status === 0) {
    return `dpa did not answer (${e.message}): the network or dpa is down. Your changes are kept here; save again when it is back.`;
  }
  return e.message;
}
