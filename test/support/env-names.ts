/** Environment variables through which the test command hands its shared stack to the test files. */
export const TEST_ENV = {
  postgresUrl: 'PGCDC_TEST_PG_URL',
  temporalAddress: 'PGCDC_TEST_TEMPORAL_ADDRESS',
  temporalNamespace: 'PGCDC_TEST_TEMPORAL_NAMESPACE',
  motoEndpoint: 'PGCDC_TEST_MOTO_ENDPOINT',
  stateDir: 'PGCDC_TEST_STATE_DIR',
  /** Set by whoever runs the tests: the seed of randomized schedules, to replay a failing one. */
  seed: 'PGCDC_TEST_SEED',
  /** Set by whoever runs the tests: how many test files run at once (default: one per core). */
  concurrency: 'PGCDC_TEST_CONCURRENCY',
} as const;
