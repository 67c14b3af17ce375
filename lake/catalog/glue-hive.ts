import {
  CreateTableCommand,
  DeleteTableCommand,
  GetTableCommand,
  UpdateTableCommand,
  type GlueClient,
  type Table,
  type TableInput,
} from '@aws-sdk/client-glue';
import { catalogPublishes } from '../../core/metrics/index.js';
import { SUMMARY_KEY } from '../contract/index.js';
import { currentSnapshot, type Snapshot, type TableMetadata } from '../iceberg/metadata.js';
import { readManifestEntries, readManifestList } from '../iceberg/manifests.js';
import type { ObjectStore } from '../storage/index.js';
import { glueColumns } from './glue-columns.js';
import { awsErrorName, glueFailure } from './glue-errors.js';
import { createGlueDatabase, GLUE_PARAMETERS, glueClient, glueTableName, type GlueCatalogOptions } from './glue.js';
import type { Catalog, CatalogTable } from './index.js';

/** Table parameters of the Hive tables, beside pg-cdc's `pgcdc.identifier`. */
export const HIVE_PARAMETERS = {
  identifier: GLUE_PARAMETERS.identifier,
  /** The Iceberg snapshot whose added files the table lists: the table's last base (`init` or a compaction). */
  baseSnapshotId: 'pgcdc.base-snapshot-id',
  /** The LSN the rows are as of (the base's `pgcdc.lsn`, or the snapshot a compaction rewrote). */
  lsn: 'pgcdc.lsn',
} as const;

const SYMLINK_INPUT = 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat';
const IGNORE_KEY_OUTPUT = 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat';
const PARQUET_SERDE = 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe';

/**
 * `catalog.type: glue`: the Iceberg pointers stay in the local catalog (the warehouse's `_catalog`), and each table's
 * compacted base is published to Glue as a plain Parquet (Hive) table, for engines that read no Iceberg.
 *
 * A Hive table reads every file under its location, and a table's `data/` holds the files of every epoch and of
 * replaced bases until expiry removes them. So the Glue table is a symlink table (SymlinkTextInputFormat, which
 * Athena, Presto/Trino and Spark's Hive reader follow): its location is a directory holding one text file that
 * lists the Parquet files the base added. Those files hold the table's rows as of the base: what `init` copied, or
 * the live rows of the snapshot a compaction rewrote, with its deletes applied. Nothing after that is visible, no
 * epoch and no delete, until the next compaction publishes its files.
 */
export class HiveGlueCatalog implements Catalog {
  private readonly glue: GlueClient;
  private readonly database: string;
  private readonly readMetadata: GlueCatalogOptions['readMetadata'];
  /** The base snapshot each table's Glue table was last seen to list: a commit that adds no base costs no call. */
  private readonly published = new Map<string, string>();
  private databaseReady: Promise<void> | undefined;

  constructor(
    private readonly inner: Catalog,
    private readonly store: ObjectStore,
    options: GlueCatalogOptions,
  ) {
    this.glue = glueClient(options);
    this.database = options.database;
    this.readMetadata = options.readMetadata;
  }

  async createTable(identifier: string, table: { metadataKey: string; location: string }): Promise<CatalogTable> {
    const created = await this.inner.createTable(identifier, table);
    await this.refresh(identifier);
    return created;
  }

  loadTable(identifier: string): Promise<CatalogTable> {
    return this.inner.loadTable(identifier);
  }

  listTables(namespace?: string): Promise<string[]> {
    return this.inner.listTables(namespace);
  }

  async dropTable(identifier: string): Promise<boolean> {
    const dropped = await this.inner.dropTable(identifier);
    try {
      await this.glue.send(new DeleteTableCommand({ DatabaseName: this.database, Name: glueTableName(identifier) }));
    } catch (error) {
      if (awsErrorName(error) !== 'EntityNotFoundException')
        throw glueFailure('DeleteTable', error, { table: identifier });
    }
    this.published.delete(identifier);
    return dropped;
  }

  /**
   * The pointer is swapped first, in the local catalog: that is the commit. Publishing the base follows; when it
   * fails, the step is retried, finds its commit made, and `pg-cdc catalog register` publishes what is missing.
   */
  async commitTable(identifier: string, expectedMetadataKey: string, newMetadataKey: string): Promise<void> {
    await this.inner.commitTable(identifier, expectedMetadataKey, newMetadataKey);
    const at = newMetadataKey.lastIndexOf('/metadata/');
    // The pointer just committed, without reading the catalog back: this runs after every epoch.
    if (at > 0) await this.publish(identifier, newMetadataKey, newMetadataKey.slice(0, at));
    else await this.refresh(identifier);
  }

