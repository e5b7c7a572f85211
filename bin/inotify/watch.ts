/**
 * Recursive inotify through `inotifywait` (inotify-tools) child processes: Node 18's fs.watch
 * is not recursive on Linux and reports no event names (CREATE/MODIFY/ATTRIB…), which the
 * container monitor classifies. The output format is three NUL-terminated fields per event
 * (`%e\0%w\0%f\0`), so any byte a container puts in a file name, a newline included, is data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, type Dirent } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDirectory } from '../lib/safe-fs.ts';

interface WatchEvent {
  events: string[];
  /** Full path: the watched directory plus the name. */
  path: string;
}

// ------------------------------------------------------------------------------------------------
// A recursive watch without inotifywait's blind spot.
//
// `inotifywait -r` adds the watches of a tree bottom-up (a directory's children before the
// directory itself), both at start and for a directory created later, and reports a new directory
// before it watches it: a subdirectory made in between is never watched, so nothing in it is ever
// reported. TreeWatch keeps the watches itself, top-down: it runs inotifywait without -r on a
// batch of directories and, once those watches are established, reads the directories. What was
// made before the watch is found by that read (and queued for the next batch, and for a directory
// that appeared while we run its entries are reported once as CREATE); what is made after it
// raises an event. So every directory is watched, whatever the timing.
//
// Each batch is one inotifywait process (one inotify instance). When there are more than
// MAX_PROCESSES, one process for all watched directories replaces them: an old process is stopped
// only after it reported a "fence" file created in a directory of our own, which every process
// watches — inotify queues events in order, so nothing it saw before the fence is lost.

const MAX_PROCESSES = 12;

interface TreeWatchOptions {
  roots: string[];
  events: string[];
  /** Full paths matching this are neither watched nor reported. */
  exclude?: RegExp;
  /** A real event, or `synthetic` for an entry found in a directory that appeared while we run. */
  onEvent: (event: WatchEvent & { synthetic?: boolean }) => void;
  onError: (line: string) => void;
}

interface Batch {
  child: ChildProcess;
  dirs: string[];
  ready: boolean;
  id: number;
  /** Stopped by us: its exit is not a failure. */
  retired: boolean;
}

interface Queued {
  announce: boolean;
}

export class TreeWatch {
  private readonly watched = new Map<string, Batch>();
  private readonly queue = new Map<string, Queued>();
  private readonly batches = new Set<Batch>();
  private starting: Batch | undefined;
  private settledWaiters: (() => void)[] = [];
  private nextId = 0;
  private stopped = false;
  private failures = 0;
  private readonly fenceDir: string | undefined;
  private readonly draining = new Map<string, Batch>(); // fence name -> batch to stop when it reports it
  private readonly syncs = new Map<string, { remaining: Set<Batch>; resolve: () => void }>(); // fence name -> batches yet to report it

  constructor(private readonly options: TreeWatchOptions) {
    try {
      this.fenceDir = mkdtempSync(join(tmpdir(), 'podsec-inotify-fence-'));
    } catch {
      this.fenceDir = undefined; // no consolidation then: processes only accumulate until a restart
    }
    this.add(options.roots, false);
  }

  /** The number of directories watched. */
  get size(): number {
    return this.watched.size;
  }

  /** Watches `dirs` and everything below them (not reporting what is there now). */
  add(dirs: string[], announce = false): Promise<void> {
    for (const dir of dirs) this.enqueue(dir, announce);
    const settled = new Promise<void>((resolve) => this.settledWaiters.push(resolve));
    this.pump();
    return settled;
  }

  /** Resolves when every directory found so far is watched and read. */
  settled(): Promise<void> {
    const settled = new Promise<void>((resolve) => this.settledWaiters.push(resolve));
    this.pump();
    return settled;
  }

  /**
   * Resolves when every event that happened before the call has been handled and every directory
   * found so far is watched and read: each process reports a fence file first (their queues are
   * drained up to now), then the queue of new directories runs empty.
   */
  async sync(): Promise<void> {
    if (this.fenceDir) {
      const live = new Set([...this.batches].filter((b) => b.ready && !b.retired));
      if (live.size > 0) {
        const name = `sync-${this.nextId++}`;
        await new Promise<void>((resolve) => {
          this.syncs.set(name, { remaining: live, resolve });
          writeFileSync(join(this.fenceDir!, name), '');
        });
        rmSync(join(this.fenceDir, name), { force: true });
      }
    }
    await this.settled();
  }

