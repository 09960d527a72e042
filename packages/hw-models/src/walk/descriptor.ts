/**
 * How the hot path reads a 64-bit descriptor (no BigInt, no Atomics — Atomics.load is a builtin
 * call in Node 20, ~8-12 ns — and no Float64Array round trip, whose store-to-load forwarding costs
 * more than a second load):
 *
 *   lo = u32[i]; hi = u32[i + 1]; re-read u32[i] and retry while it changed.
 *
 * Writers cooperate (PhysicalMemory): `store64Ordered` installs the high word then the low
 * (valid) word, `clear64Ordered` clears the low word first, and a present→present replacement is
 * one 64-bit `store64Atomic`. Every format keeps its valid / present bits in the low word, so the
 * reader either sees a complete old descriptor, a complete new one, or an invalid one. (Loads are
 * kept in program order by x86-64; the model targets little-endian hosts, see PhysicalMemory.)
 *
 * Walkers address memory with `pa >>> 2` and treat anything at or above 4 GiB as outside memory.
 */
export const MAX_WALK_BYTES = 4294967296
