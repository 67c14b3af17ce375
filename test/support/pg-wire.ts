import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';

/** One backend protocol message: code, length (itself included), body. */
export function frame(code: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(code, 0, 'latin1');
  header.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/** A connection as pg has it: a socket with pg's parser as its one data listener, which records what it reads. */
export function pgConnection(): {
  con: EventEmitter & { stream: PassThrough; query(text: string): void };
  toPg: Buffer[];
} {
  const toPg: Buffer[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => toPg.push(Buffer.from(chunk)));
  const con = Object.assign(new EventEmitter(), { stream, query: () => undefined });
  return { con, toPg };
}
