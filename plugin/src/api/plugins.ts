import type { Plugin as GeneratedPlugin, Metadata } from '../generated/plugin/v0alpha1/plugin_object_gen';
import type { ReplicaStatus } from '../generated/plugin/v0alpha1/types.status.gen';
import { PLUGIN_SERVICE } from './endpoints.gen';
import type { ServiceType } from './types';

/**
 * An installed plugin as dpa reports it (the read-only Plugin resource, written by dpa from its
 * plugin host): spec from plugin.json, and one status entry per dpa replica.
 */
export interface InstalledPlugin extends Omit<GeneratedPlugin, 'metadata' | 'status'> {
  metadata: Omit<Metadata, 'namespace'> & { namespace?: string };
  status?: { replicas?: ReplicaStatus[] };
}

export type { ReplicaStatus };

export const PLUGINS_RESOURCE = 'plugins';

export interface PluginSummary {
  /**
   * The replicas' phases (one when they agree): Running, NotResponding (the process runs but
   * missed its liveness probe), Backoff, Idle, …
   */
  phase: string;
  /** Replicas whose process runs (responding or not). */
  running: number;
  /** Replicas whose process runs and answers its liveness probe: the ones that serve calls. */
  serving: number;
  /** Why a replica's process does not answer its probe (the first such replica's). */
  notResponding?: string;
  replicas: number;
  restarts: number;
  lastError?: string;
  /** The gRPC services the running processes serve and implement (undefined: no running replica reported any). */
  services?: string[];
}

/** summarize folds the replicas' entries into what a list shows. */
export function summarize(p: InstalledPlugin): PluginSummary {
  const rs = p.status?.replicas ?? [];
  const running = rs.filter((r) => r.running).length;
  const phases = [...new Set(rs.map((r) => r.phase))];
  let services: Set<string> | undefined;
  for (const r of rs) {
    if (!r.running || !r.services) {
      continue;
    }
    const implemented = r.services.filter((s) => !(r.unimplemented ?? []).includes(s));
    services = services ? new Set(implemented.filter((s) => services!.has(s))) : new Set(implemented);
  }
  return {
    phase: phases.length === 1 ? phases[0] : phases.length === 0 ? 'Unknown' : phases.join(', '),
    running,
    serving: rs.filter((r) => r.running && !r.notResponding).length,
    notResponding: rs.find((r) => r.notResponding)?.notResponding,
    replicas: rs.length,
    restarts: rs.reduce((n, r) => n + (r.restarts ?? 0), 0),
    lastError: rs.find((r) => r.lastError)?.lastError,
    services: services ? [...services].sort() : undefined,
  };
}

export interface Support {
  ok: boolean;
  /** Why not, in words (for the form). */
  reason?: string;
}

/**
 * supports says whether an installed plugin can serve a service type: the plugin service the
 * type calls (PLUGIN_SERVICE, generated from pkg/routes) must be among the ones its running
 * process implements. Unknown (no running replica) counts as supported: dpa checks again
 * when the plugin runs (the Available condition).
 */
export function supports(p: InstalledPlugin | undefined, type: ServiceType): Support {
  if (!p) {
    return { ok: true };
  }
  const need = PLUGIN_SERVICE[type];
  const served = summarize(p).services;
  if (!need || served === undefined || served.includes(need)) {
    return { ok: true };
  }
  return { ok: false, reason: `${p.spec.id} does not serve ${need}, which ${type} calls` };
}

/** The service types to prefill for a plugin: those whose plugin service it serves (datasource-proxy, route, metrics, admission and conversion are left to the user). */
export function suggestedServices(p: InstalledPlugin): ServiceType[] {
  const candidates: ServiceType[] = p.spec.type === 'app' ? ['resource', 'stream', 'health'] : ['query', 'resource', 'stream', 'health'];
  const served = summarize(p).services;
  return served === undefined ? candidates.slice(0, 1) : candidates.filter((t) => served.includes(PLUGIN_SERVICE[t]));
}
