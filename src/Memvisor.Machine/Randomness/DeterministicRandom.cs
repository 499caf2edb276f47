using System.Runtime.CompilerServices;

namespace Memvisor.Machine.Randomness;

/// <summary>
/// xoshiro256** seeded through SplitMix64: a small, fast generator whose sequence is fixed for a seed on every
/// platform and .NET version, which System.Random does not promise. Every random choice in a run comes from one.
/// </summary>
public struct DeterministicRandom
{
    private ulong _s0, _s1, _s2, _s3;

    public DeterministicRandom(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>A generator for a sub-stream (a domain, a workload) derived from a run seed and a stream id.</summary>
    public static DeterministicRandom ForStream(ulong seed, ulong stream) => new(Mix(seed ^ Mix(stream + 0x9E3779B97F4A7C15UL)));

    public static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A stateless 64-bit mix (the SplitMix64 finaliser).</summary>
    public static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public ulong NextUInt64() => Next(ref _s0, ref _s1, ref _s2, ref _s3);

    /// <summary>
    /// One step of xoshiro256** on a state held in four words: for a hot loop that keeps the state in its own locals
    /// (<see cref="Unpack"/>, then <see cref="Pack"/>), so that it stays in registers. The same sequence as <see cref="NextUInt64"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Next(ref ulong s0, ref ulong s1, ref ulong s2, ref ulong s3)
    {
        ulong result = RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = RotateLeft(s3, 45);
        return result;
    }

    /// <summary>What <see cref="Next"/> returns for this state, without moving it on (xoshiro256**'s output is a function of its second word).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Peek(ulong s1) => RotateLeft(s1 * 5, 7) * 9;

    public readonly void Unpack(out ulong s0, out ulong s1, out ulong s2, out ulong s3) => (s0, s1, s2, s3) = (_s0, _s1, _s2, _s3);

    public void Pack(ulong s0, ulong s1, ulong s2, ulong s3) => (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);

    /// <summary>A uniform integer in [0, bound) by Lemire's multiply-shift (bias below 2^-32 for the bounds used here).</summary>
    public ulong NextBelow(ulong bound) => bound == 0 ? 0 : (ulong)(((UInt128)NextUInt64() * bound) >> 64);

    /// <summary>A uniform double in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));
}
