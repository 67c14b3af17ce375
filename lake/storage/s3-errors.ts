import type { S3Client } from '@aws-sdk/client-s3';
import { s3RequestErrors } from '../../core/metrics/index.js';

/** The operation label of an S3 command, as `pgcdc_storage_requests_total` names operations. */
const OPERATIONS: Readonly<Record<string, string>> = {
  PutObjectCommand: 'put',
  GetObjectCommand: 'get',
  HeadObjectCommand: 'head',
  ListObjectsV2Command: 'list',
  DeleteObjectCommand: 'delete',
  CreateMultipartUploadCommand: 'multipart',
  UploadPartCommand: 'multipart',
  CompleteMultipartUploadCommand: 'multipart',
  AbortMultipartUploadCommand: 'multipart',
};

/**
 * Answers that are outcomes, not errors: a missing object on a read (the store answers "none"), and a lost
 * conditional PUT (a compare-and-swap conflict, counted by `pgcdc_cas_conflicts_total`).
 */
const expected = (op: string, status: number | undefined): boolean =>
  (status === 404 && (op === 'get' || op === 'head')) || (status === 412 && op === 'put');

export const statusClass = (status: number | undefined): string =>
  status === undefined ? 'network' : status >= 500 ? '5xx' : status >= 400 ? '4xx' : 'other';

const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;

/**
 * Counts every failed attempt of `client`'s requests by operation and status class. The middleware sits below the
 * SDK's retry loop (the deserialize step), so a 503 that a retry then cured counts too: the S3 runbook reads
 * throttling and 5xx storms here before they exhaust the retries and fail a write.
 */
export function countS3Errors(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const op = OPERATIONS[context.commandName ?? ''] ?? 'other';
        const status = statusOf(error);
        if (!expected(op, status)) s3RequestErrors.inc({ op, status_class: statusClass(status) });
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'pgcdcCountErrors', override: true },
  );
}
