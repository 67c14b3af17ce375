import { Tuple, type PgoutputMessage } from '../../source/replication/messages.js';

/** The message with each tuple as its array of values, for deepEqual against a literal. */
export function withTupleValues(message: PgoutputMessage): unknown {
  if (message.tag !== 'insert' && message.tag !== 'update' && message.tag !== 'delete') return message;
  return Object.fromEntries(
    Object.entries(message).map(([key, value]) => [key, value instanceof Tuple ? value.values() : value]),
  );
}
