// The two strategies behind Heap, over address ranges only (no Buffers): each
// hands out allocation numbers whose region, offset and size live in typed
// arrays, never in a JavaScript object per block. Sizes and offsets are bytes
// as doubles (exact below 2^53); every block starts at a multiple of GRANULE.

export const GRANULE = 16;
const SMALL_ALIGN = 2 ** 30;

/** floor(log2(x)) for an integer 1 <= x < 2^53. */
export function floorLog2(x: number): number {
  if (x < 4294967296) return 31 - Math.clz32(x);
  return 63 - Math.clz32(Math.floor(x / 4294967296));
}

/** ceil(log2(x)) for an integer 1 <= x < 2^53. */
export function ceilLog2(x: number): number {
  const f = floorLog2(x);
  return 2 ** f === x ? f : f + 1;
}

/** Index of the lowest set bit of a non-zero int32. */
function lowest(bits: number): number {
  return 31 - Math.clz32(bits & -bits);
}

/** What Heap asks of a strategy. */
export interface HeapCore {
  /** By allocation number: the region, the byte offset in the region's Block, the bytes the block takes. */
  readonly region: Int32Array;
  readonly offset: Float64Array;
  readonly size: Float64Array;
  /** Bytes in allocated blocks. */
  readonly used: number;
  /**
   * Takes [offset, offset + size) of the Block at `address` as region number
   * `region` (numbers go 0, 1, 2, ...). address + offset and size are multiples of GRANULE.
   */
  addRange(region: number, address: number, offset: number, size: number): void;
  /** An allocation of `size` bytes whose address is a multiple of `align`, or -1 when nothing fits. */
  alloc(size: number, align: number): number;
  /** Returns an allocation (a number alloc returned and not yet freed). */
  free(id: number): void;
  /** Stops using a region: its free space leaves the free lists, its allocations vanish when freed. Returns the free bytes removed. */
  retire(region: number): number;
  /** Bytes of the largest block a call to alloc could still return, for error messages (O(1)). */
  readonly largestHint: number;
}

/** Allocation numbers and their three tables, grown by doubling. */
class Records {
  region = new Int32Array(64);
  offset = new Float64Array(64);
  size = new Float64Array(64);
  #spare = new Int32Array(64);
  #spareTop = 0;
  #count = 0;

