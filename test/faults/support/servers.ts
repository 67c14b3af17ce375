import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { startMoto, type RunningMoto } from '../../../stack/moto.js';
import { findPostgresBinaries } from '../../../stack/postgres-binaries.js';
import { startPostgres, stopPostgresAt, type RunningPostgres } from '../../../stack/postgres.js';
import { processAlive } from '../../../stack/process.js';
import { startTemporalDevServer, type RunningDevServer } from '../../../stack/temporal.js';
import { tempDir } from '../../support/temp.js';

/**
 * The servers of one fault case, its own so that a case may kill or restart them: a PostgreSQL cluster run by
 * pg_ctl (so `pg_ctl restart` works on it as on a production server), a Temporal dev server with its history in a
 * SQLite file (so it comes back with its workflows), and moto when the case's lake is on S3.
 */
export class CaseServers {
  private temporal: RunningDevServer | undefined;

  private constructor(
    readonly postgres: RunningPostgres,
    private readonly temporalDir: string,
    temporal: RunningDevServer,
    readonly moto: RunningMoto | undefined,
  ) {
    this.temporal = temporal;
  }

  static async start(options: { moto?: boolean } = {}): Promise<CaseServers> {
    const temporalDir = join(tempDir(), 'temporal');
    const [postgres, temporal, moto] = await Promise.all([
      startPostgres({ durable: false, keepRunning: true }),
      startTemporalDevServer({ stateDir: temporalDir, ui: false }),
      options.moto ? startMoto() : Promise.resolve(undefined),
    ]);
    return new CaseServers(postgres, temporalDir, temporal, moto);
  }

  get temporalAddress(): { address: string; namespace: string } {
    if (!this.temporal) throw new Error('the Temporal server is down');
    return { address: this.temporal.address, namespace: this.temporal.namespace };
  }

  /** `pg_ctl restart -m fast`: every session is ended (walsenders too) and the server comes back on its port. */
  async restartPostgres(): Promise<void> {
    const { dataDir } = this.postgres;
    const owner = statSync(dataDir);
    await promisify(execFile)(
      join(findPostgresBinaries().binDir, 'pg_ctl'),
      ['-D', dataDir, '-l', join(dirname(dataDir), 'postgres.log'), '-m', 'fast', '-w', '-t', '60', 'restart'],
      process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {},
    );
  }

  /** SIGKILL (no shutdown at all) or SIGTERM (a clean stop) of the Temporal server; it stays down until started. */
  async stopTemporal(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const server = this.temporal;
    if (!server) return;
    this.temporal = undefined;
    if (signal === 'SIGTERM') return server.stop();
    process.kill(server.pid, 'SIGKILL');
    while (processAlive(server.pid)) await sleep(50);
  }

  /** Starts the Temporal server again on its state directory: the same port, the same history. */
  async startTemporal(): Promise<void> {
    if (this.temporal) return;
    this.temporal = await startTemporalDevServer({ stateDir: this.temporalDir, ui: false });
  }

  async stop(): Promise<void> {
    await Promise.allSettled([stopPostgresAt(this.postgres.dataDir), this.temporal?.stop(), this.moto?.stop()]);
  }
}
