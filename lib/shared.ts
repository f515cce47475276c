// Handles that name a shared region across threads, and opening one in this thread.
import { types } from 'util';
import { AllocError, describe, externalRefused } from './errors';
import { native } from './native';
import { viewBuffer } from './view-buffer';

/**
 * Whether this runtime makes SharedArrayBuffers over sysalloc's memory
 * (Node-API's experimental node_api_create_external_sharedarraybuffer: Node
 * 22.23.5+, 24.22.3+, 26.12.1+). Where it does, shared blocks and shared pools
 * hand out views of a SharedArrayBuffer (Atomics.wait works on them); elsewhere
 * (Node 20, Bun, Deno) each thread gets an external Buffer of its own.
 */
export const sharedArrayBuffers: boolean = native.externalSharedArrayBuffer;

export type SharedKind = 'sysalloc.SharedBlock' | 'sysalloc.SharedPool';

/**
 * What `share()` returns: a plain object to post to another thread
 * (`postMessage`, `workerData`). It names memory, it does not hold it: open it
 * while a holder is still alive (ERR_NOT_ALLOCATED afterwards).
 */
export interface SharedHandle<K extends SharedKind = SharedKind> {
  readonly type: K;
  /** The region's number in this process (never reused). */
  readonly id: number;
  /** A random 64-bit key: with id, the only way to the region. */
  readonly key: bigint;
}
export type SharedBlockHandle = SharedHandle<'sysalloc.SharedBlock'>;
export type SharedPoolHandle = SharedHandle<'sysalloc.SharedPool'>;

export function makeHandle<K extends SharedKind>(type: K, id: number, key: bigint): SharedHandle<K> {
  return Object.freeze({ type, id, key });
}

// The own data property of value named key, read without running a getter or a trap.
function own(value: object, key: string): unknown {
  const d = Object.getOwnPropertyDescriptor(value, key);
  return d !== undefined && 'value' in d ? d.value : undefined;
}

/** id and key of a handle of that kind; anything else is ERR_NOT_ALLOCATED. */
export function readHandle(type: SharedKind, handle: unknown, where: string): { id: number; key: bigint } {
  if (typeof handle === 'object' && handle !== null && !types.isProxy(handle)) {
    const id = own(handle, 'id');
    const key = own(handle, 'key');
    if (own(handle, 'type') === type && typeof id === 'number' && typeof key === 'bigint') return { id, key };
  }
  throw new AllocError('ERR_NOT_ALLOCATED', `${where}: handle must be a handle from share() of a live shared ${type === 'sysalloc.SharedBlock' ? 'block' : 'pool'} of this process; got ${describe(handle)}`);
}

export interface Opened {
  /** The whole region (or the part asked for): a Buffer over a SharedArrayBuffer, or an external Buffer. */
  buffer: Buffer;
  /** 0 for a SharedArrayBuffer view; else the number sharedFree needs. */
  holder: number;
  id: number;
  key: bigint;
  size: number;
  align: number;
}

type RawOpened = [SharedArrayBuffer | Buffer, number, number, bigint, number, number];

function finish(raw: RawOpened | number, what: string): Opened {
  if (typeof raw === 'number') {
    if (raw === native.status.notAllocated) {
      throw new AllocError('ERR_NOT_ALLOCATED', `${what}: the handle names no live shared memory of this process (released, or never made here)`);
    }
    if (raw === native.status.invalidParam) throw new AllocError('ERR_INVALID_PARAM', `${what}: refused by the native guard`);
    if (raw === native.status.externalRefused) throw externalRefused(what);
    throw new AllocError('ERR_NO_MEMORY', `${what}: no memory, or the runtime could not make a view over it`);
  }
  const [view, holder, id, key, size, align] = raw;
  const buffer = holder === 0 ? new viewBuffer(view as unknown as ArrayBuffer, 0, (view as SharedArrayBuffer).byteLength) : (view as Buffer);
  return { buffer, holder, id, key, size, align };
}

/** New shared memory with one reference, held by the returned view. */
export function createShared(size: number, align: number, zero: boolean, what: string): Opened {
  return finish(native.sharedCreate(size, align, zero, sharedArrayBuffers, native.sharedKind.pool) as RawOpened | number, what);
}

/** One more reference to (id, key), held by the returned view; offset/length 0/0: the whole region. */
export function openShared(type: SharedKind, id: number, key: bigint, what: string, offset = 0, length = 0, whole = offset === 0 && length === 0): Opened {
  const kind = type === 'sysalloc.SharedBlock' ? native.sharedKind.block : native.sharedKind.pool;
  return finish(native.sharedOpen(id, key, whole && sharedArrayBuffers, offset, length, kind) as RawOpened | number, what);
}

/**
 * Ends this thread's view. An external Buffer is detached and its reference
 * dropped; a SharedArrayBuffer cannot be detached: its reference goes when the
 * last SharedArrayBuffer object over it is collected. A status.
 */
export function closeShared(opened: Pick<Opened, 'buffer' | 'holder'>): number {
  return opened.holder === 0 ? native.status.ok : native.sharedFree(opened.buffer, opened.holder);
}
