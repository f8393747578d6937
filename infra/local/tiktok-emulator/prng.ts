/**
 * Seeded pseudo-random numbers for everything the emulator generates, so the same seed always gives the
 * same dataset, the same mutations and the same injected faults, and for the chaos suite's plans
 * (test/chaos), so a chaos seed always replays the same scenario. Not cryptographic (nothing here is).
 */

// Module-level aliases: global lookups are slow inside vm contexts (jest), and these run millions of times.
const { floor, imul } = Math;

/** Mixes integers into one 32-bit seed (murmur3 finalizer per part), so nearby seeds diverge fully. */
export function mixSeeds(...parts: readonly number[]): number {
  let hash = 0x9e3779b9;
  for (const part of parts) {
    let value = (part >>> 0) ^ floor(part / 4294967296);
    value = imul(value ^ (value >>> 16), 0x85ebca6b);
    value = imul(value ^ (value >>> 13), 0xc2b2ae35);
    value ^= value >>> 16;
    hash = imul(hash ^ value, 0x27d4eb2d) + 0x165667b1;
    hash ^= hash >>> 15;
  }
  return hash >>> 0;
}

/** FNV-1a over a string: turns ids and names into seeds. */
export function seedFromString(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A stable hash of small integers to [0, 1): decisions that must not depend on call order (the chaos
 * suite's crash points). FNV-1a-like over the parts, then one mulberry32 draw.
 */
export function hashUnit(...parts: readonly number[]): number {
  let hash = 0x811c9dc5;
  for (const part of parts) {
    hash ^= part | 0;
    hash = imul(hash, 0x01000193);
    hash ^= hash >>> 13;
  }
  return new SeededRandom(hash).next();
}

/** mulberry32: 32-bit state, fast, well distributed enough for test data. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  uint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let value = this.state;
    value = imul(value ^ (value >>> 15), value | 1);
    value ^= value + imul(value ^ (value >>> 7), value | 61);
    return (value ^ (value >>> 14)) >>> 0;
  }

  /** A child stream seeded from this one's state, independent of how much this one is used later. */
  fork(salt: number): SeededRandom {
    return new SeededRandom(imul(this.state ^ salt, 0x9e3779b1) ^ salt);
  }

  /** Integer in [minInclusive, maxInclusive]. */
  int(minInclusive: number, maxInclusive: number): number {
    return minInclusive + floor(this.next() * (maxInclusive - minInclusive + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError("cannot pick from an empty list");
    return item;
  }

  /** A decimal string of exactly `length` digits, never starting with 0 (ids, phone numbers). */
  digits(length: number): string {
    let text = `${this.int(1, 9)}`;
    while (text.length < length) text += `${this.uint32() % 1_000_000_000}`.padStart(9, "0");
    return text.slice(0, length);
  }

  /** Lowercase letters and digits, e.g. for e-mail local parts. */
  alphanumeric(length: number): string {
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    let text = "";
    for (let index = 0; index < length; index++) text += alphabet.charAt(this.uint32() % alphabet.length);
    return text;
  }
}
