import type { z } from 'zod';
import { ApiError } from '../errors.js';

/**
 * Parse a request part with its zod schema; a failure is one 400 that names each offending field the way the
 * caller wrote it (`body.filters[0].op`), with what was expected.
 */
function fieldPath(where: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : `${text}.${String(key)}`),
    where,
  );
}

export function describeIssues(where: string, error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      // Unknown keys are reported on the object; naming the key itself is what helps the caller.
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `${fieldPath(where, [...issue.path, key])}: not a known field`).join('; ');
      }
      return `${fieldPath(where, issue.path)}: ${issue.message}`;
    })
    .join('; ');
}

export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ApiError('BAD_REQUEST', describeIssues(where, result.error), {
    hint: 'GET /v1/openapi.json describes every request',
  });
}
