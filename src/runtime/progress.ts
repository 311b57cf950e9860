/** Progress of a long operation, as the API streams it and the CLI draws it. */
export interface Progress {
  step: string;
  message?: string;
  /** Bytes done and expected, where the step moves bytes. */
  done?: number;
  total?: number;
}

export type ProgressFn = (p: Progress) => void;

export interface LongOperation {
  signal?: AbortSignal;
  onProgress?: ProgressFn;
}
