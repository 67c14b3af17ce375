import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { ObjectStore } from './index.js';
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

  constructor(root: string) {
    this.root = resolve(root);
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

  async put(key: string, body: Uint8Array | string): Promise<void> {
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
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (error) {
      if (hasCode(error, 'ENOENT') || hasCode(error, 'EISDIR')) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
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
