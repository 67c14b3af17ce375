/**
 * A small Prometheus registry for the serve process: counters, gauges and histograms with labels, rendered in the
 * text exposition format (version 0.0.4). Every name starts with `pgcdc_`. Label values never carry table names
 * or principals: /metrics is open without authentication.
 */
type Labels = Readonly<Record<string, string>>;

const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels): string => {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
};
const keyOf = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort());

interface Metric {
  readonly name: string;
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const current = this.values.get(key);
    if (current) current.value += by;
    else this.values.set(key, { labels, value: by });
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines;
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    /** Read at render time instead of being set. */
    private readonly collect?: () => number | undefined,
  ) {}

  set(value: number, labels: Labels = {}): void {
    this.values.set(keyOf(labels), { labels, value });
  }

  add(by: number, labels: Labels = {}): void {
    const current = this.values.get(keyOf(labels))?.value ?? 0;
    this.set(current + by, labels);
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const collected = this.collect?.();
    if (collected !== undefined) lines.push(`${this.name} ${collected}`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines;
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = keyOf(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    this.buckets.forEach((bound, i) => {
      if (value <= bound) entry.counts[i]! += 1;
    });
    entry.sum += value;
    entry.count += 1;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...labels, le: String(bound) })} ${counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${sum}`, `${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  register<M extends Metric>(metric: M): M {
    if (!metric.name.startsWith('pgcdc_')) throw new Error(`metric ${metric.name} must start with pgcdc_`);
    this.metrics.push(metric);
    return metric;
  }

  render(): string {
    return `${this.metrics.flatMap((m) => m.render()).join('\n')}\n`;
  }
}

/** The serve process's metrics, created once per server. */
export function createServeMetrics(collect: { manifestVersion: () => number | undefined }) {
  const registry = new MetricsRegistry();
  const started = Date.now();
  return {
    registry,
    requests: registry.register(
      new Counter('pgcdc_serve_requests_total', 'Requests by front door (http, mcp), action and outcome.'),
    ),
    duration: registry.register(
      new Histogram(
        'pgcdc_serve_request_duration_seconds',
        'Time to answer a request, by front door and action.',
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ),
    ),
    rows: registry.register(new Counter('pgcdc_serve_rows_returned_total', 'Rows returned by query and changes.')),
    authFailures: registry.register(
      new Counter('pgcdc_serve_auth_failures_total', 'Requests refused for a missing or unknown token.'),
    ),
    rateLimited: registry.register(
      new Counter('pgcdc_serve_rate_limited_total', 'Requests refused by the per-principal rate limit.'),
    ),
    sseClients: registry.register(new Gauge('pgcdc_serve_sse_clients', 'Open SSE streams, by stream.')),
    manifestVersion: registry.register(
      new Gauge(
        'pgcdc_serve_manifest_version',
        'Newest manifest version the server has seen.',
        collect.manifestVersion,
      ),
    ),
    uptime: registry.register(
      new Gauge('pgcdc_serve_uptime_seconds', 'Seconds since the server started.', () => (Date.now() - started) / 1000),
    ),
    memory: registry.register(
      new Gauge('pgcdc_serve_resident_memory_bytes', 'Resident memory of the serve process.', () =>
        process.memoryUsage.rss(),
      ),
    ),
  };
}

export type ServeMetrics = ReturnType<typeof createServeMetrics>;
