import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import {
  CreateBucketCommand,
  GetObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { pythonOrSkip } from '../support/readers.js';
import { motoEndpoint, uniqueName } from '../support/stack.js';

describe('the AWS test bed and the independent readers', () => {
  const moto = motoEndpoint();

  it('moto answers the AWS SDK for S3 on its free port', { skip: moto.skip }, async () => {
    const s3 = new S3Client({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const bucket = uniqueName('bucket').replace(/_/g, '-');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'lake/hello.txt', Body: 'hello lake' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'lake/hello.txt' }));
    assert.equal(await got.Body?.transformToString(), 'hello lake');
    const listed = await s3.send(new ListBucketsCommand({}));
    assert.ok(listed.Buckets?.some((b) => b.Name === bucket));
    s3.destroy();
  });

  const { python, skip: noPython } = pythonOrSkip();

  it('pyarrow and pyiceberg are importable for the independent-reader tests', { skip: noPython }, () => {
    const out = execFileSync(
      python!,
      ['-c', 'import pyarrow, pyiceberg; print(pyarrow.__version__, pyiceberg.__version__)'],
      {
        encoding: 'utf8',
      },
    );
    assert.match(out.trim(), /^\d+\.\d+\.\d+ \d+\.\d+\.\d+$/);
  });
});
