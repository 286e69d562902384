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
