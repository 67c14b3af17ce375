import { setTimeout as sleep } from 'node:timers/promises';
import { CommitConflictError, LakeFormatError } from './errors.js';
import { parseJson, stringifyJson, type JsonValue } from './json.js';
import type { ObjectStore } from './storage/index.js';
import { decodeUtf8, joinKey } from './storage/keys.js';

/**
 * A JSON document with compare-and-swap, built on nothing but `putIfAbsent`. Version N lives at
 * `<prefix>/v<N>.json` and is never modified or deleted: committing on top of version N means creating N+1, and
 * the exclusive create lets exactly one of the writers that read N succeed. No lock exists, so none can go stale.
 *
 * Old versions are kept on purpose. Deleting them would reopen a slot that a writer holding a stale version
 * could then fill (an ABA race); pruning needs a floor marker first.
 */
export interface Versioned<T> {
  readonly version: number;
  readonly value: T;
}

export interface UpdateOptions {
  /** Conflicts retried before giving up (the last CommitConflictError is thrown). Default 8. */
  readonly retries?: number;
}

const VERSION_FILE = /^v(\d+)\.json$/;
/** Forward probes from the hint before falling back to a listing. */
const MAX_PROBES = 16;

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

  /**
   * The highest version. The version hint saves a listing (costly on S3, and growing with every commit) when it
   * is right; a hint is only ever behind, never ahead, so we probe forward from it until the next version is
   * missing.
   */
  async read(): Promise<Versioned<T> | undefined> {
    const version = (await this.latestFromHint()) ?? (await this.latestFromListing());
    return version === undefined ? undefined : { version, value: await this.readVersion(version) };
  }

  /** One specific version; throws when it does not exist. */
  async readVersion(version: number): Promise<T> {
    const key = this.versionKey(version);
    const body = await this.store.get(key);
    if (!body) throw new LakeFormatError(`version ${version} of ${this.prefix} is missing`, { key });
    try {
      return this.decode(parseJson(decodeUtf8(body)));
    } catch (error) {
      throw new LakeFormatError(`version ${version} of ${this.prefix} does not parse`, { key }, error);
    }
  }

  /**
   * Creates version `expectedVersion + 1` (version 1 when `expectedVersion` is undefined: the document must not
   * exist yet). Throws CommitConflictError when another writer created it first.
   */
  async commit(expectedVersion: number | undefined, value: T): Promise<number> {
    if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 1)) {
      throw new RangeError(`expected version must be a positive integer, got ${expectedVersion}`);
    }
    const version = (expectedVersion ?? 0) + 1;
    const created = await this.store.putIfAbsent(this.versionKey(version), stringifyJson(value, 2));
    if (!created) {
      const actual = (await this.latestFromHint()) ?? (await this.latestFromListing());
      throw new CommitConflictError(`${this.prefix} moved on: version ${version} was committed by another writer`, {
        document: this.prefix,
        expected: expectedVersion,
        actual,
      });
    }
    // Best effort: a missing or stale hint only costs the next reader a few probes or a listing.
    await this.store.put(this.hintKey(), String(version)).catch(() => undefined);
    return version;
  }

  /**
   * Read, apply `fn`, commit; on conflict re-read and apply `fn` again. `fn` must be pure (it may run several
   * times) and may throw to abort.
   */
  async update(fn: (current: Versioned<T> | undefined) => T, options: UpdateOptions = {}): Promise<Versioned<T>> {
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

  versionKey(version: number): string {
    return `${this.prefix}/v${String(version).padStart(10, '0')}.json`;
  }

  private hintKey(): string {
    return `${this.prefix}/version-hint.text`;
  }

  private async latestFromHint(): Promise<number | undefined> {
    const body = await this.store.get(this.hintKey()).catch(() => undefined);
    const text = body ? decodeUtf8(body).trim() : '';
    if (!/^\d+$/.test(text)) return undefined;
    let version = Number(text);
    if (!(version >= 1) || !(await this.store.exists(this.versionKey(version)))) return undefined;
    for (let probes = 0; probes < MAX_PROBES; probes++) {
      if (!(await this.store.exists(this.versionKey(version + 1)))) return version;
      version++;
    }
    return undefined;
  }

  /** Compared as numbers, not names: the order must hold even past the zero-padding width. */
  private async latestFromListing(): Promise<number | undefined> {
    let latest: number | undefined;
    for (const key of await this.store.list(`${this.prefix}/`)) {
      const match = VERSION_FILE.exec(key.slice(this.prefix.length + 1));
      if (!match) continue;
      const version = Number(match[1]);
      if (latest === undefined || version > latest) latest = version;
    }
    return latest;
  }
}
