/**
 * The systemd units in deploy/systemd/: what each promises (restart on failure, a stop timeout that fits the
 * graceful stop, the hardening, secrets from an EnvironmentFile) read from the file, and the whole file checked by
 * `systemd-analyze verify` where systemd is installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { STOP_DEADLINE_MS } from '../../cli/commands/start.js';
import { skipLoudlyOrFail } from '../support/skip.js';
import { tempDir } from '../support/temp.js';

const DIR = join(import.meta.dirname, '..', '..', 'deploy', 'systemd');
const UNITS = readdirSync(DIR).filter((name) => name.endsWith('.service'));
/** Where the units expect Node; verify checks that ExecStart's binary exists. */
const UNIT_NODE = '/usr/bin/node';

/** Section → key → values (a key may repeat), as systemd reads a unit file. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const [, key, value] = /^([A-Za-z]+)=(.*)$/.exec(line) ?? [];
    assert.ok(current && key !== undefined, `not a key=value line inside a section: ${line}`);
    current.set(key, [...(current.get(key) ?? []), value!]);
  }
  return sections;
}

const seconds = (value: string): number => {
  const match = /^(\d+)(s|min)?$/.exec(value);
  assert.ok(match, `${value} is a time span in s or min`);
  return Number(match[1]) * (match[2] === 'min' ? 60 : 1);
};

const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('systemd units', () => {
  it('are there: start, serve and a worker', () => {
    assert.deepEqual(UNITS.sort(), ['pg-cdc-serve.service', 'pg-cdc-worker.service', 'pg-cdc.service']);
  });

  for (const name of UNITS) {
    it(`${name}: a simple service that restarts on failure, hardened, writing only its state directory`, () => {
      const unit = parseUnit(readFileSync(join(DIR, name), 'utf8'));
      const service = unit.get('Service');
      assert.ok(service && unit.get('Unit') && unit.get('Install'), 'Unit, Service and Install sections');
      const value = (key: string): string | undefined => service.get(key)?.at(-1);
      assert.equal(value('Type'), 'simple');
      assert.equal(value('Restart'), 'on-failure');
      assert.equal(value('KillSignal'), 'SIGTERM');
      assert.equal(value('NoNewPrivileges'), 'yes');
      assert.equal(value('ProtectSystem'), 'strict');
      assert.ok(value('User') && value('User') !== 'root', 'a user of its own');
      assert.match(value('EnvironmentFile') ?? '', /^-?\/etc\/pg-cdc\//, 'secrets from an EnvironmentFile');
      const stateDir = `/var/lib/${value('StateDirectory')}`;
      assert.deepEqual(service.get('ReadWritePaths'), [stateDir]);
      for (const env of service.get('Environment') ?? []) {
        const path = /^(?:HOME|PGCDC_CACHE_DIR)=(.*)$/.exec(env)?.[1];
        if (path) assert.ok(path.startsWith(stateDir), `${env} is writable`);
      }
      const exec = value('ExecStart')!.split(' ');
      assert.deepEqual(exec.slice(0, 4), [
        UNIT_NODE,
        '/opt/pg-cdc/bin/pg-cdc.js',
        '--config',
        '/etc/pg-cdc/pg-cdc.yml',
      ]);
      assert.equal(unit.get('Install')!.get('WantedBy')?.[0], 'multi-user.target');
    });
  }

  it('pg-cdc.service runs `start` and waits longer than its graceful stop before SIGKILL', () => {
    const service = parseUnit(readFileSync(join(DIR, 'pg-cdc.service'), 'utf8')).get('Service')!;
    assert.equal(service.get('ExecStart')![0]!.split(' ')[4], 'start');
    assert.ok(seconds(service.get('TimeoutStopSec')![0]!) * 1000 > STOP_DEADLINE_MS);
    assert.equal(service.get('KillMode')?.[0], 'mixed', 'SIGTERM to pg-cdc alone: it stops its own children');
  });

  it('pass `systemd-analyze verify` without a warning', (t) => {
    if (!systemdAnalyze) return t.skip(skipLoudlyOrFail('no systemd-analyze (Debian: apt-get install systemd)'));
    // verify insists that ExecStart's binary exists: where Node lives elsewhere, check a copy that points at it.
    let dir = DIR;
    try {
      accessSync(UNIT_NODE, constants.X_OK);
    } catch {
      dir = tempDir('pg-cdc-units-');
      for (const name of UNITS) {
        writeFileSync(join(dir, name), readFileSync(join(DIR, name), 'utf8').replaceAll(UNIT_NODE, process.execPath));
      }
    }
    const result = spawnSync('systemd-analyze', ['verify', ...UNITS.map((name) => join(dir, name))], {
      encoding: 'utf8',
    });
    // Unknown keys and bad values are warnings on stderr with status 0: any output fails the check.
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), '');
  });
});
