import { setTimeout as sleep } from 'node:timers/promises';
import { CommitConflictError, LakeFormatError, VersionPrunedError } from './errors.js';
import { parseJson, stringifyJson, type JsonValue } from './json.js';
import type { ObjectStore } from './storage/index.js';
import { decodeUtf8, joinKey } from './storage/keys.js';

/**
 * A JSON document with compare-and-swap, built on nothing but `putIfAbsent`. Version N lives at
 * `<prefix>/v<N>.json` and is never modified: committing on top of version N means creating N+1, and the exclusive
 * create lets exactly one of the writers that read N succeed. No lock exists, so none can go stale.
 *
 * Old versions are pruned behind a floor (`prune`). A marker `<prefix>/floor/<F>` says that the versions below F
 * are gone or going; it is written before any of them is deleted, and the floor is the highest marker, so two
 * prunes at once can only raise it. Everything here reads the floor and ignores what lies below it: a crash half-way
 * through the deletes leaves versions that nobody reads. Versions from the floor to the latest are contiguous
 * (N+1 is only ever created by a writer that read N), so the latest is found by probing forward from the floor or
 * the version hint, never by listing the versions.
 *
 * Deleting a version frees its name, so a writer that built on a version long since pruned could create it again
 * (an ABA race). A commit therefore reads the floor after its create: a version that landed below the floor was
 * such a resurrection, is taken back and reported as the conflict it is, so the writer re-reads the latest and
 * nothing it committed is lost.
 */
export interface Versioned<T> {
  readonly version: number;
  readonly value: T;
}

export interface UpdateOptions {
  /** Conflicts retried before giving up (the last CommitConflictError is thrown). Default 8. */
  readonly retries?: number;
}

export interface PruneOutcome {
  /** The floor after the prune: the oldest version that can be read. */
  readonly floor: number;
  /** Versions deleted (leftovers of an earlier, interrupted prune included). */
  readonly deleted: number;
}

const VERSION_FILE = /^v(\d+)\.json$/;
const FLOOR_DIR = 'floor';
const FLOOR_FILE = /^(\d+)$/;
/** Rounds of "the floor moved while we looked" before a missing oldest version is called damage. */
const FLOOR_ATTEMPTS = 3;

const pad = (version: number): string => String(version).padStart(10, '0');

/**
 * The update in flight per store and document: a process's own updates of one document (the table actors of one
 * stream committing to the shared catalog and manifest) take turns instead of racing. Lost races would be retried,
 * but on S3 each one also counts toward the conflict breaker, which is there to notice a second writing process:
 * four tables committing every second raced often enough to trip it. Keyed by the store object, which every caller
 * of one lake shares (lake/open.ts), so two instances over one document take turns too.
 */
const updating = new WeakMap<ObjectStore, Map<string, Promise<unknown>>>();

export class VersionedDocument<T> {
  readonly prefix: string;
  private readonly decode: (raw: JsonValue) => T;

  /** `decode` validates what was read (e.g. a zod parse) and throws on anything it does not accept. */
  constructor(
    private readonly store: ObjectStore,
    prefix: string,
    decode: (raw: JsonValue) => T,
  ) {
    this.prefix = joinKey(prefix);
    this.decode = decode;
  }

  /** The highest version, or undefined when the document was never committed. */
  async read(): Promise<Versioned<T> | undefined> {
    for (let attempt = 1; ; attempt++) {
      const version = await this.latestVersion();
      if (version === undefined) return undefined;
      const body = await this.store.get(this.versionKey(version));
      if (body) return { version, value: this.parse(version, body) };
      // Pruned between finding it and reading it: only a reader that stalled past the whole retention gets here.
      if (attempt >= FLOOR_ATTEMPTS) throw this.missing(version);
    }
  }

  /** One specific version; VersionPrunedError below the floor, LakeFormatError when missing above it. */
  async readVersion(version: number): Promise<T> {
    const body = await this.store.get(this.versionKey(version));
    // Read after the body: a version deleted before our read had its floor marker written before that.
    const floor = await this.floor();
    if (version < floor) throw new VersionPrunedError(this.prefix, version, floor);
    if (!body) throw this.missing(version);
    return this.parse(version, body);
  }

  /** The oldest version that can be read (1 until the first prune). */
  async floor(): Promise<number> {
    const dir = `${this.prefix}/${FLOOR_DIR}/`;
    let floor = 1;
    for (const key of await this.store.list(dir)) {
      const match = FLOOR_FILE.exec(key.slice(dir.length));
      if (match) floor = Math.max(floor, Number(match[1]));
    }
    return floor;
  }

  /** The highest version, without reading it. */
  async latestVersion(): Promise<number | undefined> {
    for (let attempt = 1; ; attempt++) {
      const floor = await this.floor();
      const hint = await this.readHint();
      for (const start of hint !== undefined && hint > floor ? [hint, floor] : [floor]) {
        if (await this.store.exists(this.versionKey(start))) return this.lastFrom(start);
      }
      // Nothing at the floor: never committed, a prune that raised the floor meanwhile, or a damaged lake.
      if (floor === 1) return undefined;
      if (attempt >= FLOOR_ATTEMPTS) throw this.missing(floor);
    }
  }

  /** When version `version` was written (ms since the epoch); undefined when it does not exist. */
  modifiedAt(version: number): Promise<number | undefined> {
    return this.store.modifiedAt(this.versionKey(version));
  }

