/** Read pg-cdc.yml once: YAML → ${VAR} substitution → zod → resolved paths → a deep-frozen, typed config. */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument, type YAMLError } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors/index.js';
import { isRecord } from './fields.js';
import { formatPath, translateIssues } from './issues.js';
import { configSchema, DEFAULT_CONFIG_FILE, type PgCdcConfig } from './schema.js';
import { substituteTree } from './substitute.js';

export interface ParseConfigOptions {
  /** Variables for ${VAR} substitution (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** The file the text came from, for error messages. */
  readonly file?: string;
  /** Directory relative paths resolve against (default: the file's directory, else the working directory). */
  readonly baseDir?: string;
}

function yamlIssue(error: YAMLError, lines: readonly string[]): ConfigIssue {
  const position = error.linePos?.[0];
  const where = position ? ` at line ${position.line}, column ${position.col}` : '';
  const reason = error.message.split(/ at line \d+, column \d+/)[0]?.trim() ?? error.message;
  const line = position ? (lines[position.line - 1] ?? '') : '';
  const hint = line.includes('${')
    ? 'inside { } or [ ], quote ${...} references (port: "${PORT}"), or write the value on its own line'
    : 'check the indentation (spaces, not tabs) and quoting on that line; quote values containing ": " or " #"';
  return { path: '', message: `YAML syntax error${where}: ${reason}`, hint };
}

function parseYaml(text: string, file: string | undefined): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One error per line: the parser often reports several knock-on errors for a single mistake.
    const lines = text.split(/\r?\n/);
    const seen = new Set<number>();
    const first = doc.errors.filter((error) => {
      const line = error.linePos?.[0].line ?? -1;
      if (seen.has(line)) return false;
      seen.add(line);
      return true;
    });
    throw new ConfigError(
      first.map((error) => yamlIssue(error, lines)),
      { file },
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError([{ path: '', message: `YAML error: ${message}` }], { file, cause: error });
  }
}

/** `key:` with no value is YAML null; treat it as "not set" so the default applies. */
function dropNulls(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(dropNulls);
  if (!isRecord(node)) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([, value]) => value !== null)
      .map(([key, value]) => [key, dropNulls(value)]),
  );
}

const URI = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * The password of the URL as written, when it references a variable (`postgresql://u:${PGCDC_PASSWORD}@h/db`):
 * kept so that every connection resolves it again. The text before substitution is not a URL yet, so it is cut
 * out by its delimiters.
 */
function passwordReference(tree: Record<string, unknown>): string | undefined {
  const source = tree.source;
  const postgres = isRecord(source) ? source.postgres : undefined;
  const url = isRecord(postgres) ? postgres.url : undefined;
  if (typeof url !== 'string') return undefined;
  const password = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^@/?#:]*:(.*)@[^@]*$/.exec(url)?.[1];
  return password?.includes('${') ? password : undefined;
}

function resolvePaths(config: PgCdcConfig, baseDir: string): PgCdcConfig {
  const at = (path: string) => resolve(baseDir, path);
  config.state_dir = at(config.state_dir);
  const postgres = config.source.postgres;
  if (postgres.password_file !== undefined) postgres.password_file = at(postgres.password_file);
  config.spool.dir = at(config.spool.dir);
  if (config.storage.type === 'filesystem') {
    config.storage.path = at(config.storage.path);
    if (!URI.test(config.catalog.warehouse)) config.catalog.warehouse = at(config.catalog.warehouse);
  }
  const tls = config.temporal.tls;
  if (tls) {
    if (tls.ca_file !== undefined) tls.ca_file = at(tls.ca_file);
    if (tls.cert_file !== undefined) tls.cert_file = at(tls.cert_file);
    if (tls.key_file !== undefined) tls.key_file = at(tls.key_file);
  }
  return config;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

const covers = (outer: string, inner: string) =>
  inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);

/** Parse the text of a pg-cdc.yml; throws a ConfigError listing every problem found. */
export function parseConfig(text: string, options: ParseConfigOptions = {}): PgCdcConfig {
  const { file } = options;
  const env = options.env ?? process.env;
  const baseDir = resolve(options.baseDir ?? (file ? dirname(resolve(file)) : process.cwd()));
  const tree = dropNulls(parseYaml(text, file)) ?? {};
  if (!isRecord(tree)) {
    const got = Array.isArray(tree) ? 'a list' : `${typeof tree} ${JSON.stringify(tree)}`;
    throw new ConfigError(
      [{ path: '', message: `expected a mapping of keys, got ${got}`, hint: 'start from pg-cdc.example.yml' }],
      { file },
    );
  }
  const substituted = substituteTree(tree, env);
  const issues: ConfigIssue[] = substituted.problems.map((p) => ({
    path: formatPath(p.path),
    message: p.message,
    hint: p.hint,
  }));
  const result = configSchema.safeParse(substituted.value);
  if (!result.success) {
    const reported = issues.map((issue) => issue.path);
    for (const issue of translateIssues(result.error.issues, configSchema, substituted.value)) {
      // A value whose substitution failed is already reported; its knock-on errors would only add noise.
      if (!reported.some((path) => covers(path, issue.path))) issues.push(issue);
    }
  }
  if (issues.length > 0 || !result.success) {
    // Report in file order: by the position of the top-level key each issue falls under (stable within a key).
    const order = Object.keys(tree);
    const rank = (path: string) => {
      const index = path === '' ? -1 : order.indexOf(path.split(/[.[]/)[0] ?? '');
      return index < 0 && path !== '' ? order.length : index;
    };
    throw new ConfigError(
      issues
        .map((issue, i) => ({ issue, i }))
        .sort((a, b) => rank(a.issue.path) - rank(b.issue.path) || a.i - b.i)
        .map(({ issue }) => issue),
      { file },
    );
  }
  result.data.source.postgres.password_reference = passwordReference(tree);
  return deepFreeze(resolvePaths(result.data, baseDir));
}

/**
 * Load the configuration file: `file`, else $PGCDC_CONFIG, else pg-cdc.yml in the working directory.
 * Relative paths in it resolve against the file's directory.
 */
export async function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Promise<PgCdcConfig> {
  const chosen = file ?? (env.PGCDC_CONFIG || DEFAULT_CONFIG_FILE);
  const path = isAbsolute(chosen) ? chosen : resolve(chosen);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const issue: ConfigIssue =
      code === 'ENOENT'
        ? {
            path: '',
            message: `config file ${path} does not exist`,
            hint: `create it from the example (cp pg-cdc.example.yml ${DEFAULT_CONFIG_FILE}) and set source.postgres.url, or point --config / PGCDC_CONFIG at an existing file`,
          }
        : {
            path: '',
            message: `cannot read config file ${path}: ${error instanceof Error ? error.message : String(error)}`,
            hint: 'check that the path is a readable file',
          };
    throw new ConfigError([issue], { file: path, cause: error });
  }
  return parseConfig(text, { env, file: path, baseDir: dirname(path) });
}
