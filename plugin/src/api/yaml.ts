import { stringify } from 'yaml';
import type { DataPlaneService } from './types';

/** toYAML renders the object as kubectl would (managedFields dropped for readability). */
export function toYAML(obj: DataPlaneService): string {
  const { managedFields: _mf, ...metadata } = obj.metadata as DataPlaneService['metadata'] & { managedFields?: unknown };
  return stringify({ ...obj, metadata }, { lineWidth: 0 });
}
