import { stringify } from 'yaml';
import type { DataPlaneService } from './types';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * toYAML renders the object as kubectl would, without what only tools read: managedFields
 * and kubectl's last-applied-configuration annotation (a copy of the object itself).
 */
export function toYAML(obj: DataPlaneService): string {
  const { managedFields: _mf, ...metadata } = obj.metadata as DataPlaneService['metadata'] & { managedFields?: unknown };
  if (metadata.annotations && LAST_APPLIED in metadata.annotations) {
    const { [LAST_APPLIED]: _la, ...rest } = metadata.annotations;
    metadata.annotations = Object.keys(rest).length ? rest : undefined;
    if (!metadata.annotations) {
      delete metadata.annotations;
    }
  }
  return stringify({ ...obj, metadata }, { lineWidth: 0 });
}

/**
 * editableYAML is the part of an object a user edits and compares: name, labels, annotations
 * and spec, without what the server sets (uid, resourceVersion, generation, timestamps,
 * managedFields) or status.
 */
export function editableYAML(obj: DataPlaneService): string {
  const { name, labels, annotations } = obj.metadata;
  const metadata: Record<string, unknown> = { name };
  if (labels && Object.keys(labels).length) {
    metadata.labels = labels;
  }
  const ann = annotations && Object.fromEntries(Object.entries(annotations).filter(([k]) => k !== LAST_APPLIED));
  if (ann && Object.keys(ann).length) {
    metadata.annotations = ann;
  }
  return stringify({ apiVersion: obj.apiVersion, kind: obj.kind, metadata, spec: obj.spec }, { lineWidth: 0 });
}
