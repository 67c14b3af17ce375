import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createServeMetrics } from '../../api/metrics.js';
import { processRegistry } from '../../core/metrics/index.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The families pg-cdc defines (prom-client's process and Node.js defaults aside), by name and type. */
async function definedFamilies(): Promise<string[]> {
  const serve = createServeMetrics({ manifestVersion: () => undefined });
  const registry = Registry.merge([processRegistry, serve.registry]);
  return (await registry.getMetricsAsJSON())
    .filter((m) => !/^pgcdc_(process|nodejs)_/.test(m.name))
    .map((m) => `${m.name} ${m.type}`)
    .sort();
}

describe('docs/metrics.md', () => {
  it('lists every metric family pg-cdc defines, with its type, and nothing else', async () => {
    const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
    const listed = [...doc.matchAll(/^\| `(pgcdc_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/gm)]
      .map(([, name, type]) => `${name} ${type}`)
      .sort();
    assert.deepEqual(listed, await definedFamilies());
  });
});
