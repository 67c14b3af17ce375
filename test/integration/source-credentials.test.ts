import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { Signer } from '@aws-sdk/rds-signer';
import type pg from 'pg';
import { isPgCdcError } from '../../core/errors/index.js';
import { connectSource, type SourceSettings } from '../../source/connection.js';
import { startPostgres, type RunningPostgres } from '../../stack/postgres.js';
import { tempDir } from '../support/stack.js';

/**
 * Every connection works out its password when it opens: an RDS IAM token, the password file, or the URL's
 * `${VAR}`. The cluster here checks passwords (scram-sha-256) for every role but its superuser, so a connection
 * only opens with the password the role has right now.
 *
 * The IAM token is a SigV4 presigned URL, signed with the current time to the second. With the clock held still
 * (only Date is mocked: timers run), the test mints the token the connection will mint, with a real Signer of its
 * own, and makes it the role's password: the connection opens only if it signed the same host, port, user and
 * region with the same credentials. Moving the clock on by one second changes the token, so a connection that
 * reused an earlier token would be refused.
 */
const REGION = 'eu-central-1';
const CREDENTIALS = { accessKeyId: 'AKIDPGCDCTEST', secretAccessKey: 'pg-cdc-test-secret' };
const NOW = Date.parse('2026-12-07T12:00:00Z');

let cluster: RunningPostgres;
before(async () => {
  cluster = await startPostgres({ durable: false });
  writeFileSync(
    join(cluster.dataDir, 'pg_hba.conf'),
    [
      'local all all trust',
      `host all ${cluster.superuser} 127.0.0.1/32 trust`,
      'host all all 127.0.0.1/32 scram-sha-256',
      'host replication all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  await cluster.query('SELECT pg_reload_conf()');
});
after(() => cluster.stop());

async function role(name: string, password: string): Promise<void> {
  const quoted = password.replace(/'/g, "''");
  await cluster.query(`DROP ROLE IF EXISTS ${name}`);
  await cluster.query(`CREATE ROLE ${name} LOGIN REPLICATION PASSWORD '${quoted}'`);
}

async function setPassword(name: string, password: string): Promise<void> {
  await cluster.query(`ALTER ROLE ${name} PASSWORD '${password.replace(/'/g, "''")}'`);
}

const settingsFor = (user: string, extra: Partial<SourceSettings> = {}): SourceSettings => ({
  url: `postgresql://${user}@127.0.0.1:${cluster.port}/postgres`,
  schemas: ['public'],
  connect_timeout_sec: 5,
  ...extra,
});

async function whoAmI(client: pg.Client): Promise<string> {
  try {
    const { rows } = await client.query<{ current_user: string }>('SELECT current_user');
    return rows[0]!.current_user;
  } finally {
    await client.end();
  }
}

const refused = (error: unknown): boolean =>
  isPgCdcError(error) && error.code === 'SOURCE_UNREACHABLE' && /password authentication failed/.test(error.message);

describe('source credentials, worked out on every connect', () => {
  it('iam_auth: a token minted for each connection, replication connections included', async () => {
    const user = 'glue_iam_user';
    mock.timers.enable({ apis: ['Date'], now: NOW });
    try {
      const expected = () =>
        new Signer({
          hostname: '127.0.0.1',
          port: cluster.port,
          username: user,
          region: REGION,
          credentials: CREDENTIALS,
        }).getAuthToken();
      let signed = 0;
      const counted = () => {
        signed++;
        return Promise.resolve(CREDENTIALS);
      };
      const settings = settingsFor(user, { iam_auth: true, region: REGION });
      await role(user, await expected());

      assert.equal(await whoAmI(await connectSource(settings, { awsCredentials: counted })), user);
      assert.equal(signed, 1);
      const replication = await connectSource(settings, { awsCredentials: counted, replication: true });
      try {
        const { rows } = await replication.query<{ systemid: string }>('IDENTIFY_SYSTEM');
        assert.match(rows[0]!.systemid, /^\d+$/);
      } finally {
        await replication.end();
      }
      assert.equal(signed, 2);

      // A second later the token is another one: the role still has the old one, and the connection is refused.
      mock.timers.setTime(NOW + 1000);
      await assert.rejects(connectSource(settings, { awsCredentials: counted }), refused);
      assert.equal(signed, 3);
      await setPassword(user, await expected());
      assert.equal(await whoAmI(await connectSource(settings, { awsCredentials: counted })), user);
      assert.equal(signed, 4);

      // Signed with other credentials, the token is refused: the password sent is the signature, not a constant.
      const other = () => Promise.resolve({ ...CREDENTIALS, secretAccessKey: 'another-secret' });
      await assert.rejects(connectSource(settings, { awsCredentials: other }), refused);
    } finally {
      mock.timers.reset();
    }
  });

  it('password_file: read again on every connect', async () => {
    const user = 'glue_file_user';
    const file = join(tempDir('pg-cdc-password-'), 'password');
    writeFileSync(file, 'first secret\n');
    await role(user, 'first secret');
    const settings = settingsFor(user, { password_file: file });
    assert.equal(await whoAmI(await connectSource(settings)), user);
    await setPassword(user, 'second secret');
    await assert.rejects(connectSource(settings), refused);
    writeFileSync(file, 'second secret');
    assert.equal(await whoAmI(await connectSource(settings)), user);
  });

  it('a ${VAR} password of the URL: resolved again on every connect', async () => {
    const user = 'glue_env_user';
    process.env.GLUE_TEST_PASSWORD = 'first-secret';
    await role(user, 'first-secret');
    const settings = settingsFor(user, {
      // What the configuration holds after loading: the substituted URL and the password as written.
      url: `postgresql://${user}:first-secret@127.0.0.1:${cluster.port}/postgres`,
      password_reference: '${GLUE_TEST_PASSWORD}',
    });
    assert.equal(await whoAmI(await connectSource(settings)), user);
    await setPassword(user, 'rotated');
    process.env.GLUE_TEST_PASSWORD = 'rotated';
    assert.equal(await whoAmI(await connectSource(settings)), user, 'the rotated value, not the one loaded');
    delete process.env.GLUE_TEST_PASSWORD;
    await assert.rejects(
      connectSource(settings),
      (error: unknown) => isPgCdcError(error) && error.code === 'SOURCE_CREDENTIALS',
    );
  });
});
