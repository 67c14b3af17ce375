import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { venvBin } from '../../stack/paths.js';
import { skipLoudlyOrFail } from './skip.js';

/** The virtualenv's python, or the reason reader tests skip (loudly; in CI the absence is a failure). */
export function pythonOrSkip(): { python?: string; skip?: string } {
  const python = venvBin('python');
  if (existsSync(python)) return { python };
  return { skip: skipLoudlyOrFail('the Python virtualenv with pyiceberg is missing (run `npm run setup`)') };
}

/**
 * What both reader scripts print values as: decimals as strings, timestamps as UTC `YYYY-MM-DDTHH:MM:SS.ffffff`,
 * uuids as text (16-byte binaries are uuids to PyIceberg), other bytes as hex.
 */
const NORMALIZE = `
import datetime, decimal, json, sys, uuid
def norm(v):
    if isinstance(v, decimal.Decimal): return str(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None: v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.strftime('%Y-%m-%dT%H:%M:%S.%f')
    if isinstance(v, (datetime.date, datetime.time)): return v.isoformat()
    if isinstance(v, uuid.UUID): return str(v)
    if isinstance(v, bytes): return str(uuid.UUID(bytes=v)) if len(v) == 16 else v.hex()
    raise TypeError(repr(v))
`;

const localPath = (location: string): string => (location.startsWith('file:') ? fileURLToPath(location) : location);

/** Runs a reader script (NORMALIZE first) on a metadata file; parses what it prints. */
function runReader<T>(python: string, script: string, metadataLocation: string, env: NodeJS.ProcessEnv = {}): T {
  const out = execFileSync(python, ['-c', NORMALIZE + script, localPath(metadataLocation)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  return JSON.parse(out) as T;
}

const PYICEBERG_SCAN = `
import os
from pyiceberg.table import StaticTable
t = StaticTable.from_metadata(sys.argv[1], json.loads(os.environ.get('PGCDC_PYICEBERG_PROPERTIES', '{}')))
ref = os.environ.get('PGCDC_PYICEBERG_REF')
snap = t.snapshot_by_name(ref) if ref else t.current_snapshot()
if ref and snap is None: raise SystemExit(f'no ref {ref}')
print(json.dumps({
    'rows': (t.scan(snapshot_id=snap.snapshot_id) if ref else t.scan()).to_arrow().to_pylist(),
    'summary': snap.summary.additional_properties if snap else {},
    'fields': [[f.field_id, f.name, str(f.field_type), f.required] for f in t.schema().fields],
    'identifier_field_ids': list(t.schema().identifier_field_ids),
}, default=norm))
`;

export interface PyIcebergScan {
  readonly rows: Record<string, unknown>[];
  readonly summary: Record<string, string>;
  readonly fields: [number, string, string, boolean][];
  readonly identifier_field_ids: number[];
}

/**
 * Read a table the way an independent engine does: PyIceberg's StaticTable on the metadata file, every row of
 * the current snapshot, or of the branch or tag `ref` names (`snapshot_by_name`). Decimals come back as strings,
 * timestamps as UTC `YYYY-MM-DDTHH:MM:SS.ffffff`.
 */
export function scanWithPyIceberg(
  python: string,
  metadataLocation: string,
  /** FileIO properties, e.g. `s3.endpoint` and keys for a table on S3. */
  properties: Record<string, string> = {},
  ref?: string,
): PyIcebergScan {
  return runReader<PyIcebergScan>(python, PYICEBERG_SCAN, metadataLocation, {
    PGCDC_PYICEBERG_PROPERTIES: JSON.stringify(properties),
    ...(ref === undefined ? {} : { PGCDC_PYICEBERG_REF: ref }),
  });
}

/** A DuckDB connection `con` with the avro and iceberg extensions (and httpfs with an S3 secret, when asked). */
const DUCKDB_CONNECT = `
import glob, os
import duckdb, duckdb_extension_avro, duckdb_extension_iceberg
def extension(module):
    return glob.glob(os.path.join(os.path.dirname(module.__file__), 'extensions', '*', '*.duckdb_extension'))[0]
con = duckdb.connect()
for module in (duckdb_extension_avro, duckdb_extension_iceberg):
    con.execute(f"LOAD '{extension(module)}'")
s3 = json.loads(os.environ.get('PGCDC_DUCKDB_S3', 'null'))
if s3:
    import duckdb_extension_httpfs
    con.execute(f"LOAD '{extension(duckdb_extension_httpfs)}'")
    con.execute("CREATE SECRET (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL false)".replace('?', "'{}'").format(
        s3['key_id'], s3['secret'], s3['region'], s3['endpoint']))
`;

const DUCKDB_ICEBERG_SCAN = `${DUCKDB_CONNECT}
rows = con.execute('SELECT * FROM iceberg_scan(?)', [sys.argv[1]]).to_arrow_table().to_pylist()
print(json.dumps({'rows': rows}, default=norm))
`;

/** Where DuckDB's reader finds a table on S3 (moto, say): plain HTTP, path-style addressing. */
export interface DuckDbS3 {
  /** `host:port`, without a scheme. */
  readonly endpoint: string;
  readonly region: string;
  readonly key_id: string;
  readonly secret: string;
}

/**
 * Read a table with DuckDB's own Iceberg reader (`iceberg_scan`, the 1.5.5 extension from PyPI), which applies
 * position deletes itself: the second independent reader beside PyIceberg. Values are normalized as there. With
 * `s3`, `metadataLocation` is an `s3://` URI read through the httpfs extension from the same wheels.
 */
export function scanWithDuckDbIceberg(
  python: string,
  metadataLocation: string,
  s3?: DuckDbS3,
): { rows: Record<string, unknown>[] } {
  return runReader<{ rows: Record<string, unknown>[] }>(python, DUCKDB_ICEBERG_SCAN, metadataLocation, {
    PGCDC_DUCKDB_S3: JSON.stringify(s3 ?? null),
  });
}

/**
 * icebird fetches every location in the metadata with `fetch`, which in Node has no file: scheme. For the
 * duration of `fn`, file: URLs are served from disk (with the Range requests Parquet reads make).
 */
export async function withFileFetch<T>(fn: () => Promise<T>): Promise<T> {
  const original = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith('file:')) return original(input, init);
    let body: Buffer;
    try {
      body = readFileSync(fileURLToPath(url));
    } catch {
      return new Response(null, { status: 404 });
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(new Headers(init?.headers).get('range') ?? '');
    if (!range) return new Response(body, { status: 200, headers: { 'content-length': String(body.length) } });
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]) + 1, body.length) : body.length;
    return new Response(body.subarray(start, end), {
      status: 206,
      headers: { 'content-length': String(end - start), 'content-range': `bytes ${start}-${end - 1}/${body.length}` },
    });
  };
  try {
    return await fn();
  } finally {
    globalThis.fetch = original;
  }
}

