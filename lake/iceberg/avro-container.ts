import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import avro, { type Resolver, type Schema, type Type } from 'avsc';
import { LakeFormatError } from '../errors.js';

/**
 * Avro object container files, the encoding of Iceberg manifests and manifest lists, written synchronously into
 * memory. The writer schema goes into the header verbatim: Iceberg readers resolve manifest columns by the
 * `field-id` attributes in it (not by name), so they must survive, and the schema object we wrote is the one
 * place that holds them.
 */

/** Avro longs as bigint: snapshot ids use all 63 bits and a JS number would round them. */
const BigLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (n: unknown) => BigInt(n as string),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' || (typeof n === 'number' && Number.isSafeInteger(n)),
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/**
 * avsc compiles every type into fresh JavaScript (`new Function`), which V8 then starts over with: a few ms per
 * manifest schema, paid for each manifest and manifest list read or written, and never optimised. A process sees
 * few distinct schemas (ours, and those of the writers of tables it reads), so compiled types are kept by their
 * JSON text, up to a bound that only schemas from many foreign writers would reach.
 */
const MAX_CACHED = 64;
const typesByJson = new Map<string, Type>();
const resolvers = new WeakMap<Type, WeakMap<Type, Resolver>>();

function cachedType(json: string, schema: () => Schema): Type {
  let type = typesByJson.get(json);
  if (!type) {
    type = avro.Type.forSchema(schema(), { registry: { long: BigLong }, wrapUnions: 'auto' });
    if (typesByJson.size >= MAX_CACHED) typesByJson.delete(typesByJson.keys().next().value as string);
    typesByJson.set(json, type);
  }
  return type;
}

export function avroType(schema: Schema): Type {
  return cachedType(JSON.stringify(schema), () => schema);
}

/** Reads `writer`'s records as `reader`'s, one resolver per pair of (cached) types. */
function resolverFor(reader: Type, writer: Type): Resolver {
  let byWriter = resolvers.get(reader);
  if (!byWriter) resolvers.set(reader, (byWriter = new WeakMap()));
  let resolver = byWriter.get(writer);
  if (!resolver) byWriter.set(writer, (resolver = reader.createResolver(writer)));
  return resolver;
}

const MAGIC = Buffer.from('Obj\u0001', 'latin1');
const HEADER = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: 16 } },
  ],
});
const LONG = avro.Type.forSchema('long');

export type AvroCodec = 'null' | 'deflate';

/** One container file holding `records` in a single block. `metadata` values are stored as UTF-8 bytes. */
export function writeAvroContainer(
  schema: Schema,
  records: readonly unknown[],
  metadata: Readonly<Record<string, string>>,
  codec: AvroCodec = 'deflate',
): Uint8Array {
  const schemaJson = JSON.stringify(schema);
  const type = cachedType(schemaJson, () => schema);
  const meta: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(metadata)) meta[key] = Buffer.from(value, 'utf8');
  meta['avro.schema'] = Buffer.from(schemaJson, 'utf8');
  meta['avro.codec'] = Buffer.from(codec, 'utf8');
  const sync = randomBytes(16);
  const parts: Buffer[] = [HEADER.toBuffer({ magic: MAGIC, meta, sync })];
  if (records.length > 0) {
    const raw = Buffer.concat(records.map((record) => type.toBuffer(record)));
    const data = codec === 'deflate' ? deflateRawSync(raw) : raw;
    parts.push(LONG.toBuffer(records.length), LONG.toBuffer(data.length), data, sync);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** avsc signals a truncated buffer with a negative offset rather than an error. */
function decodeAt<T>(
  type: Type,
  buf: Buffer,
  pos: number,
  what: string,
  resolver?: Resolver,
): { value: T; offset: number } {
  const decoded: { value: unknown; offset: number } = type.decode(buf, pos, resolver);
  if (decoded.offset < 0) throw new LakeFormatError(`truncated Avro ${what}`, {});
  return { value: decoded.value as T, offset: decoded.offset };
}

/** avsc decodes records into instances of generated classes; callers get plain objects (Buffers stay). */
function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(plain);
  // A loop, not Object.fromEntries(Object.entries(...)): this runs for every field of every manifest entry, and
  // the intermediate arrays made it most of the time a manifest list took to read.
  const record = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(record)) copy[key] = plain(record[key]);
  return copy;
}

export interface AvroContainer {
  readonly metadata: Record<string, string>;
  /** The writer schema from the header, as JSON. */
  readonly schema: Schema;
  readonly records: unknown[];
}

/**
 * Reads a container file. With `readerSchema`, records are resolved from the writer schema to it (by field
 * name, per Avro): this is how manifests written by other tools are read into our record shape.
 */
export function readAvroContainer(bytes: Uint8Array, readerSchema?: Schema): AvroContainer {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buf.subarray(0, 4).equals(MAGIC)) throw new LakeFormatError('not an Avro container file', {});
  const header = decodeAt<{ meta: Record<string, Buffer>; sync: Buffer }>(HEADER, buf, 0, 'header');
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(header.value.meta)) metadata[key] = value.toString('utf8');
  const codec = metadata['avro.codec'] ?? 'null';
  if (codec !== 'null' && codec !== 'deflate') throw new LakeFormatError(`unsupported Avro codec ${codec}`, {});
  const schemaJson = metadata['avro.schema'] ?? 'null';
  const schema = JSON.parse(schemaJson) as Schema;
  const writer = cachedType(schemaJson, () => schema);
  const reader = readerSchema === undefined ? writer : avroType(readerSchema);
  // Files we wrote carry the reader schema verbatim, so both are one cached type and need no resolving.
  const resolver = reader === writer ? undefined : resolverFor(reader, writer);

  const records: unknown[] = [];
  let pos = header.offset;
  while (pos < buf.length) {
    const count = decodeAt<number>(LONG, buf, pos, 'block count');
    const size = decodeAt<number>(LONG, buf, count.offset, 'block size');
    const end = size.offset + size.value;
    if (end + 16 > buf.length) throw new LakeFormatError('truncated Avro block', {});
    if (!buf.subarray(end, end + 16).equals(header.value.sync))
      throw new LakeFormatError('Avro sync marker mismatch', {});
    const block = buf.subarray(size.offset, end);
    const data = codec === 'deflate' ? inflateRawSync(block) : block;
    let at = 0;
    for (let i = 0; i < count.value; i++) {
      const decoded = decodeAt<unknown>(reader, data, at, 'record', resolver);
      records.push(plain(decoded.value));
      at = decoded.offset;
    }
    pos = end + 16;
  }
  return { metadata, schema, records };
}
