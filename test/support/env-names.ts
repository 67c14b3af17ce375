/** Environment variables through which the test command hands its shared stack to the test files. */
export const TEST_ENV = {
  postgresUrl: 'PGCDC_TEST_PG_URL',
  temporalAddress: 'PGCDC_TEST_TEMPORAL_ADDRESS',
  temporalNamespace: 'PGCDC_TEST_TEMPORAL_NAMESPACE',
  motoEndpoint: 'PGCDC_TEST_MOTO_ENDPOINT',
  stateDir: 'PGCDC_TEST_STATE_DIR',
} as const;