const BOTH_READERS_SCAN = `${DUCKDB_CONNECT}
from pyiceberg.table import StaticTable
properties = json.loads(os.environ.get('PGCDC_PYICEBERG_PROPERTIES', '{}'))
out = []
for table in json.loads(os.environ['PGCDC_READER_TABLES']):
    location, columns = table['location'], table['columns']
    scanned = StaticTable.from_metadata(location, properties).scan(selected_fields=tuple(columns))
    select = ', '.join('"' + c.replace('"', '""') + '"' for c in columns)
    out.append({
        'pyiceberg': scanned.to_arrow().to_pylist(),
        'iceberg_scan': con.execute(f'SELECT {select} FROM iceberg_scan(?)', [location]).to_arrow_table().to_pylist(),
    })
print(json.dumps(out, default=norm))
`;

/** One table's rows as each independent reader returns them. */
export interface BothReaders {
  readonly pyiceberg: Record<string, unknown>[];
  readonly iceberg_scan: Record<string, unknown>[];
}

/**
 * Several tables (`columns` of each) through PyIceberg and DuckDB's iceberg_scan in one Python process: starting
 * Python with pyarrow, PyIceberg and DuckDB takes seconds, once instead of twice per table. Locations, properties and
 * `s3` as for scanWithPyIceberg and scanWithDuckDbIceberg.
 */
export function scanWithBothReaders(
  python: string,
  tables: ReadonlyArray<{ readonly location: string; readonly columns: readonly string[] }>,
  options: { readonly pyIcebergProperties?: Record<string, string>; readonly s3?: DuckDbS3 } = {},
): BothReaders[] {
  const out = execFileSync(python, ['-c', NORMALIZE + BOTH_READERS_SCAN], {
    env: {
      ...process.env,
      PGCDC_READER_TABLES: JSON.stringify(tables.map((t) => ({ location: localPath(t.location), columns: t.columns }))),
      PGCDC_PYICEBERG_PROPERTIES: JSON.stringify(options.pyIcebergProperties ?? {}),
      PGCDC_DUCKDB_S3: JSON.stringify(options.s3 ?? null),
    },
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  return JSON.parse(out) as BothReaders[];
}
