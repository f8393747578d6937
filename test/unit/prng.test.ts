/**
 * The one seeded PRNG (infra/local/tiktok-emulator/prng.ts) serves the emulator's dataset and the chaos
 * suite's plans: a seed must keep meaning the same dataset and the same scenario. The figures below were
 * produced by the chaos suite's former generator (test/chaos/prng.ts, same mulberry32), before the merge.
 */
import { hashUnit, SeededRandom } from "../../infra/local/tiktok-emulator/prng";

it("draws mulberry32's sequence", () => {
  const random = new SeededRandom(1);
  expect([random.next(), random.next(), random.next()]).toEqual([
    0.6270739405881613, 0.002735721180215478, 0.5274470399599522,
  ]);
});

it("forks child streams from the current state, as chaos seeds expect", () => {
  const random = new SeededRandom(7).fork(0xc4a05);
  expect(random.next()).toBe(0.33558991411700845);
  expect(random.fork(0xdd8).next()).toBe(0.4319173223339021);
});

it("hashes small integers to the same unit values", () => {
  expect(hashUnit(1, 2, 3, 4)).toBe(0.588907778263092);
  expect(hashUnit(42, 0, 0, 1)).toBe(0.8064998737536371);
});

it("derives int, chance and pick from next()", () => {
  const a = new SeededRandom(99);
  const b = new SeededRandom(99);
  const draws = Array.from({ length: 50 }, () => b.next());
  const ints = Array.from({ length: 50 }, () => a.int(-3, 97));
  expect(ints).toEqual(draws.map((draw) => -3 + Math.floor(draw * 101)));
  expect(() => a.pick([])).toThrow(RangeError);
});
