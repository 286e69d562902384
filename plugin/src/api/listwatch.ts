import { ApiError } from './errors';
import type { DataPlaneService, DataPlaneServiceList } from './types';

/**
 * StreamFn opens a long-lived GET and yields its body as text chunks, as they arrive (a
 * Kubernetes watch is one JSON event per line). It throws ApiError for a non-2xx answer.
 */
export type StreamFn = (url: string, signal: AbortSignal) => AsyncIterable<string>;

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: DataPlaneService & { code?: number; reason?: string; message?: string };
}

/** lineSplitter buffers partial lines across chunks and returns the complete ones. */
export function lineSplitter(): (chunk: string) => string[] {
  let buf = '';
  return (chunk: string) => {
    buf += chunk;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    return lines.filter((l) => l.trim() !== '');
  };
}

export interface ListWatchSource {
  /** One page of the collection: params are the Kubernetes list's limit and continue. */
  list(params?: Record<string, string>): Promise<DataPlaneServiceList>;
  collectionURL(): string;
}

/**
 * Loading is where a first list stands while its pages arrive: loaded of about total
 * (the server's remainingItemCount, when it gives one).
 */
export interface Loading {
  loaded: number;
  total?: number;
}

export interface ListWatchOptions {
  /** Without a stream (inside Grafana, whose resource proxy buffers), poll every pollMs. */
  stream?: StreamFn;
  pollMs?: number;
  /** Changes arriving within batchMs are delivered as one update (one render, not one per event). */
  batchMs?: number;
  /** The first retry after a failure; doubled up to 30 s. */
  retryMs?: number;
  /** Objects per list page (the Kubernetes limit/continue protocol, one consistent snapshot). Default 500. */
  pageSize?: number;
  /**
   * Deliver the first list page by page, each with its Loading, so that the first rows of
   * 10,000 objects do not wait for all of them. Only for an onItems that shows Loading.
   */
  progressive?: boolean;
}

/**
 * ListWatch keeps a local copy of every DataPlaneService the way a Kubernetes informer does:
 * list (in pages), then watch from the list's resourceVersion (with bookmarks), apply each
 * event, resume from the last resourceVersion when the server ends the watch, and list again
 * when it says 410 Gone. onItems gets the whole collection after each batch of changes — and,
 * on the first list only, the objects so far after each page with loading set (so a page can
 * say "loading" instead of showing a partial collection as if it were all); onError(null)
 * clears a previous error.
 */
export class ListWatch {
  private readonly items = new Map<string, DataPlaneService>();
  private rv = '';
  /** A first list completed: later lists (after 410 Gone) replace the items in one update. */
  private listed = false;
  private stopped = false;
  private abort = new AbortController();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private sleepTimer: ReturnType<typeof setTimeout> | undefined;
  private wake: (() => void) | undefined;
  /** How many watch connections were opened (tests and diagnostics). */
  watches = 0;

  constructor(
    private readonly src: ListWatchSource,
    private readonly onItems: (items: DataPlaneService[], loading?: Loading) => void,
    private readonly onError: (err: unknown | null) => void,
    private readonly opts: ListWatchOptions = {}
  ) {}

  start(): this {
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.flushTimer);
    clearTimeout(this.sleepTimer);
    this.wake?.();
  }

  private async run() {
    let retry = this.opts.retryMs ?? 1000;
    while (!this.stopped) {
      try {
        await this.relist();
        retry = this.opts.retryMs ?? 1000;
        if (!this.opts.stream) {
          await this.sleep(this.opts.pollMs ?? 5000);
          continue;
        }
        // Watch until the server says the resourceVersion is too old; each watch the server
        // ends (its request timeout) resumes from the last version seen.
        while (!this.stopped && (await this.watchOnce())) {
          retry = this.opts.retryMs ?? 1000;
        }
      } catch (e) {
        if (this.stopped) {
          return;
        }
        this.onError(e);
        await this.sleep(retry);
        retry = Math.min(retry * 2, 30000);
      }
    }
  }

  private async relist() {
    const fresh = new Map<string, DataPlaneService>();
    const first = !this.listed;
    let cont = '';
    let rv = '';
    do {
      const params: Record<string, string> = { limit: String(this.opts.pageSize ?? 500) };
      if (cont) {
        params.continue = cont;
      }
      const page = await this.src.list(params);
      for (const o of page.items) {
        fresh.set(o.metadata.name, o);
      }
      cont = page.metadata.continue ?? '';
      rv = page.metadata.resourceVersion ?? rv;
      if (cont && first && this.opts.progressive && !this.stopped) {
        const rest = page.metadata.remainingItemCount;
        this.onItems([...fresh.values()], { loaded: fresh.size, total: rest === undefined ? undefined : fresh.size + rest });
      }
    } while (cont && !this.stopped);
    this.items.clear();
    for (const [name, o] of fresh) {
      this.items.set(name, o);
    }
    this.rv = rv;
    this.listed = true;
    this.onError(null);
    this.flush();
  }

  /** watchOnce returns true to resume watching, false to list again (410 Gone). */
  private async watchOnce(): Promise<boolean> {
    const params = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true', resourceVersion: this.rv });
    const split = lineSplitter();
    this.watches++;
    for await (const chunk of this.opts.stream!(`${this.src.collectionURL()}?${params}`, this.abort.signal)) {
      for (const line of split(chunk)) {
        const ev = JSON.parse(line) as WatchEvent;
        if (ev.type === 'ERROR') {
          if (ev.object?.code === 410) {
            return false;
          }
          throw new ApiError(ev.object?.code ?? 500, ev.object);
        }
        const rv = ev.object?.metadata?.resourceVersion;
        if (rv) {
          this.rv = rv;
        }
        if (ev.type === 'BOOKMARK') {
          continue;
        }
        if (ev.type === 'DELETED') {
          this.items.delete(ev.object.metadata.name);
        } else {
          this.items.set(ev.object.metadata.name, ev.object);
        }
        this.scheduleFlush();
      }
      if (this.stopped) {
        break;
      }
    }
    return true;
  }

  private scheduleFlush() {
    if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => this.flush(), this.opts.batchMs ?? 100);
    }
  }

  private flush() {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.stopped) {
      this.onItems([...this.items.values()]);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }
}
