/** Every failure sysalloc detects is an AllocError with one of these codes. */
export type AllocErrorCode = 'ERR_INVALID_PARAM' | 'ERR_NO_MEMORY' | 'ERR_NOT_ALLOCATED' | 'ERR_MEMORY_OVERLAP';

export class AllocError extends Error {
  readonly code: AllocErrorCode;

  constructor(code: AllocErrorCode, message: string) {
    super(message);
    this.name = 'AllocError';
    this.code = code;
  }
}

/** Renders a bad argument for an error message: its value and, where that is ambiguous, its type. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (a string)`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) {
    return String(value);
  }
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  const name = (value as object).constructor?.name;
  if (!name) return 'an object';
  return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
}

export function invalidParam(name: string, requirement: string, value: unknown): AllocError {
  return new AllocError('ERR_INVALID_PARAM', `${name} must be ${requirement}; got ${describe(value)}`);
}
