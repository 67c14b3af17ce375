import { join } from 'node:path';

/** Where `pg-cdc start` reports its figures every second, and where `pg-cdc status` reads them. */
export const streamStatusFile = (stateDir: string): string => join(stateDir, 'stream-status.json');
