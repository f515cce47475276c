// A Buffer over part of an ArrayBuffer that carries the number of the
// allocation it belongs to, for the allocators that free single allocations of
// any size (Heap, PageAllocator). The number is an ordinary own property under
// a module symbol, read with a plain property load: the allocator checks it
// against its own table (`live[id] === buf`), so a copied or forged number
// never frees anything, and subarray() builds a plain Buffer that has none.
// (A `#private in obj` brand check instead makes V8 drop optimized code at
// every full GC, since the checked objects are short-lived.)
import { likeBuffer } from './view-buffer';

/** The key of the allocation number on a Buffer a Heap or PageAllocator handed out. */
export const ALLOCATION: unique symbol = Symbol('sysalloc.allocation');

class TaggedBuffer extends Uint8Array {
  constructor(arrayBuffer: ArrayBuffer, offset: number, length: number, id: number) {
    super(arrayBuffer, offset, length);
    (this as unknown as Record<symbol, number>)[ALLOCATION] = id;
  }
}
// Buffer.isBuffer is true and every Buffer method works, as for view-buffer.ts's.
likeBuffer(TaggedBuffer.prototype);

export const taggedBuffer = TaggedBuffer as unknown as new (
  arrayBuffer: ArrayBuffer,
  offset: number,
  length: number,
  id: number,
) => Buffer;

/** The allocation number a Buffer carries, or -1. Never throws. */
export function allocationOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return -1;
  const id = (value as Record<symbol, unknown>)[ALLOCATION];
  return typeof id === 'number' ? id : -1;
}

/** Tags a Buffer made elsewhere (native.viewWrap in checked mode). */
export function tag(buffer: Buffer, id: number): Buffer {
  (buffer as unknown as Record<symbol, number>)[ALLOCATION] = id;
  return buffer;
}