  take(): number {
    if (this.#spareTop > 0) return this.#spare[--this.#spareTop];
    if (this.#count === this.region.length) this.grow(this.#count * 2);
    return this.#count++;
  }

  give(id: number): void {
    this.#spare[this.#spareTop++] = id;
  }

  protected grow(capacity: number): void {
    this.region = copy(this.region, new Int32Array(capacity));
    this.offset = copy(this.offset, new Float64Array(capacity));
    this.size = copy(this.size, new Float64Array(capacity));
    this.#spare = copy(this.#spare, new Int32Array(capacity));
  }
}

function copy<T extends Int32Array | Float64Array | Uint8Array>(from: T, to: T): T {
  to.set(from as never);
  return to;
}

// TLSF (Masmano, Ripoll, Crespo, Real: "TLSF: a New Dynamic Memory Allocator
// for Real-Time Systems", ECRTS 2004): free blocks in lists by size class,
// first level floor(log2(size)), second level SL_COUNT linear steps within it;
// two bitmaps find the smallest non-empty class that surely fits in O(1).
const SL_LOG = 5;
const SL_COUNT = 1 << SL_LOG;
// Sizes below SMALL (in GRANULE steps) are first level 0, one class per granule.
const SMALL = SL_COUNT * GRANULE;
const FL_SHIFT = floorLog2(SMALL) - 1;
const FL_COUNT = 53 - FL_SHIFT;
const FREE = 1;
const USED = 2;

/** The class a free block of this size is listed in. */
function classOf(size: number): number {
  if (size < SMALL) return size >>> 4;
  if (size < 2147483648) {
    const f = 31 - Math.clz32(size);
    return (f - FL_SHIFT) * SL_COUNT + (size >>> (f - SL_LOG)) - SL_COUNT;
  }
  const f = floorLog2(size);
  const sl = Math.floor(size / 2 ** (f - SL_LOG)) - SL_COUNT;
  return (f - FL_SHIFT) * SL_COUNT + sl;
}

/** The smallest class whose every block holds `size` bytes. */
function classFor(size: number): number {
  if (size < SMALL) return size >>> 4;
  if (size < 1073741824) return classOf(size + (1 << (31 - Math.clz32(size) - SL_LOG)) - 1);
  return classOf(size + 2 ** (floorLog2(size) - SL_LOG) - 1);
}

class TlsfRecords extends Records {
  // Physical neighbours in the region, free-list links, and FREE or USED.
  prev = new Int32Array(64);
  next = new Int32Array(64);
  freePrev = new Int32Array(64);
  freeNext = new Int32Array(64);
  state = new Uint8Array(64);

  protected override grow(capacity: number): void {
    super.grow(capacity);
    this.prev = copy(this.prev, new Int32Array(capacity));
    this.next = copy(this.next, new Int32Array(capacity));
    this.freePrev = copy(this.freePrev, new Int32Array(capacity));
    this.freeNext = copy(this.freeNext, new Int32Array(capacity));
    this.state = copy(this.state, new Uint8Array(capacity));
  }
}

export class Tlsf implements HeapCore {
  #r = new TlsfRecords();
  #heads = new Int32Array(FL_COUNT * SL_COUNT).fill(-1);
  #slMap = new Int32Array(FL_COUNT);
  // First-level bitmap: classes 0..31 and 32..FL_COUNT-1.
  #flLo = 0;
  #flHi = 0;
  // Per region: the Block's address mod 2^30 and in full, its first block, whether retired.
  #low: number[] = [];
  #address: number[] = [];
  #first: number[] = [];
  #retired: boolean[] = [];
  used = 0;

  get region(): Int32Array {
    return this.#r.region;
  }
  get offset(): Float64Array {
    return this.#r.offset;
  }
  get size(): Float64Array {
    return this.#r.size;
  }

  addRange(region: number, address: number, offset: number, size: number): void {
    const r = this.#r;
    const id = r.take();
    r.region[id] = region;
    r.offset[id] = offset;
    r.size[id] = size;
    r.prev[id] = -1;
    r.next[id] = -1;
    this.#low[region] = address % SMALL_ALIGN;
    this.#address[region] = address;
    this.#first[region] = id;
    this.#retired[region] = false;
    this.#insert(id);
  }

  alloc(size: number, align: number): number {
    const need = size <= 0x7ffffff0 ? (size + 15) & -16 : Math.ceil(size / GRANULE) * GRANULE;
    const search = align <= GRANULE ? need : need + align - GRANULE;
    let id = this.#find(classFor(search));
    if (id < 0) id = this.#scan(classOf(search), need, align);
    if (id < 0) return -1;
    const r = this.#r;
    this.#remove(id);
    if (align > GRANULE) {
      const gap = this.#padding(id, align);
      if (gap > 0) {
        // The gap before the aligned start becomes a free block of its own.
        const front = r.take();
        r.region[front] = r.region[id];
        r.offset[front] = r.offset[id];
        r.size[front] = gap;
        r.prev[front] = r.prev[id];
        r.next[front] = id;
        if (r.prev[id] >= 0) r.next[r.prev[id]] = front;
        else this.#first[r.region[id]] = front;
        r.prev[id] = front;
        r.offset[id] += gap;
        r.size[id] -= gap;
        this.#insert(front);
      }
    }
    const rest = r.size[id] - need;
    if (rest >= GRANULE) {
      const tail = r.take();
      r.region[tail] = r.region[id];
      r.offset[tail] = r.offset[id] + need;
      r.size[tail] = rest;
      r.prev[tail] = id;
      r.next[tail] = r.next[id];
      if (r.next[id] >= 0) r.prev[r.next[id]] = tail;
      r.next[id] = tail;
      r.size[id] = need;
      this.#insert(tail);
    }
    r.state[id] = USED;
    this.used += r.size[id];
    return id;
  }

  free(id: number): void {
    const r = this.#r;
    this.used -= r.size[id];
    const prev = r.prev[id];
    const next = r.next[id];
    if (this.#retired[r.region[id]]) {
      if (prev >= 0) r.next[prev] = next;
      else this.#first[r.region[id]] = next;
      if (next >= 0) r.prev[next] = prev;
      r.state[id] = 0;
      r.give(id);
      return;
    }
    // Immediate coalescing: no two free blocks are ever neighbours.
    if (next >= 0 && r.state[next] === FREE) {
      this.#remove(next);
      r.size[id] += r.size[next];
      const after = r.next[next];
      r.next[id] = after;
      if (after >= 0) r.prev[after] = id;
      r.state[next] = 0;
      r.give(next);
    }
    if (prev >= 0 && r.state[prev] === FREE) {
      this.#remove(prev);
      r.size[prev] += r.size[id];
      const after = r.next[id];
      r.next[prev] = after;
      if (after >= 0) r.prev[after] = prev;
      r.state[id] = 0;
      r.give(id);
      id = prev;
    }
    this.#insert(id);
  }

  retire(region: number): number {
    const r = this.#r;
    let removed = 0;
    this.#retired[region] = true;
    for (let id = this.#first[region]; id >= 0; ) {
      const next = r.next[id];
      if (r.state[id] === FREE) {
        this.#remove(id);
        removed += r.size[id];
        const prev = r.prev[id];
        if (prev >= 0) r.next[prev] = next;
        else this.#first[region] = next;
        if (next >= 0) r.prev[next] = prev;
        r.state[id] = 0;
        r.give(id);
      }
      id = next;
    }
    return removed;
  }

  get largestHint(): number {
    let fl: number;
    if (this.#flHi !== 0) fl = 63 - Math.clz32(this.#flHi);
    else if (this.#flLo !== 0) fl = 31 - Math.clz32(this.#flLo);
    else return 0;
    const sl = 31 - Math.clz32(this.#slMap[fl]);
    return this.#r.size[this.#heads[fl * SL_COUNT + sl]];
  }

  // Bytes from block id's address up to a multiple of align.
  #padding(id: number, align: number): number {
    const r = this.#r;
    const region = r.region[id];
    if (align <= SMALL_ALIGN) return -(this.#low[region] + r.offset[id]) & (align - 1);
    const address = this.#address[region] + r.offset[id];
    return (align - (address % align)) % align;
  }

  // The head of the smallest non-empty class >= cls, or -1.
  #find(cls: number): number {
    let fl = cls >> SL_LOG;
    if (fl >= FL_COUNT) return -1;
    let bits = this.#slMap[fl] & (-1 << (cls & (SL_COUNT - 1)));
    if (bits === 0) {
      fl = this.#nextFirst(fl + 1);
      if (fl < 0) return -1;
      bits = this.#slMap[fl];
    }
    return this.#heads[fl * SL_COUNT + lowest(bits)];
  }

  // The smallest first level >= from with a free block, or -1.
  #nextFirst(from: number): number {
    if (from < 32) {
      const lo = this.#flLo & (-1 << from);
      if (lo !== 0) return lowest(lo);
      from = 32;
    }
    const hi = this.#flHi & (-1 << (from - 32));
    return hi !== 0 ? 32 + lowest(hi) : -1;
  }

  // Good fit failed: the one class below it may still hold a block that fits.
  // Only reached when the heap is about to report no memory.
  #scan(cls: number, need: number, align: number): number {
    if (cls >= FL_COUNT * SL_COUNT) return -1;
    const r = this.#r;
    for (let id = this.#heads[cls]; id >= 0; id = r.freeNext[id]) {
      const gap = align > GRANULE ? this.#padding(id, align) : 0;
      if (r.size[id] >= gap + need) return id;
    }
    return -1;
  }

  #insert(id: number): void {
    const r = this.#r;
    const cls = classOf(r.size[id]);
    const head = this.#heads[cls];
    r.state[id] = FREE;
    r.freePrev[id] = -1;
    r.freeNext[id] = head;
    if (head >= 0) r.freePrev[head] = id;
    this.#heads[cls] = id;
    const fl = cls >> SL_LOG;
    this.#slMap[fl] |= 1 << (cls & (SL_COUNT - 1));
    if (fl < 32) this.#flLo |= 1 << fl;
    else this.#flHi |= 1 << (fl - 32);
  }

  #remove(id: number): void {
    const r = this.#r;
    const prev = r.freePrev[id];
    const next = r.freeNext[id];
    if (next >= 0) r.freePrev[next] = prev;
    if (prev >= 0) {
      r.freeNext[prev] = next;
      return;
    }
    const cls = classOf(r.size[id]);
    this.#heads[cls] = next;
    if (next >= 0) return;
    const fl = cls >> SL_LOG;
    const sl = (this.#slMap[fl] &= ~(1 << (cls & (SL_COUNT - 1))));
    if (sl !== 0) return;
    if (fl < 32) this.#flLo &= ~(1 << fl);
    else this.#flHi &= ~(1 << (fl - 32));
  }
}

// Binary buddy: blocks of 2^k bytes at addresses that are multiples of 2^k.
// A region is cut into the largest such blocks that fit; a free block's buddy
// is at address XOR 2^k. Per region and order a bitmap says which blocks are
// free; per order a stack lists free blocks, and entries a merge made stale are
// dropped when met (the bitmap is the truth), so no per-block link is needed.
const MIN_ORDER = 4;
const MAX_ORDER = 52;
/** The largest region a buddy heap takes (its bitmaps are indexed with 32-bit arithmetic). */
export const MAX_BUDDY_REGION = 2 ** 35;
const POW2 = Float64Array.from({ length: MAX_ORDER + 2 }, (_, k) => 2 ** k);

class Stack {
  address = new Float64Array(16);
  region = new Int32Array(16);
  top = 0;

