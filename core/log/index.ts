import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  readonly format?: LogFormat;
  readonly name?: string;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const OMIT = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

/** One line per record, `12:00:01 INFO  message key=value`: for people at a terminal. JSON stays the default elsewhere. */
function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        const record = JSON.parse(chunk.toString()) as Record<string, unknown>;
        const time = new Date(Number(record.time)).toISOString().slice(11, 19);
        const level = (LEVEL_NAMES[Number(record.level)] ?? String(record.level)).padEnd(5);
        const fields = Object.entries(record)
          .filter(([key]) => !OMIT.has(key))
          .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
        out.write(
          `${time} ${level} ${typeof record.msg === 'string' ? record.msg : ''}${fields.length ? ` ${fields.join(' ')}` : ''}\n`,
        );
      } catch {
        out.write(chunk);
      }
      done();
    },
  });
}

/**
 * Structured logs go to stderr so that stdout stays clean for command output (`--json`, query results,
 * the MCP stdio transport). `PGCDC_LOG_LEVEL` overrides the configured level.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = (process.env.PGCDC_LOG_LEVEL as LevelWithSilent | undefined) ?? options.level ?? 'info';
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY);
  const destination = pretty ? prettyStream(process.stderr) : pino.destination({ fd: 2, sync: true });
  return pino({ name: options.name ?? 'pg-cdc', level, base: undefined }, destination);
}

/** A logger that drops everything: for library calls whose caller did not ask for logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
