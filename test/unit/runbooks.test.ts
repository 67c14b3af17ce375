/**
 * docs/runbooks/ and docs/slo.md send an operator after exact names: every metric family, error code and log
 * message they cite exists in the code, so a rename cannot leave a runbook pointing at nothing. Each runbook has
 * its three parts, and the index lists every page.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createServeMetrics } from '../../api/metrics.js';
import { SOURCE_DIRS } from '../../bin/launch.mjs';
import { ERROR_CODES } from '../../core/errors/index.js';
import { processRegistry } from '../../core/metrics/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RUNBOOKS = join(ROOT, 'docs', 'runbooks');
const pages = readdirSync(RUNBOOKS).filter((name) => name.endsWith('.md') && name !== 'README.md');
const docs = [
  ...['README.md', ...pages].map((name) => ({
    name: `runbooks/${name}`,
    text: readFileSync(join(RUNBOOKS, name), 'utf8'),
  })),
  { name: 'slo.md', text: readFileSync(join(ROOT, 'docs', 'slo.md'), 'utf8') },
];

/** The sources that write the log lines: the folders pg-cdc is built from (tests and benchmarks aside). */
function sourceText(): string {
  const read = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return read(path);
      return entry.name.endsWith('.ts') ? [readFileSync(path, 'utf8')] : [];
    });
  return SOURCE_DIRS.flatMap((dir) => read(join(ROOT, dir))).join('\n');
}

async function metricFamilies(): Promise<Set<string>> {
  const serve = createServeMetrics({ manifestVersion: () => undefined });
  const registry = Registry.merge([processRegistry, serve.registry]);
  return new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
}

describe('runbooks and SLOs', () => {
  it('has one page per failure mode of issue 28, each as symptom, diagnosis, remediation', () => {
    assert.deepEqual(pages.sort(), [
      'cas-breaker.md',
      'epoch-failure.md',
      's3-errors.md',
      'slot-lag.md',
      'temporal-unreachable.md',
      'wal-retention-guardrail.md',
    ]);
    for (const page of pages) {
      const headings = [...readFileSync(join(RUNBOOKS, page), 'utf8').matchAll(/^## (.+)$/gm)].map(([, h]) => h);
      assert.deepEqual(headings, ['Symptom', 'Diagnosis', 'Remediation'], page);
    }
    const index = readFileSync(join(RUNBOOKS, 'README.md'), 'utf8');
    for (const page of pages) assert.ok(index.includes(`](${page})`), `runbooks/README.md links ${page}`);
  });

  it('cites only metric families pg-cdc defines', async () => {
    const families = await metricFamilies();
    for (const { name, text } of docs) {
      const cited = new Set([...text.matchAll(/\bpgcdc_[a-z_]+/g)].map(([m]) => m.replace(/_(bucket|sum|count)$/, '')));
      assert.ok(cited.size > 0, `${name} names the metrics to watch`);
      const unknown = [...cited].filter((metric) => !families.has(metric));
      assert.deepEqual(unknown, [], `${name} cites metrics no registry defines`);
    }
  });

  it('cites only error codes of the failure catalog', () => {
    const codes = new Set<string>(ERROR_CODES);
    for (const { name, text } of docs) {
      // A code is written whole in backticks; environment variables (PGCDC_*, AWS_*) are not codes.
      const cited = [...text.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g)]
        .map(([, code]) => code!)
        .filter((token) => !/^(PGCDC|AWS)_/.test(token));
      const unknown = cited.filter((code) => !codes.has(code));
      assert.deepEqual(unknown, [], `${name} cites codes that are not in core/errors/catalog.ts`);
    }
  });

  it('quotes only log messages pg-cdc writes, word for word', () => {
    const sources = sourceText();
    let quoted = 0;
    for (const { name, text } of docs) {
      for (const [, message] of text.matchAll(/"msg":"([^"]+)"/g)) {
        quoted++;
        assert.ok(sources.includes(`'${message}'`), `${name} quotes "${message}", which no source logs`);
      }
    }
    assert.ok(quoted >= 5, 'the runbooks quote the log lines to search for');
  });
});
