// Buffers over part of an ArrayBuffer, built the way Node builds its own
// (`FastBuffer` in node/lib/internal/buffer.js: a Uint8Array subclass whose
// prototype chain runs through Buffer.prototype and whose `constructor` is
// Buffer), so `Buffer.isBuffer` is true and every Buffer method works.
// Arena and Pool both hand them out. The class has no fields of its own: its
// instances keep the map of the class itself, which lives as long as the
// module, so optimized code that checks for it survives garbage collection.

/** Makes instances of a Uint8Array subclass with this prototype Buffers (as FastBuffer is). */
export function likeBuffer(prototype: object): void {
  Object.setPrototypeOf(prototype, Buffer.prototype);
  Object.defineProperty(prototype, 'constructor', { value: Buffer, writable: true, enumerable: false, configurable: true });
}

class ViewBuffer extends Uint8Array {
  constructor(arrayBuffer: ArrayBuffer, offset: number, length: number) {
    super(arrayBuffer, offset, length);
  }
}
likeBuffer(ViewBuffer.prototype);

/** A Buffer over [offset, offset + length) of arrayBuffer. */
export const viewBuffer = ViewBuffer as unknown as new (arrayBuffer: ArrayBuffer, offset: number, length: number) => Buffer;

// %TypedArray%.prototype's own getters read a typed array's internal slots:
// they run no code of the value's (no getter, no Proxy trap) and V8 inlines them.
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
function intrinsicGetter(key: PropertyKey): (this: unknown) => unknown {
  return Object.getOwnPropertyDescriptor(typedArrayPrototype, key)!.get as (this: unknown) => unknown;
}
const tagGetter = intrinsicGetter(Symbol.toStringTag) as (this: unknown) => string | undefined;
const byteOffsetGetter = intrinsicGetter('byteOffset') as (this: Uint8Array) => number;
const byteLengthGetter = intrinsicGetter('byteLength') as (this: Uint8Array) => number;
const bufferGetter = intrinsicGetter('buffer') as (this: Uint8Array) => ArrayBufferLike;

/** Whether value is a Uint8Array (a Buffer included), read from its internal slots. */
export function isUint8Array(value: unknown): value is Uint8Array {
  return tagGetter.call(value) === 'Uint8Array';
}

/** byteOffset of a Uint8Array, from its internal slots (0 once detached). */
export function byteOffsetOf(view: Uint8Array): number {
  return byteOffsetGetter.call(view);
}

/** byteLength of a Uint8Array, from its internal slots (0 once detached). */
export function byteLengthOf(view: Uint8Array): number {
  return byteLengthGetter.call(view);
}

/** The ArrayBuffer of a Uint8Array, from its internal slots. */
export function arrayBufferOf(view: Uint8Array): ArrayBufferLike {
  return bufferGetter.call(view);
}
