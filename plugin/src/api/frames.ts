// Query answers as dpa returns them (Grafana's QueryDataResponse JSON):
//   {"results":{"<refId>":{"status":200,"frames":[<frame>],"error":"…","errorSource":"…"}}}
// with data frames in the SDK's JSON frame format:
//   {"schema":{"name","refId","meta","fields":[{"name","type","labels","config"}]},
//    "data":{"values":[[col0…],[col1…]],"entities":[{"NaN":[rows],"Inf":[…],"NegInf":[…]}|null]}}

export interface FrameField {
  name: string;
  type: string;
  labels?: Record<string, string>;
  config?: { displayName?: string; displayNameFromDS?: string; unit?: string };
}

export interface JSONFrame {
  schema?: { name?: string; refId?: string; meta?: unknown; fields?: FrameField[] };
  data?: { values?: unknown[][]; entities?: Array<Record<string, number[]> | null> };
}

export interface QueryResult {
  refId: string;
  status?: number;
  error?: string;
  errorSource?: string;
  frames: JSONFrame[];
}

/** A frame ready to render: column headers and stringified cells, row-major. */
export interface FrameTable {
  refId: string;
  name: string;
  columns: string[];
  types: string[];
  rows: string[][];
}

/** isQueryResponse: does body look like a QueryDataResponse? */
export function isQueryResponse(body: unknown): body is { results: Record<string, unknown> } {
  return !!body && typeof body === 'object' && typeof (body as { results?: unknown }).results === 'object' && (body as { results?: unknown }).results !== null;
}

export function queryResults(body: unknown): QueryResult[] {
  if (!isQueryResponse(body)) {
    return [];
  }
  return Object.entries(body.results).map(([refId, r]) => {
    const res = (r ?? {}) as Partial<QueryResult>;
    return {
      refId,
      status: res.status,
      error: res.error,
      errorSource: res.errorSource,
      frames: Array.isArray(res.frames) ? res.frames : [],
    };
  });
}

function fieldTitle(f: FrameField): string {
  const base = f.config?.displayNameFromDS || f.config?.displayName || f.name || '';
  const labels = f.labels && Object.keys(f.labels).length ? `{${Object.entries(f.labels).map(([k, v]) => `${k}="${v}"`).join(', ')}}` : '';
  return labels ? `${base} ${labels}`.trim() : base;
}

function cell(v: unknown, type: string): string {
  if (v === null || v === undefined) {
    return 'null';
  }
  if (type === 'time' && typeof v === 'number') {
    const d = new Date(v);
    return isNaN(d.getTime()) ? String(v) : d.toISOString();
  }
  if (typeof v === 'object') {
    return JSON.stringify(v);
  }
  return String(v);
}

/** frameTable turns a JSON frame into rows; entities restore NaN and ±Inf (sent as null). */
export function frameTable(frame: JSONFrame, refId = ''): FrameTable {
  const fields = frame.schema?.fields ?? [];
  const values = frame.data?.values ?? [];
  const entities = frame.data?.entities ?? [];
  const nrows = values.reduce((m, col) => Math.max(m, Array.isArray(col) ? col.length : 0), 0);
  const special: Array<Map<number, string>> = fields.map((_, c) => {
    const m = new Map<number, string>();
    const e = entities[c];
    if (e) {
      for (const [kind, rows] of Object.entries(e)) {
        const text = kind === 'NegInf' ? '-Inf' : kind === 'Inf' ? '+Inf' : kind;
        (rows ?? []).forEach((r) => m.set(r, text));
      }
    }
    return m;
  });
  const rows: string[][] = [];
  for (let r = 0; r < nrows; r++) {
    rows.push(fields.map((f, c) => special[c].get(r) ?? cell(values[c]?.[r], f.type)));
  }
  return {
    refId: frame.schema?.refId || refId,
    name: frame.schema?.name ?? '',
    columns: fields.map(fieldTitle),
    types: fields.map((f) => f.type),
    rows,
  };
}
