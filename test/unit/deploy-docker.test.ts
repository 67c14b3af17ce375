/**
 * The container deployment, read as Docker would read it (the suite builds no image and needs no daemon): the
 * Dockerfile, .dockerignore, docker-compose.yml and the pg-cdc.yml it mounts keep the invariants their comments
 * promise.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { SOURCE_DIRS } from '../../bin/launch.mjs';
import { STOP_DEADLINE_MS } from '../../cli/commands/start.js';
import { parseConfig } from '../../core/config/index.js';
import { SEARCH_ATTRIBUTES } from '../../core/temporal/index.js';
import { TEMPORAL_CLI_MODULE } from '../../stack/temporal-cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Instruction {
  readonly name: string;
  readonly args: string;
}

/** The Dockerfile's instructions by stage: comments dropped, continuation lines joined. */
function dockerfileStages(text: string): Instruction[][] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Instruction[][] = [[]];
  for (const line of logical) {
    const [, name = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { name: name.toUpperCase(), args: args.replace(/\s+/g, ' ') };
    if (instruction.name === 'FROM') stages.push([]);
    stages.at(-1)!.push(instruction);
  }
  return stages;
}

const stages = dockerfileStages(read('Dockerfile'));
const globalArgs = Object.fromEntries(
  stages[0]!.filter((i) => i.name === 'ARG').map((i) => i.args.split('=') as [string, string]),
);
const final = stages.at(-1)!;
const all = (name: string, stage = final): string[] => stage.filter((i) => i.name === name).map((i) => i.args);
const one = (name: string): string => {
  const found = all(name);
  assert.equal(found.length, 1, `the final stage has one ${name}: ${found.join(' | ')}`);
  return found[0]!;
};
/** ENV of the final stage, `K=V K2=V2` form. */
const imageEnv: Record<string, string> = Object.fromEntries(
  all('ENV').flatMap((args) => args.split(' ').map((kv) => kv.split('=', 2) as [string, string])),
);

const compose = parse(read('docker-compose.yml')) as {
  services: Record<string, Record<string, unknown>>;
  volumes: Record<string, unknown>;
};
const service = (name: string): Record<string, unknown> => {
  const found = compose.services[name];
  assert.ok(found, `docker-compose.yml has a ${name} service`);
  return found;
};
const seconds = (duration: string): number => {
  const match = /^(\d+)(s|m)$/.exec(duration);
  assert.ok(match, `${duration} is a duration in s or m`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
};

describe('Dockerfile', () => {
  it('builds on Node 20 (Debian slim), with production dependencies only', () => {
    assert.match(globalArgs.NODE_IMAGE ?? '', /^node:20(\.\d+)*-(bookworm|trixie)-slim$/);
    for (const stage of stages.slice(1)) assert.equal(stage[0]!.args.split(' ')[0], '${NODE_IMAGE}');
    const installs = stages.flatMap((stage) => all('RUN', stage)).filter((run) => /\bnpm (ci|install)\b/.test(run));
    assert.deepEqual(installs, ['npm ci --omit=dev --no-audit --no-fund']);
  });

  it('runs as a user other than root, through bin/pg-cdc.js, with a health check', () => {
    const user = one('USER');
    assert.ok(!['root', '0', '0:0'].includes(user), `USER ${user}`);
    assert.deepEqual(JSON.parse(one('ENTRYPOINT')), ['node', 'bin/pg-cdc.js']);
    assert.match(one('HEALTHCHECK'), /CMD .*PGCDC_HEALTH_URL/);
    // The health URL's port is the metrics endpoint `start` serves by default.
    const defaults = parseConfig('source: { postgres: { embedded: true } }', { env: {}, baseDir: '/' });
    assert.equal(new URL(imageEnv.PGCDC_HEALTH_URL!).port, defaults.metrics.listen.split(':').pop());
  });

  it('copies exactly the folders the CLI is bundled from, and .dockerignore admits nothing else', () => {
    const copied = all('COPY')
      .filter((args) => !args.startsWith('--from'))
      .flatMap((args) => args.split(' ').slice(0, -1));
    assert.deepEqual(
      [...copied].sort(),
      ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', ...SOURCE_DIRS].sort(),
    );
    const ignore = read('.dockerignore')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'));
    assert.equal(ignore[0], '*', '.dockerignore starts by ignoring everything');
    const admitted = ignore.slice(1).map((line) => line.replace(/^!/, ''));
    const deps = all('COPY', stages[1]).flatMap((args) => args.split(' ').slice(0, -1));
    assert.deepEqual(admitted.sort(), [...new Set([...copied, ...deps])].sort());
  });

  it('has every package the copied sources import among the production dependencies', () => {
    const manifest = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const imported = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/\.(ts|mjs|js)$/.test(entry.name)) {
          for (const [, spec] of read(path).matchAll(
            /(?:\bfrom|\bimport\(|\brequire\()\s*'((?:@[\w.-]+\/)?[\w-][\w.-]*)(?:\/[^'\n]*)?'/g,
          )) {
            if (!builtinModules.includes(spec!)) imported.add(spec!);
          }
        }
      }
    };
    for (const dir of ['bin', ...SOURCE_DIRS]) walk(dir);
    assert.ok(imported.has('@temporalio/worker') && imported.has('esbuild'), [...imported].join(', '));
    const missing = [...imported].filter((name) => !(name in manifest.dependencies));
    assert.deepEqual(missing, [], 'imported at run time but not in dependencies (npm ci --omit=dev skips them)');
  });
});