  /** Publishes the table's current base unless Glue lists it already; true when the Glue table changed. */
  async refresh(identifier: string): Promise<boolean> {
    const { metadataKey, location } = await this.inner.loadTable(identifier);
    return this.publish(identifier, metadataKey, location);
  }

  private async publish(identifier: string, metadataKey: string, location: string): Promise<boolean> {
    const metadata = await this.readMetadata(metadataKey);
    const base = metadata && baseSnapshot(metadata);
    if (!metadata || !base) return false;
    const baseId = String(base['snapshot-id']);
    if (this.published.get(identifier) === baseId) return false;
    const existing = await this.getTable(identifier);
    if (existing?.Parameters?.[HIVE_PARAMETERS.baseSnapshotId] === baseId) {
      this.published.set(identifier, baseId);
      return false;
    }
    const listing = `${location}/_hive/${baseId}`;
    const files = await addedDataFiles(this.store, base);
    await this.store.put(`${listing}/symlink.txt`, files.map((file) => `${file}\n`).join(''));
    const input = this.tableInput(identifier, metadata, base, listing);
    try {
      if (existing) {
        await this.glue.send(
          new UpdateTableCommand({
            DatabaseName: this.database,
            TableInput: input,
            VersionId: existing.VersionId,
            SkipArchive: true,
          }),
        );
      } else {
        this.databaseReady ??= createGlueDatabase(this.glue, this.database).catch((error: unknown) => {
          this.databaseReady = undefined;
          throw error;
        });
        await this.databaseReady;
        await this.glue.send(new CreateTableCommand({ DatabaseName: this.database, TableInput: input }));
      }
    } catch (error) {
      throw glueFailure(existing ? 'UpdateTable' : 'CreateTable', error, {
        table: identifier,
        database: this.database,
      });
    }
    this.published.set(identifier, baseId);
    catalogPublishes.inc();
    return true;
  }

  private tableInput(identifier: string, metadata: TableMetadata, base: Snapshot, listing: string): TableInput {
    const schema =
      metadata.schemas.find((s) => s['schema-id'] === base['schema-id']) ??
      metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id']);
    return {
      Name: glueTableName(identifier),
      TableType: 'EXTERNAL_TABLE',
      Parameters: {
        EXTERNAL: 'TRUE',
        classification: 'parquet',
        [HIVE_PARAMETERS.identifier]: identifier,
        [HIVE_PARAMETERS.baseSnapshotId]: String(base['snapshot-id']),
        ...(base.summary[SUMMARY_KEY.lsn] === undefined
          ? {}
          : { [HIVE_PARAMETERS.lsn]: base.summary[SUMMARY_KEY.lsn] }),
      },
      StorageDescriptor: {
        Location: this.store.uri(listing),
        Columns: schema ? glueColumns(schema) : [],
        InputFormat: SYMLINK_INPUT,
        OutputFormat: IGNORE_KEY_OUTPUT,
        SerdeInfo: { SerializationLibrary: PARQUET_SERDE },
      },
    };
  }

  private async getTable(identifier: string): Promise<Table | undefined> {
    try {
      const name = glueTableName(identifier);
      return (await this.glue.send(new GetTableCommand({ DatabaseName: this.database, Name: name }))).Table;
    } catch (error) {
      if (awsErrorName(error) === 'EntityNotFoundException') return undefined;
      throw glueFailure('GetTable', error, { table: identifier, database: this.database });
    }
  }
}

/** The newest base on the current snapshot's line: the snapshot `init` committed, or a compaction's. */
export function baseSnapshot(metadata: TableMetadata): Snapshot | undefined {
  const byId = new Map(metadata.snapshots.map((s) => [s['snapshot-id'], s]));
  for (let snapshot = currentSnapshot(metadata); snapshot;) {
    const kind = snapshot.summary[SUMMARY_KEY.kind];
    if (kind === 'snapshot' || kind === 'compaction') return snapshot;
    const parent = snapshot['parent-snapshot-id'];
    snapshot = parent === undefined ? undefined : byId.get(parent);
  }
  return undefined;
}

/** The data files `snapshot` added, as written in its manifests. */
async function addedDataFiles(store: ObjectStore, snapshot: Snapshot): Promise<string[]> {
  const id = BigInt(snapshot['snapshot-id']);
  const files: string[] = [];
  for (const manifest of await readManifestList(store, snapshot['manifest-list'])) {
    if (manifest.content !== 0 || BigInt(manifest.added_snapshot_id) !== id) continue;
    for (const entry of await readManifestEntries(store, manifest)) {
      const added = entry.status === 1 && entry.snapshot_id !== null && BigInt(entry.snapshot_id) === id;
      if (added && entry.data_file.content === 0) files.push(entry.data_file.file_path);
    }
  }
  return files.sort();
}
