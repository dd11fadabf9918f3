export { DataError, describeSource, type RowSource } from './errors.js';
export {
  type AtomicFile,
  containerFor,
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportOptions,
  type ExportResult,
  exportRows,
  openAtomic,
  outPathProblem,
} from './export.js';
export {
  iterateJsonlRecords,
  iterateJsonlRows,
  type JsonlRecord,
  parseJsonlRecord,
  readJsonlRows,
} from './jsonl.js';
export {
  type DataFormat,
  expandGlob,
  expandInputs,
  formatOf,
  iterateFileRows,
  iterateRows,
  type LoadOptions,
  loadRows,
} from './load.js';
export {
  decodeOpenRlhfLabel,
  type OpenRlhfLabel,
  type OpenRlhfLabelMode,
  type OpenRlhfRecord,
  toOpenRlhfRecord,
} from './openrlhf.js';
export {
  iterateParquetRecords,
  iterateParquetRows,
  openParquet,
  type ParquetFile,
  parquetFileFields,
  type RawRecord,
  type ReadOptions,
  readRows,
} from './parquet.js';
export {
  encodeParquet,
  loadParquetWriter,
  openParquetStream,
  PARQUET_WRITER_PACKAGE,
  type ParquetLayout,
  type ParquetStream,
  parquetLayout,
} from './parquet-write.js';
export {
  DATASET_FILES,
  type DatasetFile,
  DEFAULT_BASE_URL,
  defaultDataDir,
  filePath,
  fileUrl,
  GTALIGN_REPOSITORY,
  PullError,
  type PulledFile,
  type PullOptions,
  pullDatasets,
  selectDatasetFiles,
} from './pull.js';
export {
  type DatasetRow,
  flatRecordSchema,
  normalizeValue,
  parseFlatRecord,
  parseRecord,
  parseVerlRecord,
  type RecordResult,
  rowId,
  toFlatRecord,
  toVerlRecord,
  verlRecordSchema,
} from './row.js';
export {
  addRecordShapes,
  type Field,
  fieldsOf,
  mergeShapes,
  parquetFields,
  parquetNodeShape,
  type Shape,
  shapeOf,
  shapeToString,
} from './shape.js';