describe('docker-compose.yml', () => {
  it('starts Temporal as its image user, on a data volume handed to that user first', () => {
    const temporal = service('temporal');
    assert.equal(temporal.user, undefined, 'the image runs as its own user temporal (uid 1000); no user: root');
    assert.equal(temporal.image, `temporalio/temporal:${/@v([\d.]+)$/.exec(TEMPORAL_CLI_MODULE)![1]}`);
    const [volume, mountPoint] = (temporal.volumes as string[])[0]!.split(':');
    assert.ok(volume! in compose.volumes, `${volume} is a named volume`);
    const command = temporal.command as string[];
    assert.ok(command[command.indexOf('--db-filename') + 1]!.startsWith(`${mountPoint}/`), 'the database is on it');

    const [initName, condition] = Object.entries(temporal.depends_on as Record<string, { condition: string }>)[0]!;
    assert.equal(condition.condition, 'service_completed_successfully');
    const init = service(initName);
    assert.deepEqual(init.volumes, temporal.volumes);
    assert.deepEqual(init.command, ['chown', '1000:1000', mountPoint]);
    assert.ok(temporal.healthcheck, 'pg-cdc waits for it to be healthy');
  });

  it('registers the search attributes pg-cdc sets', () => {
    const command = service('temporal').command as string[];
    const registered = command.flatMap((arg, i) => (command[i - 1] === '--search-attribute' ? [arg] : []));
    assert.deepEqual(
      registered.sort(),
      Object.entries(SEARCH_ATTRIBUTES)
        .map(([name, type]) => `${name}=${type}`)
        .sort(),
    );
  });

  it('runs pg-cdc start from the Dockerfile, after PostgreSQL and Temporal are healthy, with room to stop', () => {
    const pgcdc = service('pg-cdc');
    assert.equal(pgcdc.build, '.');
    assert.deepEqual(pgcdc.command, ['start']);
    assert.equal(pgcdc.user, undefined, 'the image user');
    for (const dependency of ['postgres', 'temporal']) {
      assert.deepEqual((pgcdc.depends_on as Record<string, unknown>)[dependency], { condition: 'service_healthy' });
      assert.ok(service(dependency).healthcheck, `${dependency} has a health check`);
    }
    assert.ok(seconds(pgcdc.stop_grace_period as string) * 1000 > STOP_DEADLINE_MS);
    assert.ok(pgcdc.hostname, 'a fixed hostname keeps the epochs task queue across restarts');
  });

  it('mounts a valid pg-cdc.yml where the image reads it, and the state volume where that file puts state_dir', () => {
    const pgcdc = service('pg-cdc');
    const mounts: Record<string, string> = Object.fromEntries(
      (pgcdc.volumes as string[]).map((v) => v.split(':').slice(0, 2).reverse() as [string, string]),
    );
    const file = mounts[imageEnv.PGCDC_CONFIG!];
    assert.ok(file, `a file is mounted at ${imageEnv.PGCDC_CONFIG}`);
    const config = parseConfig(read(file), { env: {}, baseDir: '/etc/pg-cdc' });
    assert.ok(mounts[config.state_dir]! in compose.volumes, `a named volume at state_dir ${config.state_dir}`);
    assert.match(read('Dockerfile'), new RegExp(`chown -R node:node ${config.state_dir} `), 'owned by the image user');
    assert.equal(new URL(config.source.postgres.url!).hostname, 'postgres');
    assert.equal(config.temporal.address.split(':')[0], 'temporal');
    const metricsPort = config.metrics.listen.split(':').pop();
    assert.equal(new URL(imageEnv.PGCDC_HEALTH_URL!).port, metricsPort, 'the health check reaches it');
    assert.ok((pgcdc.ports as string[]).includes(`${metricsPort}:${metricsPort}`));
  });
});
