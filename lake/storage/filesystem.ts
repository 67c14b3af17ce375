import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { RequestCounter, type DuckDBStoreSetup, type ObjectStore, type RequestCounts } from './index.js';
import { utf8, validateKey, validatePrefix } from './keys.js';

/** Temp files live next to their target (same filesystem, so rename/link are atomic) and are never listed. */
const TEMP_MARK = '.pgcdc-tmp-';

const hasCode = (error: unknown, code: string): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;

/** Makes a new directory entry durable; best effort, as some filesystems refuse to fsync a directory. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}

/**
 * The warehouse on a local (or network) filesystem. Atomicity comes from the filesystem, not from locks:
 * `put` renames a fully written, fsynced temp file over the target; `putIfAbsent` hard-links one to the target,
 * and link() fails with EEXIST when the name is taken, so exactly one of any number of racing writers wins and no
 * reader ever sees a half-written file. Nothing is left behind that could block a later writer after a crash
 * (a stray temp file is only garbage).
 */
export class FilesystemObjectStore implements ObjectStore {
  readonly kind = 'filesystem' as const;
  readonly root: string;
  readonly readRoot: string;
  private readonly requests = new RequestCounter();

  constructor(root: string) {
    this.root = resolve(root);
    this.readRoot = this.root.endsWith(sep) ? this.root : `${this.root}${sep}`;
  }

  /**
   * Written raw, without percent-encoding: Iceberg readers (Java's Hadoop paths, PyIceberg's PyArrow FileIO) take
   * the path part of a file: URI literally.
   */
  uri(key: string): string {
    return `file://${this.path(key).split(sep).join('/')}`;
  }

  keyOf(uri: string): string | undefined {
    const base = `file://${this.root.split(sep).join('/')}/`;
    if (!uri.startsWith(base)) return undefined;
    return validateKey(uri.slice(base.length));
  }

  localPath(key: string): string {
    return this.path(key);
  }

  readPath(key: string): string {
    return this.path(key);
  }

  duckdbSetup(): Promise<DuckDBStoreSetup> {
    return Promise.resolve({ extensions: [], statements: [] });
  }

  /** The object's own path: a crashed attempt's file is overwritten by the retry, as nothing references it yet. */
  async stagingPath(key: string): Promise<string> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    return path;
  }

  async publishStaged(key: string, path: string): Promise<void> {
    if (path !== this.path(key)) {
      await rename(path, this.path(key));
      await syncDir(dirname(this.path(key)));
    }
    this.requests.add('put');
  }

  requestCounts(): RequestCounts {
    return this.requests.snapshot();
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    this.requests.add('put');
    const target = this.path(key);
    const temp = await this.writeTemp(target, body);
    try {
      await rename(temp, target);
      await syncDir(dirname(target));
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }

  async putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    this.requests.add('put');
    const target = this.path(key);
    // Cheap early answer; the link() below is what decides.
    if (await this.exists(key)) return false;
    const temp = await this.writeTemp(target, body);
    try {
      await link(temp, target);
      await syncDir(dirname(target));
      return true;
    } catch (error) {
      if (hasCode(error, 'EEXIST')) return false;
      throw error;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.requests.add('get');
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (error) {
      if (hasCode(error, 'ENOENT') || hasCode(error, 'EISDIR')) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    this.requests.add('list');
    // Walk only the deepest directory the prefix names; filter the rest by string prefix, as S3 does.
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    const keys: string[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dirKey === '' ? this.root : this.path(dirKey), { withFileTypes: true });
      } catch (error) {
        if (hasCode(error, 'ENOENT') || hasCode(error, 'ENOTDIR')) return;
        throw error;
      }
      for (const entry of entries) {
        if (entry.name.startsWith(TEMP_MARK)) continue;
        const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(key);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          keys.push(key);
        }
      }
    };
    await walk(base);
    return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    this.requests.add('delete');
    try {
      await unlink(this.path(key));
    } catch (error) {
      if (!hasCode(error, 'ENOENT')) throw error;
    }
  }

  async modifiedAt(key: string): Promise<number | undefined> {
    try {
      const info = await stat(this.path(key));
      return info.isFile() ? info.mtimeMs : undefined;
    } catch (error) {
      if (hasCode(error, 'ENOENT') || hasCode(error, 'ENOTDIR')) return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch (error) {
      if (hasCode(error, 'ENOENT') || hasCode(error, 'ENOTDIR')) return false;
      throw error;
    }
  }

  private path(key: string): string {
    return join(this.root, ...validateKey(key).split('/'));
  }

  /** Writes and fsyncs a uniquely named temp file beside `target`, so a crash never leaves a torn target. */
  private async writeTemp(target: string, body: Uint8Array | string): Promise<string> {
    await mkdir(dirname(target), { recursive: true });
    const temp = join(dirname(target), `${TEMP_MARK}${randomBytes(8).toString('hex')}`);
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(utf8(body));
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    await handle.close();
    return temp;
  }
}