  push(region: number, address: number): void {
    if (this.top === this.address.length) {
      this.address = copy(this.address, new Float64Array(this.top * 2));
      this.region = copy(this.region, new Int32Array(this.top * 2));
    }
    this.address[this.top] = address;
    this.region[this.top++] = region;
  }
}

export class Buddy implements HeapCore {
  #r = new Records();
  // Per region: usable [start, end) by address, the Block's address, a bitmap per order.
  #start: number[] = [];
  #end: number[] = [];
  #base: number[] = [];
  #maps: Int32Array[][] = [];
  // Per region and order: floor(start / 2^k), the index of bit 0.
  #origin: Float64Array[] = [];
  #retired: boolean[] = [];
  #stacks: Stack[] = Array.from({ length: MAX_ORDER + 1 }, () => new Stack());
  #free = new Float64Array(MAX_ORDER + 1);
  used = 0;

  get region(): Int32Array {
    return this.#r.region;
  }
  get offset(): Float64Array {
    return this.#r.offset;
  }
  get size(): Float64Array {
    return this.#r.size;
  }

  addRange(region: number, address: number, offset: number, size: number): void {
    const start = address + offset;
    const end = start + size;
    const maps: Int32Array[] = [];
    const origin = new Float64Array(MAX_ORDER + 1);
    for (let k = MIN_ORDER; k <= MAX_ORDER && 2 ** k <= size; k++) {
      origin[k] = Math.floor(start / 2 ** k);
      const bits = Math.floor((end - 1) / 2 ** k) - origin[k] + 1;
      maps[k] = new Int32Array(Math.ceil(bits / 32));
    }
    this.#origin[region] = origin;
    this.#start[region] = start;
    this.#end[region] = end;
    this.#base[region] = address;
    this.#maps[region] = maps;
    this.#retired[region] = false;
    for (let at = start; at < end; ) {
      let k = Math.min(MAX_ORDER, floorLog2(end - at));
      while (at % 2 ** k !== 0) k--;
      this.#release(region, k, at);
      at += 2 ** k;
    }
  }