  private syncReported(name: string, batch: Batch | undefined): void {
    for (const [key, sync] of this.syncs) {
      if (name !== '' && key !== name) continue;
      if (batch) sync.remaining.delete(batch);
      if (sync.remaining.size === 0) {
        this.syncs.delete(key);
        sync.resolve();
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const batch of this.batches) {
      batch.retired = true;
      batch.child.kill('SIGTERM');
    }
    if (this.fenceDir) rmSync(this.fenceDir, { recursive: true, force: true });
  }

  private excluded(path: string): boolean {
    return Boolean(this.options.exclude?.test(path));
  }

  private enqueue(dir: string, announce: boolean): void {
    if (this.excluded(dir) || this.watched.has(dir)) return;
    const queued = this.queue.get(dir);
    if (queued) queued.announce ||= announce;
    else this.queue.set(dir, { announce });
  }

  private pump(): void {
    if (this.stopped || this.starting) return;
    if (this.queue.size === 0) {
      if (this.batches.size > MAX_PROCESSES && this.fenceDir) {
        this.consolidate();
        return;
      }
      const waiters = this.settledWaiters;
      this.settledWaiters = [];
      for (const resolve of waiters) resolve();
      return;
    }
    const batch = [...this.queue];
    this.queue.clear();
    this.startBatch(
      batch.map(([dir]) => dir),
      new Map(batch),
    );
  }

  /** One process for everything watched; the old ones are stopped once they reported the fence. */
  private consolidate(): void {
    const old = [...this.batches];
    this.startBatch([...this.watched.keys()], new Map(), () => {
      for (const batch of old) {
        const fence = `fence-${batch.id}`;
        this.draining.set(fence, batch);
        writeFileSync(join(this.fenceDir!, fence), '');
      }
    });
  }

  private startBatch(dirs: string[], queued: Map<string, Queued>, onReady?: () => void): void {
    const batch: Batch = { child: undefined as unknown as ChildProcess, dirs, ready: false, id: this.nextId++, retired: false };
    // Names with a newline or a leading '@' can't be in the --fromfile list: they go as arguments.
    const listed = dirs.filter((d) => !d.includes('\n') && !d.startsWith('@'));
    const argv = dirs.filter((d) => d.includes('\n') || d.startsWith('@'));
    if (this.fenceDir) listed.push(this.fenceDir);
    const args = ['-m', '--format', '%e%0%w%0%f%0', '--no-newline', '-e', this.options.events.join(','), '--fromfile', '-', '--', ...argv];
    const child = spawn('inotifywait', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    batch.child = child;
    this.starting = batch;
    this.batches.add(batch);
    child.stdin!.on('error', () => {}); // it may exit before reading the list; its exit says why
    child.stdin!.end(listed.map((d) => `${d}\n`).join(''));
    const couldNot: string[] = [];
    parseEvents(child, (event) => this.onEvent(batch, event));
    readLines(child, (line) => {
      if (line.startsWith('Watches established')) {
        batch.ready = true;
        this.failures = 0;
        for (const dir of dirs) this.watched.set(dir, batch);
        for (const dir of dirs) this.scan(dir, queued.get(dir)?.announce ?? false);
        this.starting = undefined;
        onReady?.();
        this.pump();
      } else if (line.startsWith('Setting up watches')) {
        // progress
      } else {
        const m = /^Couldn't watch (.*): (.*)$/s.exec(line);
        if (m) couldNot.push(m[1]!);
        if (!m || !/No such file or directory|Not a directory/.test(m[2]!)) this.options.onError(line);
      }
    });
    child.on('error', (error) => this.options.onError(error.message));
    child.on('exit', (code) => {
      this.batches.delete(batch);
      for (const sync of this.syncs.values()) sync.remaining.delete(batch);
      this.syncReported('', undefined);
      for (const [dir, owner] of this.watched) if (owner === batch) this.watched.delete(dir);
      if (this.stopped || batch.retired) return;
      if (!batch.ready) {
        // A directory of the batch went away before its watch: the others are queued again.
        this.starting = undefined;
        const gone = new Set(couldNot);
        if (gone.size === 0) this.failures++;
        for (const dir of dirs) if (!gone.has(dir) && isDirectory(dir)) this.enqueue(dir, queued.get(dir)?.announce ?? false);
        if (this.failures > 0) setTimeout(() => this.pump(), Math.min(1000 * this.failures, 10_000));
        else this.pump();
        return;
      }
      // All its directories were removed (inotifywait ends then), or it died: watch again what is left.
      for (const dir of dirs) if (isDirectory(dir)) this.enqueue(dir, false);
      if (code !== 0) this.options.onError(`inotifywait exited with code ${code}`);
      this.pump();
    });
  }

  /** Reads a directory just watched: subdirectories are queued; for a new directory, entries are reported. */
  private scan(dir: string, announce: boolean): void {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // gone again: its watch ends by itself
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (this.excluded(path)) continue;
      const isDir = entry.isDirectory();
      if (announce) this.options.onEvent({ events: isDir ? ['CREATE', 'ISDIR'] : ['CREATE'], path, synthetic: true });
      if (isDir) this.enqueue(path, announce);
    }
  }

  private onEvent(batch: Batch, event: WatchEvent): void {
    if (this.fenceDir && (event.path === this.fenceDir || event.path.startsWith(`${this.fenceDir}/`))) {
      const name = event.path.slice(this.fenceDir.length + 1);
      if (this.syncs.has(name) && event.events.includes('CREATE')) this.syncReported(name, batch);
      const draining = this.draining.get(name);
      if (draining === batch && event.events.includes('CREATE')) {
        this.draining.delete(name);
        rmSync(event.path, { force: true });
        draining.retired = true;
        draining.child.kill('SIGTERM');
        this.batches.delete(draining);
      }
      return;
    }
    if (this.excluded(event.path)) return;
    // While a batch is being replaced, it and its replacement may both report an event: the
    // consumer sees it twice (check-containers merges the events of a path anyway).
    if (batch.retired) return;
    const { events, path } = event;
    if (events.includes('ISDIR') && (events.includes('CREATE') || events.includes('MOVED_TO'))) {
      this.enqueue(path, true);
      this.pump();
    } else if (events.includes('ISDIR') && events.includes('MOVED_FROM')) {
      // Its watches keep reporting under the old name: forget them, so the new name is watched.
      for (const dir of [...this.watched.keys()]) if (dir === path || dir.startsWith(`${path}/`)) this.watched.delete(dir);
    }
    if (events.includes('DELETE_SELF') || events.includes('IGNORED')) {
      if (this.watched.get(path) === batch) this.watched.delete(path);
    }
    this.options.onEvent(event);
  }
}

function parseEvents(child: ChildProcess, onEvent: (event: WatchEvent) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  const fields: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    for (let i = pending.indexOf(0, start); i >= 0; i = pending.indexOf(0, start)) {
      fields.push(pending.toString('utf8', start, i));
      start = i + 1;
      if (fields.length === 3) {
        const [mask, dir, name] = fields.splice(0, 3) as [string, string, string];
        onEvent({ events: mask.split(','), path: name === '' ? dir.replace(/\/$/, '') : dir.endsWith('/') ? dir + name : `${dir}/${name}` });
      }
    }
    pending = pending.subarray(start);
  });
}

