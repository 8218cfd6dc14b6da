// Stateless hashing for the demo scene: every random-looking choice is a pure function of the
// seed and a position (frame, line, ...), so any frame can be re-rendered identically.
#pragma once

#include <cstdint>

namespace spiced {

// SplitMix64 finaliser (Steele et al., "Fast splittable pseudorandom number generators"):
// a cheap bijective mix with full avalanche, good enough for visuals and tests.
constexpr uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

constexpr uint64_t hash3(uint64_t seed, uint64_t a, uint64_t b = 0) {
    return mix64(mix64(mix64(seed) ^ a) ^ b);
}

// Uniform-ish integer in [0, n) for small n (modulo bias is irrelevant here).
constexpr uint32_t pick(uint64_t h, uint32_t n) {
    return static_cast<uint32_t>(h % n);
}

}  // namespace spiced
