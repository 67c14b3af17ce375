/** The part of parquetjs-lite (which ships no types) that bench/parquet.ts uses. */
declare module 'parquetjs-lite' {
  namespace parquet {
    interface FieldDefinition {
      readonly type: string;
      readonly optional?: boolean;
      readonly compression?: 'UNCOMPRESSED' | 'GZIP' | 'SNAPPY';
    }
    class ParquetSchema {
      constructor(fields: Record<string, FieldDefinition>);
    }
    class ParquetWriter {
      static openFile(schema: ParquetSchema, path: string, options?: { rowGroupSize?: number }): Promise<ParquetWriter>;
      appendRow(row: object): Promise<void>;
      close(): Promise<void>;
    }
  }
  export default parquet;
}