function readLines(child: ChildProcess, onLine: (line: string) => void): void {
  let text = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    text += chunk;
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (line.trim() !== '') onLine(line);
    }
  });
}

// ------------------------------------------------------------------------------------------------
// A watch of a few directories, not their subdirectories, with inotify's event names (fs.watch
// reports a write as "change" at its first MODIFY, before the writer has finished; CLOSE_WRITE says
// it has). One inotifywait process watches the current set; when the set changes, a new process
// replaces it once its watches are established, so no event is lost in between.

interface DirsWatchOptions {
  events: string[];
  onEvent: (event: WatchEvent) => void;
  /** The watches of `set(dirs)` are established: `count` directories. */
  onReady: (count: number) => void;
  /** The process ended by itself (its directories were removed) or could not watch a directory: call set() again. */
  onLost: () => void;
  onError: (line: string) => void;
}

interface DirsProcess {
  child: ChildProcess;
  key: string;
  retired: boolean;
}

export class DirsWatch {
  private current: DirsProcess | undefined;
  private starting: DirsProcess | undefined;
  private stopped = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly options: DirsWatchOptions) {}

  /** Watches exactly `dirs` (a set equal to the current one changes nothing). */
  set(dirs: string[]): void {
    const key = [...dirs].sort().join('\0');
    if (this.stopped || (this.starting ?? this.current)?.key === key) return;
    if (this.starting) this.retire(this.starting);
    // Names with a newline or a leading '@' can't be in the --fromfile list: they go as arguments.
    const listed = dirs.filter((d) => !d.includes('\n') && !d.startsWith('@'));
    const argv = dirs.filter((d) => d.includes('\n') || d.startsWith('@'));
    const args = ['-m', '--format', '%e%0%w%0%f%0', '--no-newline', '-e', this.options.events.join(','), '--fromfile', '-', '--', ...argv];
    const child = spawn('inotifywait', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const proc: DirsProcess = { child, key, retired: false };
    this.starting = proc;
    child.stdin!.on('error', () => {}); // it may exit before reading the list; its exit says why
    child.stdin!.end(listed.map((d) => `${d}\n`).join(''));
    parseEvents(child, (event) => {
      if (!proc.retired) this.options.onEvent(event);
    });
    readLines(child, (line) => {
      if (line.startsWith('Watches established')) {
        if (proc !== this.starting) return;
        this.starting = undefined;
        if (this.current) this.retire(this.current);
        this.current = proc;
        this.failures = 0;
        this.options.onReady(dirs.length);
      } else if (!line.startsWith('Setting up watches') && !/^Couldn't watch .*: (No such file or directory|Not a directory)$/s.test(line)) {
        this.options.onError(line);
      }
    });
    child.on('error', (error) => this.options.onError(error.message));
    child.on('exit', () => {
      if (this.stopped || proc.retired) return;
      proc.retired = true;
      if (this.current === proc) this.current = undefined;
      if (this.starting === proc) this.starting = undefined;
      // Bounded: a directory that keeps vanishing, or no inotifywait at all, is retried at most every 10 s.
      this.failures++;
      const delay = this.failures > 1 ? Math.min(1000 * (this.failures - 1), 10_000) : 0;
      this.retry = setTimeout(() => this.options.onLost(), delay);
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    for (const proc of [this.current, this.starting]) if (proc) this.retire(proc);
  }

  private retire(proc: DirsProcess): void {
    proc.retired = true;
    proc.child.kill('SIGTERM');
  }
}
