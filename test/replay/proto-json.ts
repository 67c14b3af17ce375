/**
 * History ⇄ proto3 JSON (the format of `temporal workflow show --output json`), as @temporalio/common's
 * historyToJSON/historyFromJSON do, with protobufjs's JSON extension taken from @temporalio/proto's own copy.
 * In this dependency tree protobufjs 8 is installed twice, under @temporalio/common and under @temporalio/proto
 * (the root holds the 7.x others need), and the SDK's functions fail with `type must be a Type`: the History type
 * comes from one copy and the converter checks `instanceof` against the other.
 */
import { createRequire } from 'node:module';
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
interface ProtoType {
  fromObject(value: unknown): unknown;
}
interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

const require = createRequire(import.meta.url);
const fromProto = createRequire(require.resolve('@temporalio/proto'));
const protojson = fromProto('protobufjs/ext/protojson') as ProtoJson;
const proto = fromProto('@temporalio/proto') as { temporal: { api: { history: { v1: { History: ProtoType } } } } };
const { patchProtobufRoot } = fromProto('@temporalio/proto/lib/patch-protobuf-root') as {
  patchProtobufRoot: (root: unknown) => { lookupType(name: string): unknown };
};
const historyType = patchProtobufRoot(proto).lookupType('temporal.api.history.v1.History');

export function historyToJson(history: History): unknown {
  return protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history));
}

export function historyFromJson(json: unknown): History {
  const history = protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as History | null;
  if (!history) throw new TypeError('not a history');
  return history;
}
