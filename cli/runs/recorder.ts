import { appendFileSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isPgCdcError } from '../../core/errors/index.js';
import type { Logger } from '../../core/log/index.js';
import { summaryOf } from './summary.js';

/**
 * The artifacts of one run of `init`, `start` or `compact`, under `<state_dir>/runs/<run-id>/`, for an operator or
 * an agent to read after the fact without parsing logs (docs/runs.md):
 * - `run.json`: what ran, where, when, and how it ended (rewritten at the start and the end);
 * - `events.ndjson`: one JSON object per line, schema version 1 (`v`, `at`, `run`, `type`, then the type's fields);
 * - `state.json`: the latest state the command reported (`start`: LSNs, lag and epochs, every minute and at the end);
 * - `summary.md`: a short account written at the end.
 * Older runs are removed beyond `runs.keep`.
 */
export const EVENTS_SCHEMA_VERSION = 1;

export interface RunOutcome {
  readonly exitCode: number;
  readonly error?: unknown;
}

export interface RunFacts {
  readonly command: string;
  readonly args: readonly string[];
  readonly version: string;
  readonly slot: string;
  readonly stateDir: string;
  readonly keep: number;
}

type Json = Record<string, unknown>;

const compactTime = (date: Date): string =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

export class RunRecorder {
  readonly id: string;
  readonly dir: string;
  private readonly startedAt = new Date();
  private readonly counts = new Map<string, number>();
  private lastState: Json | undefined;
  private closed = false;

  private constructor(
    private readonly facts: RunFacts,
    private readonly log: Logger,
  ) {
    this.id = `${facts.command}-${compactTime(this.startedAt)}-${process.pid}`;
    this.dir = join(facts.stateDir, 'runs', this.id);
  }

  /** Creates the run's directory and run.json, and rotates older runs away. Never fails the command. */
  static open(facts: RunFacts, log: Logger): RunRecorder {
    const run = new RunRecorder(facts, log);
    run.safely('open', () => {
      mkdirSync(run.dir, { recursive: true });
      rotateRuns(join(facts.stateDir, 'runs'), facts.keep, run.id);
      run.writeRunJson({ status: 'running' });
      run.event('run.started', { command: facts.command, args: facts.args });
    });
    return run;
  }

  event(type: string, fields: Json = {}): void {
    if (this.closed) return;
    this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
    const line = { v: EVENTS_SCHEMA_VERSION, at: new Date().toISOString(), run: this.id, type, ...fields };
    this.safely('event', () => appendFileSync(join(this.dir, 'events.ndjson'), `${JSON.stringify(line)}\n`));
  }

  /** Replaces state.json (written to a temporary name first, so a reader never sees half of it). */
  state(state: Json): void {
    this.lastState = state;
    this.safely('state', () => writeAtomically(join(this.dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`));
  }

  finish(outcome: RunOutcome): void {
    if (this.closed) return;
    const endedAt = new Date();
    const error = outcome.error === undefined ? undefined : describeError(outcome.error);
    if (error) this.event('run.failed', { ...error });
    this.event('run.finished', { exit_code: outcome.exitCode, seconds: secondsBetween(this.startedAt, endedAt) });
    this.closed = true;
    const status = outcome.exitCode === 0 ? 'succeeded' : 'failed';
    this.safely('finish', () => {
      this.writeRunJson({
        status,
        ended_at: endedAt.toISOString(),
        exit_code: outcome.exitCode,
        ...(error ? { error } : {}),
      });
      const summary = summaryOf({
        id: this.id,
        command: this.facts.command,
        args: this.facts.args,
        status,
        exitCode: outcome.exitCode,
        startedAt: this.startedAt,
        endedAt,
        events: this.counts,
        state: this.lastState,
        ...(error ? { error } : {}),
      });
      writeAtomically(join(this.dir, 'summary.md'), summary);
    });
  }

  private writeRunJson(extra: Json): void {
    const run = {
      run_id: this.id,
      command: this.facts.command,
      args: this.facts.args,
      version: this.facts.version,
      host: hostname(),
      pid: process.pid,
      slot: this.facts.slot,
      started_at: this.startedAt.toISOString(),
      events_schema: EVENTS_SCHEMA_VERSION,
      ...extra,
    };
    writeAtomically(join(this.dir, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
  }

  /** Artifacts are for reading afterwards: a full disk or a read-only state_dir must not stop the command. */
  private safely(what: string, write: () => void): void {
    try {
      write();
    } catch (error) {
      this.log.warn({ err: error, run: this.id, what }, 'run artifacts not written');
    }
  }
}

interface RunError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
}

function describeError(error: unknown): RunError {
  if (isPgCdcError(error)) {
    return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  }
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

const secondsBetween = (from: Date, to: Date): number => Math.round((to.getTime() - from.getTime()) / 100) / 10;

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

/** Keeps the newest `keep` run directories, the current one included, by when they were last written. */
function rotateRuns(root: string, keep: number, current: string): void {
  const runs = readdirSync(root)
    .filter((name) => name !== current)
    .map((name) => ({ name, at: statSync(join(root, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const old of runs.slice(Math.max(0, keep - 1))) rmSync(join(root, old.name), { recursive: true, force: true });
}
