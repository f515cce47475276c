// Seeded randomness and test patterns shared by the property tests of Heap,
// PageAllocator and IdAllocator. The seed is random per run and printed on
// failure; SYSALLOC_SEED=<n> repeats a run.

function random32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  op = 0;
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = random32(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pow2(maxLog: number): number {
    return 2 ** this.int(0, maxLog);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }
}

function seedFor(name: string): number {
  const fixed = process.env.SYSALLOC_SEED;
  if (fixed !== undefined) return Number(fixed) >>> 0;
  let h = (Date.now() ^ (Math.random() * 2 ** 32)) >>> 0;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** Runs body(rng), and on failure names the op and the seed that repeats it. */
export function withSeed(name: string, body: (rng: Rng) => void): void {
  const rng = new Rng(seedFor(name));
  try {
    body(rng);
  } catch (e) {
    const error = e as Error;
    error.message = `${name}: failed at op ${rng.op} with seed ${rng.seed} (repeat with SYSALLOC_SEED=${rng.seed})\n${error.message}`;
    throw error;
  }
}

/** 256 Buffers of 64 KiB, each filled with its index. */
export const PATTERNS = Array.from({ length: 256 }, (_, b) => Buffer.alloc(1 << 16, b));
