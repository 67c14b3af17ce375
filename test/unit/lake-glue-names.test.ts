import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hiveType } from '../../lake/catalog/glue-columns.js';
import { glueTableName } from '../../lake/catalog/glue.js';
import { regionOfRdsHost } from '../../source/credentials.js';

describe('Glue table names', () => {
  it('joins schema and table with __ when both already fit Glue', () => {
    assert.equal(glueTableName('public.orders'), 'public__orders');
    assert.equal(glueTableName('public.orders__changes'), 'public__orders__changes');
  });

  it('appends a hash of the identifier when a name had to change, so that folded names do not meet', () => {
    const upper = glueTableName('public.Orders');
    const lower = glueTableName('public.orders');
    assert.match(upper, /^public__orders_[0-9a-f]{10}$/);
    assert.notEqual(upper, lower);
    assert.notEqual(glueTableName('a__b.c'), glueTableName('a.b__c'));
    assert.match(glueTableName('sales.order lines'), /^sales__order_lines_[0-9a-f]{10}$/);
    assert.ok(glueTableName(`public.${'x'.repeat(300)}`).length <= 255);
  });
});

describe('Hive types of Iceberg types', () => {
  it('names what Hive names differently, and nests lists and structs', () => {
    assert.equal(hiveType('long'), 'bigint');
    assert.equal(hiveType('timestamptz'), 'timestamp');
    assert.equal(hiveType('uuid'), 'string');
    assert.equal(hiveType('decimal(10, 2)'), 'decimal(10,2)');
    assert.equal(hiveType({ type: 'list', 'element-id': 4, element: 'int', 'element-required': false }), 'array<int>');
    const struct = { type: 'struct' as const, fields: [{ id: 5, name: 'at', required: false, type: 'date' as const }] };
    assert.equal(hiveType(struct), 'struct<at:date>');
  });
});

describe('the region of an RDS host name', () => {
  it('is read from instance, cluster and proxy endpoints, and from nothing else', () => {
    assert.equal(regionOfRdsHost('my-db.abc123xyz.us-west-2.rds.amazonaws.com'), 'us-west-2');
    assert.equal(regionOfRdsHost('my-cluster.cluster-ro-abc.eu-central-1.rds.amazonaws.com'), 'eu-central-1');
    assert.equal(regionOfRdsHost('db.cn-north-1.rds.amazonaws.com.cn'), 'cn-north-1');
    assert.equal(regionOfRdsHost('db.internal'), undefined);
    assert.equal(regionOfRdsHost('127.0.0.1'), undefined);
  });
});
