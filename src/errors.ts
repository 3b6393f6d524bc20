// The one catalogue of Kaizen's typed errors. Activities turn non-retryable ones into
// non-retryable Temporal ApplicationFailures of the same type; the HTTP server maps them to
// status codes; the README lists them.

export interface ErrorDefinition {
  /** HTTP status when the error reaches a client of the model server. */
  status: number;
  /** Whether retrying the same call can ever succeed. */
  retryable: boolean;
  description: string;
}

export const ERROR_CATALOGUE = {
  SpecInvalid: { status: 400, retryable: false, description: 'The pipeline spec is not valid JSON or a field is wrong.' },
  DataSourceNotFound: { status: 400, retryable: false, description: 'The data source file or object does not exist.' },
  DataFormatUnreadable: { status: 400, retryable: false, description: 'The data source cannot be read in its format.' },
  DataEmpty: { status: 400, retryable: false, description: 'No rows are left after `where` (or the file is empty).' },
  ColumnNotFound: { status: 400, retryable: false, description: 'A column named in the spec does not exist in the data.' },
  TargetInvalid: { status: 400, retryable: false, description: 'The target column is missing, constant or unusable for the task.' },
  SqlError: { status: 400, retryable: false, description: 'A `where` or `derive` SQL expression failed.' },
  DataValidationFailed: { status: 422, retryable: false, description: 'The data validation gate found errors.' },
  PiiDetected: { status: 422, retryable: false, description: 'A column holds personal data and `data.pii` is "reject".' },
  TrainingFailed: { status: 500, retryable: false, description: 'Training diverged or the model could not be built.' },
  ModelNotFound: { status: 404, retryable: false, description: 'No such model, version or alias in the registry.' },
  ArtifactIntegrity: { status: 500, retryable: false, description: 'A stored artifact does not match its recorded sha256.' },
  ProductionChanged: { status: 409, retryable: false, description: 'Production moved under a release action (a rollback or another release); the action changed nothing.' },
  RegistryConflict: { status: 409, retryable: true, description: 'The registry changed during a write; retried.' },
  UnsafePath: { status: 400, retryable: false, description: 'A name taken from input or stored data (a manifest file, a model name, an id) would leave its directory.' },
  ConfigInvalid: { status: 500, retryable: false, description: 'A setting is refused: a server off loopback without a strong admin token, or a number that is not one (the variable is named).' },
  InvalidInput: { status: 400, retryable: false, description: 'A prediction request is malformed (the message names the field).' },
  PayloadTooLarge: { status: 413, retryable: false, description: 'Too many instances or too large a body.' },
  Unauthorized: { status: 401, retryable: false, description: 'The admin token is missing or wrong.' },
  NotReady: { status: 503, retryable: true, description: 'The server has no model loaded yet.' },
  StorageUnavailable: { status: 503, retryable: true, description: 'The object store cannot be reached; retried.' },
  StackNotRunning: { status: 503, retryable: true, description: 'Temporal or MinIO is not reachable; run `kaizen dev up`.' },
  ProvisionFailed: { status: 500, retryable: false, description: 'The Temporal CLI or MinIO binary could not be built or found.' },
  WorkflowNotFound: { status: 404, retryable: false, description: 'No workflow with that id.' },
  RouteNotFound: { status: 404, retryable: false, description: 'The model server has no such endpoint.' },
  UnsupportedMediaType: { status: 415, retryable: false, description: 'A request body that is not JSON.' },
  InjectedFault: { status: 500, retryable: true, description: 'A failure injected on purpose through the admin fault API (servers started with KAIZEN_FAULT_INJECTION=1).' },
  InternalError: { status: 500, retryable: false, description: 'An unexpected server error (a bug: see the server log).' },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorType = keyof typeof ERROR_CATALOGUE;

export class KaizenError extends Error {
  readonly type: ErrorType;
  readonly details: Record<string, unknown> | undefined;

  constructor(type: ErrorType, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = type;
    this.type = type;
    this.details = details;
  }

  get retryable(): boolean {
    return ERROR_CATALOGUE[this.type].retryable;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.type].status;
  }
}

export function isKaizenError(err: unknown): err is KaizenError {
  return err instanceof KaizenError;
}

/** Error types that a workflow must not retry; used for RetryPolicy.nonRetryableErrorTypes. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = Object.entries(ERROR_CATALOGUE)
  .filter(([, d]) => !d.retryable)
  .map(([t]) => t);

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
