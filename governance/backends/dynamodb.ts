/**
 * The DynamoDB registry backend (`governance.registry: dynamodb`, table `catalog.acl_table`). Every write is one
 * TransactWriteItems of three items: the data (with its condition: not there yet, or still at the version read),
 * the policy_version counter moved from the value read to the next (conditional on that value), and the audit
 * item keyed by the new policy_version (which must not exist). So the trail has one entry per policy_version, in
 * order, and of two writers that read the same counter one applies and the other reads again.
 */
import {
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  TransactionCanceledException,
  type QueryCommandInput,
  type ScanCommandInput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import type { PgCdcConfig } from '../../core/config/index.js';
import type { AuditEntry, AuditWrite } from '../audit.js';
import type {
  AuditFilter,
  GrantExpectation,
  GrantPatch,
  RegistryBackend,
  StoredGrant,
  StoredResource,
} from '../backend.js';
import { retryOnConflict } from '../conflict.js';
import { parseResource } from '../resource.js';
import {
  AUDIT,
  auditItem,
  byGrantTime,
  GRANT,
  META,
  n,
  RESOURCE_PREFIX,
  resourceItem,
  s,
  toAuditEntry,
  toGrant,
  toResource,
  grantItem,
  num,
  type Item,
} from './dynamodb-items.js';
import { ensureAclTable, KEY, unavailable } from './dynamodb-table.js';

/** The AWS client of a configuration: the catalog's region and endpoint (moto, LocalStack), the default credentials. */
export function openDynamoBackend(config: PgCdcConfig): DynamoBackend {
  const table = config.catalog.acl_table;
  if (table === undefined) throw unavailable('(catalog.acl_table is not set)', undefined);
  const client = new DynamoDBClient({
    ...(config.catalog.region === undefined ? {} : { region: config.catalog.region }),
    ...(config.catalog.endpoint === undefined ? {} : { endpoint: config.catalog.endpoint }),
  });
  return new DynamoBackend(client, table, { ownsClient: true });
}

export class DynamoBackend implements RegistryBackend {
  readonly location: string;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly options: { ownsClient?: boolean } = {},
  ) {
    this.location = `dynamodb:${table}`;
  }

  async policyVersion(): Promise<number> {
    const item = await this.getItem(META);
    return item ? num(item, 'n') : 0;
  }

  async latestDatabase(): Promise<string | undefined> {
    const resources = await this.listResources();
    const rank = (r: StoredResource): string => `${r.kind === 'database' ? 1 : 0}${r.registeredAt}`;
    return resources.sort((a, b) => (rank(a) > rank(b) ? -1 : rank(a) < rank(b) ? 1 : 0))[0]?.db;
  }

  async getResource(text: string): Promise<StoredResource | undefined> {
    const { db } = parseResource(text);
    const item = await this.getItem({ [KEY.partition]: s(RESOURCE_PREFIX + db), [KEY.sort]: s(text) });
    return item && toResource(item);
  }

  async listResources(db?: string): Promise<StoredResource[]> {
    const items =
      db === undefined
        ? await this.scan({
            FilterExpression: 'begins_with(#pk, :prefix)',
            ExpressionAttributeNames: { '#pk': KEY.partition },
            ExpressionAttributeValues: { ':prefix': s(RESOURCE_PREFIX) },
          })
        : await this.query(RESOURCE_PREFIX + db);
    return items.map(toResource);
  }

  insertResource(resource: StoredResource, audit: AuditWrite): Promise<boolean> {
    return this.transact(audit, {
      Put: {
        TableName: this.table,
        Item: resourceItem(resource),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': KEY.partition },
      },
    });
  }

  updateResource(resource: StoredResource, expectedVersion: number, audit: AuditWrite): Promise<boolean> {
    return this.transact(audit, {
      Put: {
        TableName: this.table,
        Item: resourceItem(resource),
        ConditionExpression: '#version = :expected',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':expected': n(expectedVersion) },
      },
    });
  }

  async readAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    const limit = filter.limit ?? 1000;
    const names: Record<string, string> = {};
    const values: Item = {};
    const conditions: string[] = [];
    if (filter.resource !== undefined) {
      names['#resource'] = 'resource';
      values[':resource'] = s(filter.resource);
      conditions.push('#resource = :resource');
    }
    if (filter.principal !== undefined) {
      names['#principal'] = 'principal';
      values[':principal'] = s(filter.principal);
      conditions.push('#principal = :principal');
    }
    const items = await this.query(
      AUDIT,
      {
        ScanIndexForward: false,
        ...(conditions.length === 0
          ? {}
          : { FilterExpression: conditions.join(' AND '), ExpressionAttributeNames: names }),
      },
      values,
      limit,
    );
    return items.slice(0, limit).map(toAuditEntry).reverse();
  }

  async appendAudit(audit: AuditWrite): Promise<void> {
    await this.transact(audit);
  }

  async getGrant(id: string): Promise<StoredGrant | undefined> {
    const item = await this.getItem({ [KEY.partition]: s(GRANT), [KEY.sort]: s(id) });
    return item && toGrant(item);
  }

  async listGrants(filter: { workflowId?: string; limit?: number }): Promise<StoredGrant[]> {
    const grants = (await this.query(GRANT)).map(toGrant);
    const chosen = filter.workflowId === undefined ? grants : grants.filter((g) => g.workflowId === filter.workflowId);
    return chosen
      .sort(byGrantTime)
      .reverse()
      .slice(0, filter.limit ?? 100);
  }

  async openGrants(principal?: string): Promise<StoredGrant[]> {
    const grants = (await this.query(GRANT)).map(toGrant);
    return grants
      .filter((g) => g.endedAt === null && (principal === undefined || g.principal === principal))
      .sort(byGrantTime);
  }

  insertGrant(grant: StoredGrant, audit: AuditWrite): Promise<boolean> {
    return this.transact(audit, {
      Put: {
        TableName: this.table,
        Item: grantItem(grant),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': KEY.partition },
      },
    });
  }

  updateGrant(id: string, expected: GrantExpectation, patch: GrantPatch, audit: AuditWrite): Promise<boolean> {
    const ended = 'endedAt' in patch;
    return this.transact(audit, {
      Update: {
        TableName: this.table,
        Key: { [KEY.partition]: s(GRANT), [KEY.sort]: s(id) },
        UpdateExpression: ended
          ? 'SET #ended_at = :ended_at, #ended_by = :ended_by, #end_reason = :end_reason'
          : 'SET #expires_at = :next',
        ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#ended_at) AND #expires_at = :expected',
        ExpressionAttributeNames: {
          '#pk': KEY.partition,
          '#ended_at': 'ended_at',
          '#expires_at': 'expires_at',
          ...(ended ? { '#ended_by': 'ended_by', '#end_reason': 'end_reason' } : {}),
        },
        ExpressionAttributeValues: {
          ':expected': s(expected.expiresAt),
          ...(ended
            ? { ':ended_at': s(patch.endedAt), ':ended_by': s(patch.endedBy), ':end_reason': s(patch.endReason) }
            : { ':next': s(patch.expiresAt) }),
        },
      },
    });
  }

  close(): Promise<void> {
    if (this.options.ownsClient) this.client.destroy();
    return Promise.resolve();
  }

  /**
   * Write `data` (if any) with its audit item and the next policy_version, all or nothing. False when the data's
   * own condition failed (the caller reads again); a counter that moved meanwhile is read again here.
   */
  private async transact(audit: AuditWrite, data?: TransactWriteItem): Promise<boolean> {
    await this.ensureTable();
    return retryOnConflict(`policy_version of ${this.location}`, async () => {
      const current = await this.policyVersion();
      const next = current + 1;
      const items: TransactWriteItem[] = [
        ...(data ? [data] : []),
        {
          Update: {
            TableName: this.table,
            Key: META,
            UpdateExpression: 'SET #n = :next',
            ConditionExpression: current === 0 ? 'attribute_not_exists(#n) OR #n = :current' : '#n = :current',
            ExpressionAttributeNames: { '#n': 'n' },
            ExpressionAttributeValues: { ':next': n(next), ':current': n(current) },
          },
        },
        {
          Put: {
            TableName: this.table,
            Item: auditItem(audit, next),
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': KEY.partition },
          },
        },
      ];
      try {
        await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
        return { applied: true };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw unavailable(this.table, error);
        const [own] = error.CancellationReasons ?? [];
        if (data && own?.Code === 'ConditionalCheckFailed') return { applied: false };
        // The counter or the audit key moved (another writer), or a transaction conflict: read again.
        return undefined;
      }
    }).then((outcome) => outcome.applied);
  }

  private ensureTable(): Promise<void> {
    this.ready ??= ensureAclTable(this.client, this.table).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async getItem(key: Item): Promise<Item | undefined> {
    await this.ensureTable();
    try {
      const got = await this.client.send(new GetItemCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
      return got.Item;
    } catch (error) {
      throw unavailable(this.table, error);
    }
  }

  /** Every item of a partition (up to `limit` after the filter), following pages. */
  private query(
    partition: string,
    extra: Partial<QueryCommandInput> = {},
    values: Item = {},
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Item[]> {
    return this.pages(
      (start) =>
        this.client.send(
          new QueryCommand({
            TableName: this.table,
            ConsistentRead: true,
            KeyConditionExpression: '#pk = :pk',
            ...extra,
            ExpressionAttributeNames: { '#pk': KEY.partition, ...extra.ExpressionAttributeNames },
            ExpressionAttributeValues: { ':pk': s(partition), ...values },
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      limit,
    );
  }

  private scan(input: Partial<ScanCommandInput>): Promise<Item[]> {
    return this.pages((start) =>
      this.client.send(
        new ScanCommand({
          TableName: this.table,
          ConsistentRead: true,
          ...input,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      ),
    );
  }

  /** The items of `read`'s pages, following LastEvaluatedKey until there is none or `limit` items are in. */
  private async pages(
    read: (start: Item | undefined) => Promise<{ Items?: Item[]; LastEvaluatedKey?: Item }>,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Item[]> {
    await this.ensureTable();
    const out: Item[] = [];
    let start: Item | undefined;
    try {
      do {
        const page = await read(start);
        out.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start && out.length < limit);
    } catch (error) {
      throw unavailable(this.table, error);
    }
    return out;
  }
}
