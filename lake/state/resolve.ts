/**
 * What an epoch does to the state table, decided from the thin shape of its changes (order, op, identities,
 * unchanged columns) without touching any row value:
 * - which changes' rows are written (the live rows at the end of the epoch that the batch wrote),
 * - which identities lose their lake rows (all of them for a primary key, a count for a 'full-row' multiset),
 * - for a primary-key table, where each unchanged TOAST value of a written row comes from: the latest earlier
 *   change of the same row that sent the column, or the row in the lake.
 * A truncate empties the table at its position: what came before it no longer matters for the state.
 */
export type ChangeOp = 'I' | 'U' | 'D' | 'T';

export interface ThinChange {
  readonly ord: number;
  readonly op: ChangeOp;
  /** Identity the change removes: U (the old key, or the row's own) and D. */
  readonly from: number | undefined;
  /** Identity the change writes: I and U. */
  readonly to: number | undefined;
  readonly unchanged: readonly number[];
}

/** The value of column `field` of the row written by change `ord` comes from change `sourceOrd`, or the lake row. */
export type ToastSource =
  | { readonly ord: number; readonly field: number; readonly sourceOrd: number }
  | { readonly ord: number; readonly field: number; readonly lakeIdentity: number };

export interface Resolution {
  /** Changes whose row is in the epoch's data file, ascending. */
  readonly written: readonly number[];
  /** Identities whose rows in the lake are deleted: every row ('all'), or that many of them. */
  readonly lakeDeletes: ReadonlyMap<number, 'all' | number>;
  readonly toast: readonly ToastSource[];
  /** There was a truncate: the snapshot starts empty before `written`. */
  readonly truncated: boolean;
}

/** Where a change's row came from: an earlier change in the batch, the lake, or nothing (a new row). */
type Origin = { readonly ord: number } | { readonly lake: number } | undefined;

export function resolvePrimaryKey(changes: readonly ThinChange[]): Resolution {
  let truncated = false;
  /** Per identity, since the last truncate: the change whose row it holds now, or null once deleted. */
  let current = new Map<number, number | null>();
  const origin = new Map<number, Origin>();
  const unchangedOf = new Map<number, ReadonlySet<number>>();
  for (const change of changes) {
    if (change.op === 'T') {
      truncated = true;
      current = new Map();
      continue;
    }
    const from = change.op === 'I' ? change.to : change.from;
    if (from !== undefined && change.op === 'U') {
      const holder = current.get(from);
      const source: Origin =
        holder === undefined ? (truncated ? undefined : { lake: from }) : holder === null ? undefined : { ord: holder };
      origin.set(change.ord, source);
      if (change.unchanged.length > 0) unchangedOf.set(change.ord, new Set(change.unchanged));
    }
    if (change.op === 'D' || (change.op === 'U' && from !== change.to)) current.set(from!, null);
    if (change.to !== undefined) current.set(change.to, change.ord);
  }

  const written = [...current.values()].filter((ord): ord is number => ord !== null).sort((a, b) => a - b);
  const toast: ToastSource[] = [];
  for (const ord of written) {
    for (const field of unchangedOf.get(ord) ?? []) {
      // Walk back through earlier versions of the row until one sent the column.
      let source = origin.get(ord);
      while (source && 'ord' in source && unchangedOf.get(source.ord)?.has(field)) source = origin.get(source.ord);
      if (source && 'ord' in source) toast.push({ ord, field, sourceOrd: source.ord });
      else if (source) toast.push({ ord, field, lakeIdentity: source.lake });
    }
  }
  // An identity whose first change in the batch is an INSERT has no row in the lake: PostgreSQL's key held it
  // absent at that moment, and the lake is the table as of the previous epoch. Looking it up would cost a locator
  // probe per inserted row for nothing. (A DEFERRABLE primary key can break this; such keys are not supported.)
  const lakeDeletes = new Map<number, 'all'>();
  if (!truncated) {
    const seen = new Set<number>();
    for (const change of changes) {
      if (change.op === 'T') continue;
      if (change.from !== undefined && !seen.has(change.from)) {
        seen.add(change.from);
        lakeDeletes.set(change.from, 'all');
      }
      if (change.to !== undefined && !seen.has(change.to)) {
        seen.add(change.to);
        if (change.op !== 'I') lakeDeletes.set(change.to, 'all');
      }
    }
  }
  return { written, lakeDeletes, toast, truncated };
}

/**
 * 'full-row' identity: rows are a multiset. An insert adds a copy; a delete removes one equal copy, preferring one
 * this batch added (the newest), else one in the lake. An update is a delete of the old row plus an insert.
 */
export function resolveFullRow(changes: readonly ThinChange[]): Resolution {
  let truncated = false;
  let pending = new Map<number, number[]>();
  let lakeDeletes = new Map<number, number>();
  for (const change of changes) {
    if (change.op === 'T') {
      truncated = true;
      pending = new Map();
      lakeDeletes = new Map();
      continue;
    }
    if (change.from !== undefined && change.op !== 'I') {
      const copies = pending.get(change.from);
      if (copies && copies.length > 0) copies.pop();
      else if (!truncated) lakeDeletes.set(change.from, (lakeDeletes.get(change.from) ?? 0) + 1);
    }
    if (change.to !== undefined) {
      const copies = pending.get(change.to) ?? [];
      copies.push(change.ord);
      pending.set(change.to, copies);
    }
  }
  const written = [...pending.values()].flat().sort((a, b) => a - b);
  return { written, lakeDeletes, toast: [], truncated };
}
