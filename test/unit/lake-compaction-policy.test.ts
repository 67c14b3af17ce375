import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assessTable } from '../../lake/compaction/policy.js';
import type { LiveFile, SnapshotFiles } from '../../lake/reader.js';

const file = (records: number, bytes: number, content: 0 | 1 = 0): LiveFile => ({
  path: `file:///lake/t/data/${Math.random()}.parquet`,
  recordCount: records,
  fileSizeInBytes: bytes,
  content,
  localPath: undefined,
});
const snapshot = (dataFiles: LiveFile[], deleteFiles: LiveFile[] = []): SnapshotFiles => ({
  identifier: 'public.t',
  snapshot: undefined,
  schema: { type: 'struct', 'schema-id': 0, fields: [] },
  dataFiles,
  deleteFiles,
});
const thresholds = { targetFileSizeBytes: 1000, minSmallFiles: 4, minDeleteRatio: 0.1 };

describe('when a table is due for compaction', () => {
  it('is not due with few small files and few deletes', () => {
    const assessment = assessTable(snapshot([file(100, 900), file(100, 100)], [file(5, 10, 1)]), thresholds);
    assert.equal(assessment.due, false);
    assert.deepEqual(assessment.reasons, []);
    assert.equal(assessment.smallFiles, 2);
  });

  it('is due at the small-file count: files under three quarters of the target', () => {
    const small = [file(1, 749), file(1, 10), file(1, 10), file(1, 10), file(1, 750)];
    const assessment = assessTable(snapshot(small), thresholds);
    assert.equal(assessment.due, true);
    assert.equal(assessment.smallFiles, 4);
    assert.match(assessment.reasons[0]!, /4 small files/);
  });

  it('is due at the delete ratio', () => {
    const assessment = assessTable(snapshot([file(100, 900)], [file(10, 900, 1)]), thresholds);
    assert.equal(assessment.due, true);
    assert.match(assessment.reasons[0]!, /10\.0% of rows deleted/);
    assert.equal(assessTable(snapshot([file(100, 900)], [file(9, 900, 1)]), thresholds).due, false);
  });
});
