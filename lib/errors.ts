import { types } from 'util';

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

const MAX_QUOTED = 40;

// The value of an own data property, read without running a getter or a trap; undefined otherwise.
function ownData(object: object, key: PropertyKey): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  return descriptor !== undefined && 'value' in descriptor ? descriptor.value : undefined;
}

// The name of the class an object was made by, read from the data properties
// of its prototype chain only: no getter, no Proxy trap, nothing that can throw.
function className(value: object): string | undefined {
  let prototype: object | null = Object.getPrototypeOf(value);
  for (let depth = 0; prototype !== null && depth < 32; depth++) {
    if (types.isProxy(prototype)) return undefined;
    const constructor = ownData(prototype, 'constructor');
    if (typeof constructor === 'function') {
      const name = ownData(constructor, 'name');
      return typeof name === 'string' && name !== '' ? name : undefined;
    }
    prototype = Object.getPrototypeOf(prototype);
  }
  return undefined;
}

function article(name: string): string {
  return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
}

/**
 * Renders a bad argument for an error message: its value and, where that is
 * ambiguous, its type. Runs no code of the value's (getters, Proxy traps,
 * toString) and never throws.
 */
export function describe(value: unknown): string {
  try {
    switch (typeof value) {
      case 'string': {
        const quoted = JSON.stringify(value.length > MAX_QUOTED ? value.slice(0, MAX_QUOTED) : value);
        return `${value.length > MAX_QUOTED ? `${quoted.slice(0, -1)}..."` : quoted} (a string)`;
      }
      case 'bigint':
        return `${value}n`;
      case 'number':
      case 'boolean':
      case 'undefined':
        return String(value);
      case 'symbol':
        return 'a symbol';
      case 'function':
        return types.isProxy(value) ? 'a Proxy' : 'a function';
    }
    if (value === null) return 'null';
    if (types.isProxy(value)) return 'a Proxy';
    if (Array.isArray(value)) return 'an array';
    const name = className(value as object);
    if (name === undefined) return Object.getPrototypeOf(value) === null ? 'an object without a prototype' : 'an object';
    return article(name);
  } catch {
    return 'a value that cannot be described';
  }
}

export function invalidParam(name: string, requirement: string, value: unknown): AllocError {
  return new AllocError('ERR_INVALID_PARAM', `${name} must be ${requirement}; got ${describe(value)}`);
}

/**
 * The error for what needs memory of sysalloc's own (page-level options,
 * sharing) on a runtime that refuses external buffers, where every block is
 * memory the runtime allocates (README "Runtimes without external buffers").
 */
export function externalRefused(
  what: string,
  why = 'which sysalloc cannot guard, lock, wipe, keep out of core dumps, back with huge pages, protect or share',
): AllocError {
  return new AllocError(
    'ERR_INVALID_PARAM',
    `${what}: this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), ` +
      `so blocks are memory it allocates (block.source 'runtime'), ${why}`,
  );
}

/** The error for a method called on something that is not an instance of its class. */
export function invalidThis(method: string, value: unknown): AllocError {
  return new AllocError('ERR_INVALID_PARAM', `${method} must be called on ${article(method.split(/[.[]/)[0])}; got ${describe(value)}`);
}

/**
 * Reads an options argument: undefined, or a plain object (made by `{}` or
 * Object.create(null), not an array, a function, a class instance or a Proxy).
 * Each listed key is read exactly once, so a getter runs once.
 */
export function readOptions<K extends string>(
  name: string,
  options: unknown,
  keys: readonly K[],
  required: boolean,
): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = {};
  if (options === undefined && !required) return out;
  if (!isPlainObject(options)) throw invalidParam(name, 'a plain object', options);
  for (const key of keys) out[key] = (options as Record<string, unknown>)[key];
  return out;
}

/** Whether value is a plain object (readOptions' test). Runs no code of the value's. */
export function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || types.isProxy(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  if (prototype === null || prototype === Object.prototype) return true;
  // Object.prototype of any realm: the end of the chain, made by a function named Object.
  if (Object.getPrototypeOf(prototype) !== null) return false;
  const constructor = ownData(prototype, 'constructor');
  return typeof constructor === 'function' && ownData(constructor, 'name') === 'Object';
}