  /**
   * Creates version `expectedVersion + 1` (version 1 when `expectedVersion` is undefined: the document must not
   * exist yet). Throws CommitConflictError when another writer created it first, or when it had been pruned.
   */
  async commit(expectedVersion: number | undefined, value: T): Promise<number> {
    if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 1)) {
      throw new RangeError(`expected version must be a positive integer, got ${expectedVersion}`);
    }
    const version = (expectedVersion ?? 0) + 1;
    const key = this.versionKey(version);
    if (await this.store.putIfAbsent(key, stringifyJson(value, 2))) {
      if (version >= (await this.floor())) {
        // Best effort: a missing or stale hint only costs the next reader a few probes.
        await this.store.put(this.hintKey(), String(version)).catch(() => undefined);
        return version;
      }
      // We re-created a pruned version, below the floor where nobody reads: take it back (a later prune would).
      await this.store.delete(key);
    }
    throw new CommitConflictError(`${this.prefix} moved on: version ${version} was committed by another writer`, {
      document: this.prefix,
      expected: expectedVersion,
      actual: await this.latestVersion(),
    });
  }

  /**
   * Read, apply `fn`, commit; on conflict re-read and apply `fn` again. `fn` must be pure (it may run several
   * times) and may throw to abort.
   */
  async update(fn: (current: Versioned<T> | undefined) => T, options: UpdateOptions = {}): Promise<Versioned<T>> {
    let inFlight = updating.get(this.store);
    if (!inFlight) updating.set(this.store, (inFlight = new Map<string, Promise<unknown>>()));
    const previous = inFlight.get(this.prefix) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.updateAlone(fn, options));
    inFlight.set(this.prefix, mine);
    try {
      return await mine;
    } finally {
      if (inFlight.get(this.prefix) === mine) inFlight.delete(this.prefix);
    }
  }

  private async updateAlone(
    fn: (current: Versioned<T> | undefined) => T,
    options: UpdateOptions,
  ): Promise<Versioned<T>> {
    const retries = options.retries ?? 8;
    for (let attempt = 0; ; attempt++) {
      const current = await this.read();
      const next = fn(current);
      try {
        const version = await this.commit(current?.version, next);
        return { version, value: next };
      } catch (error) {
        if (!(error instanceof CommitConflictError) || attempt >= retries) throw error;
        // Jitter so that writers that collided once do not collide again in lockstep.
        await sleep(Math.random() * 10 * (attempt + 1));
      }
    }
  }

  /**
   * Raises the floor to `floor` (never past the latest version, never down), then deletes every version below it,
   * oldest first, and the floor markers it supersedes. Which floor is safe is the caller's decision (see
   * lake/retention.ts). Safe beside writers, readers and other prunes: each deletes only below a marker that exists.
   */
  async prune(floor: number): Promise<PruneOutcome> {
    if (!(Number.isSafeInteger(floor) && floor >= 1)) throw new RangeError(`floor must be an integer >= 1: ${floor}`);
    const latest = await this.latestVersion();
    const current = await this.floor();
    if (latest === undefined) return { floor: current, deleted: 0 };
    const target = Math.min(floor, latest);
    if (target > current) await this.store.put(this.floorKey(target), `${new Date().toISOString()}\n`);
    const effective = Math.max(target, current);

    // The one listing: what lies below the floor, including what an interrupted prune or a taken-back commit left.
    const versions: number[] = [];
    const markers: number[] = [];
    for (const key of await this.store.list(`${this.prefix}/`)) {
      const name = key.slice(this.prefix.length + 1);
      const version = VERSION_FILE.exec(name)?.[1];
      const marker = name.startsWith(`${FLOOR_DIR}/`) ? FLOOR_FILE.exec(name.slice(FLOOR_DIR.length + 1))?.[1] : '';
      if (version !== undefined && Number(version) < effective) versions.push(Number(version));
      if (marker && Number(marker) < effective) markers.push(Number(marker));
    }
    versions.sort((a, b) => a - b);
    for (const version of versions) await this.store.delete(this.versionKey(version));
    for (const marker of markers) await this.store.delete(this.floorKey(marker));
    return { floor: effective, deleted: versions.length };
  }

  versionKey(version: number): string {
    return `${this.prefix}/v${pad(version)}.json`;
  }

  private floorKey(floor: number): string {
    return `${this.prefix}/${FLOOR_DIR}/${pad(floor)}`;
  }

  private hintKey(): string {
    return `${this.prefix}/version-hint.text`;
  }

  private parse(version: number, body: Uint8Array): T {
    try {
      return this.decode(parseJson(decodeUtf8(body)));
    } catch (error) {
      throw new LakeFormatError(
        `version ${version} of ${this.prefix} does not parse`,
        { key: this.versionKey(version) },
        error,
      );
    }
  }

  private missing(version: number): LakeFormatError {
    return new LakeFormatError(`version ${version} of ${this.prefix} is missing`, { key: this.versionKey(version) });
  }

  /** The hint is written after each commit, so it is behind at worst; garbage or a missing file is no hint. */
  private async readHint(): Promise<number | undefined> {
    const body = await this.store.get(this.hintKey()).catch(() => undefined);
    const text = body ? decodeUtf8(body).trim() : '';
    return /^\d+$/.test(text) && Number(text) >= 1 ? Number(text) : undefined;
  }

  /**
   * The last version of the unbroken run from `start` (which exists): steps that double until one misses, then
   * bisection between the last hit and that miss. One probe when the hint is right, about 2·log₂(distance) when not.
   */
  private async lastFrom(start: number): Promise<number> {
    let hit = start;
    let miss: number | undefined;
    for (let step = 1; miss === undefined; step *= 2) {
      if (await this.store.exists(this.versionKey(hit + step))) hit += step;
      else miss = hit + step;
    }
    while (miss - hit > 1) {
      const middle = Math.floor((hit + miss) / 2);
      if (await this.store.exists(this.versionKey(middle))) hit = middle;
      else miss = middle;
    }
    return hit;
  }
}