  alloc(size: number, align: number): number {
    const want = Math.max(MIN_ORDER, size <= 2 ** 31 ? 32 - Math.clz32(size - 1) : ceilLog2(size), floorLog2(align));
    let k = want;
    while (k <= MAX_ORDER && this.#free[k] === 0) k++;
    if (k > MAX_ORDER) return -1;
    const stack = this.#stacks[k];
    let region: number;
    let at: number;
    for (;;) {
      region = stack.region[--stack.top];
      at = stack.address[stack.top];
      if (this.#test(region, k, at)) break;
    }
    this.#flip(region, k, at);
    this.#free[k]--;
    while (k > want) {
      k--;
      this.#release(region, k, at + POW2[k]);
    }
    const r = this.#r;
    const id = r.take();
    r.region[id] = region;
    r.offset[id] = at - this.#base[region];
    r.size[id] = POW2[want];
    this.used += POW2[want];
    return id;
  }

  free(id: number): void {
    const r = this.#r;
    const region = r.region[id];
    let size = r.size[id];
    let at = this.#base[region] + r.offset[id];
    this.used -= size;
    r.give(id);
    if (this.#retired[region]) return;
    const start = this.#start[region];
    const end = this.#end[region];
    let k = floorLog2(size);
    for (; k < MAX_ORDER; k++, size *= 2) {
      const buddy = (at / size) % 2 === 0 ? at + size : at - size;
      if (buddy < start || buddy + size > end || !this.#test(region, k, buddy)) break;
      this.#flip(region, k, buddy);
      this.#free[k]--;
      if (buddy < at) at = buddy;
    }
    this.#release(region, k, at);
  }

  retire(region: number): number {
    this.#retired[region] = true;
    let removed = 0;
    const maps = this.#maps[region];
    for (let k = MIN_ORDER; k < maps.length; k++) {
      const words = maps[k];
      if (words === undefined) continue;
      let count = 0;
      for (let w = 0; w < words.length; w++) {
        for (let bits = words[w]; bits !== 0; bits &= bits - 1) count++;
      }
      words.fill(0);
      this.#free[k] -= count;
      removed += count * 2 ** k;
    }
    return removed;
  }

  get largestHint(): number {
    for (let k = MAX_ORDER; k >= MIN_ORDER; k--) if (this.#free[k] > 0) return 2 ** k;
    return 0;
  }

  // Marks a block free and lists it; the stack is compacted when stale entries
  // outnumber live ones, so it stays within twice the free blocks.
  #release(region: number, k: number, at: number): void {
    this.#flip(region, k, at);
    this.#free[k]++;
    const stack = this.#stacks[k];
    stack.push(region, at);
    if (stack.top > 2 * this.#free[k] + 64) this.#compact(k);
  }

  #compact(k: number): void {
    const stack = this.#stacks[k];
    let kept = 0;
    // A block may be listed twice; keep the first entry and clear its bit meanwhile.
    for (let i = 0; i < stack.top; i++) {
      const region = stack.region[i];
      const at = stack.address[i];
      if (!this.#test(region, k, at)) continue;
      this.#flip(region, k, at);
      stack.region[kept] = region;
      stack.address[kept++] = at;
    }
    for (let i = 0; i < kept; i++) this.#flip(stack.region[i], k, stack.address[i]);
    stack.top = kept;
  }

  // Bit indices within a region stay below 2^32: a region holds less than MAX_BUDDY_REGION bytes.
  #test(region: number, k: number, at: number): boolean {
    const index = at / POW2[k] - this.#origin[region][k];
    return (this.#maps[region][k][index >>> 5] & (1 << (index & 31))) !== 0;
  }

  #flip(region: number, k: number, at: number): void {
    const index = at / POW2[k] - this.#origin[region][k];
    this.#maps[region][k][index >>> 5] ^= 1 << (index & 31);
  }
}
