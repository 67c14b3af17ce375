import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * The process's one Prometheus registry. Every room records into the families of `families.ts`, registered here,
 * and each process that serves `/metrics` (`start`, `worker`, `serve`) renders this registry, plus the families only
 * its front door has (the API's, on a registry of its own, merged at render time).
 */
export const processRegistry = new Registry();

let defaultsCollected = false;
let tableLabels = false;

/**
 * What a process decides once, from `metrics.*` in pg-cdc.yml: whether families may carry a `table` label (off by
 * default: a label per table multiplies series by the number of tables), and the process metrics (CPU, memory, event
 * loop lag, heap) as `pgcdc_process_*` and `pgcdc_nodejs_*`.
 */
export function configureMetrics(options: { readonly tableLabels: boolean }): void {
  tableLabels = options.tableLabels;
  if (!defaultsCollected) {
    collectDefaultMetrics({ register: processRegistry, prefix: 'pgcdc_' });
    defaultsCollected = true;
  }
}

/** Whether per-table series are exported (`metrics.table_labels`). */
export const tableLabelsEnabled = (): boolean => tableLabels;

/** The Prometheus text of the process registry, with `extra` (a front door's own registry) merged in. */
export async function renderMetrics(extra?: Registry): Promise<string> {
  const registry = extra ? Registry.merge([processRegistry, extra]) : processRegistry;
  return registry.metrics();
}

export const METRICS_CONTENT_TYPE = processRegistry.contentType;
