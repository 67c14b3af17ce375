import { PgCdcError } from '../../core/errors/index.js';

/**
 * The one answer for a table that does not exist and for a table the caller may not see: the two must be
 * indistinguishable, or the error would disclose what governance hides.
 */
export function tableNotFound(table: string): PgCdcError {
  return new PgCdcError('TABLE_NOT_FOUND', `table ${JSON.stringify(table)} is not in the lake`, {
    context: { table },
    hint: 'list_tables (GET /v1/tables) shows the tables you can read',
  });
}
