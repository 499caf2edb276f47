using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Randomness;

namespace Memvisor.Machine.Content;

/// <summary>
/// Generates the bytes of a synthetic page from its class and seed, deterministically: the same class and seed
/// give the same 4 KiB on every run and machine. Each class has the byte statistics of its kind of page
/// (zero, code, text-like data, random data), so that hashing, zero detection and compression act on realistic input.
/// </summary>
public static class ContentGenerator
{
    private static readonly byte[][] Words = BuildWords();
    private static readonly byte[][] Opcodes = BuildOpcodes();
    // Out of 256: the share of code immediates that are small. With the idioms below, this brings KernelText to LZ4 1.29
    // and zstd 1.68 (bench ratios), inside what the .text of real x86-64 code gives with the same codecs (memvisor
    // analyze --format raw on objcopy'd .text: busybox 1.27 / 1.54, glibc 1.35 / 1.65, QEMU 1.37 / 1.68, CoreCLR
    // 1.44 / 1.78, measured 2026-11-21). Before: random immediates, 1.07 / 1.22.
    private const ulong SmallImmediateShare = 200;

    public static void Fill(ContentClass cls, ulong seed, Span<byte> page)
    {
        if (page.Length != PageSize.Bytes)
            throw new ArgumentException($"A page buffer must be {PageSize.Bytes} bytes, not {page.Length}.", nameof(page));
        // The generator is a local, so that its state stays in registers through the loops below.
        var rng = new DeterministicRandom(DeterministicRandom.Mix(seed) ^ ((ulong)cls * 0xA24BAED4963EE407UL));
        switch (cls)
        {
            case ContentClass.Zero:
                page.Clear();
                break;
            case ContentClass.Incompressible:
                FillRandom(page, ref rng);
                break;
            case ContentClass.Compressible:
                FillFromTokens(page, WordTable, ref rng, immediates: false);
                break;
            case ContentClass.KernelText:
            case ContentClass.SharedLibrary:
                FillFromTokens(page, OpcodeTable, ref rng, immediates: true);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(cls), cls, "This content class has no generator.");
        }
    }

    // Every byte drawn: the generator's words, little-endian.
    private static void FillRandom(Span<byte> page, ref DeterministicRandom rng)
    {
        rng.Unpack(out ulong s0, out ulong s1, out ulong s2, out ulong s3);
        ref byte dst = ref MemoryMarshal.GetReference(page);
        for (int i = 0; i < PageSize.Bytes; i += 8)
        {
            ulong x = DeterministicRandom.Next(ref s0, ref s1, ref s2, ref s3);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, i), BitConverter.IsLittleEndian ? x : BinaryPrimitives.ReverseEndianness(x));
        }
        rng.Pack(s0, s1, s2, s3);
    }

    // The chance that a code token is followed by a 4-byte immediate, and the same test on the generator's raw draw:
    // NextDouble() is (x >> 11) * 2^-53 exactly, so NextDouble() < 0.3 holds exactly when (x >> 11) is below
    // ceil(0.3 * 2^53) (a power-of-two scaling, without rounding).
    private const double ImmediateChance = 0.3;
    private static readonly ulong ImmediateBelow = (ulong)Math.Ceiling(ImmediateChance * (1UL << 53));

    /// <summary>
    /// Fills the page with tokens drawn with a skewed (roughly Zipf) choice: the square of a uniform variate picks a
    /// token, as real code and text favour a few. Code tokens are followed, 30% of the time, by a 4-byte immediate.
    /// </summary>
    private static void FillFromTokens(Span<byte> page, TokenTable table, ref DeterministicRandom rng, bool immediates)
    {
        rng.Unpack(out ulong s0, out ulong s1, out ulong s2, out ulong s3);
        ref byte dst = ref MemoryMarshal.GetReference(page);
        ref byte src = ref MemoryMarshal.GetArrayDataReference(table.Padded);
        ref ushort picks = ref MemoryMarshal.GetArrayDataReference(table.Picks);
        byte[] lengths = table.Lengths;
        int pos = 0;
        // While the longest token and an immediate fit, a token is one 64-byte store of its padded copy: the bytes past
        // the token are written over by the next ones, and the last ones are placed exactly below, so the page is the
        // same as copying each token exactly. The immediate is stored whether or not it is drawn (the next token
        // overwrites it when not), and the generator moves on by its draw only when it is: no branch on the coin.
        while (pos <= PageSize.Bytes - TokenStride - 4)
        {
            ulong x = DeterministicRandom.Next(ref s0, ref s1, ref s2, ref s3);
            int pick = Unsafe.Add(ref picks, (int)(x >> (64 - PickBits)));
            if (pick == AmbiguousPick) pick = ExactPick(x, lengths);
            int t = pick & 0xFF, n = pick >> 8;
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, pos), Unsafe.ReadUnaligned<Vector512<byte>>(ref Unsafe.Add(ref src, t * TokenStride)));
            pos += n;
            if (immediates)
            {
                // All ones when the draw is below the threshold (both are under 2^53, so the difference's sign says so).
                ulong take = 0 - (((DeterministicRandom.Next(ref s0, ref s1, ref s2, ref s3) >> 11) - ImmediateBelow) >> 63);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, pos), Immediate(DeterministicRandom.Peek(s1)));
                ulong k0 = s0, k1 = s1, k2 = s2, k3 = s3;
                DeterministicRandom.Next(ref s0, ref s1, ref s2, ref s3);
                s0 ^= (s0 ^ k0) & ~take;
                s1 ^= (s1 ^ k1) & ~take;
                s2 ^= (s2 ^ k2) & ~take;
                s3 ^= (s3 ^ k3) & ~take;
                pos += (int)(take & 4);
            }
        }
        while (pos < PageSize.Bytes)
        {
            int pick = ExactPick(DeterministicRandom.Next(ref s0, ref s1, ref s2, ref s3), lengths);
            int t = pick & 0xFF, n = Math.Min(pick >> 8, PageSize.Bytes - pos);
            table.Padded.AsSpan(t * TokenStride, n).CopyTo(page[pos..]);
            pos += n;
            if (immediates && pos + 4 <= PageSize.Bytes && (DeterministicRandom.Next(ref s0, ref s1, ref s2, ref s3) >> 11) < ImmediateBelow)
            {
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, pos), Immediate(DeterministicRandom.Next(ref s0, ref s1, ref s2, ref s3)));
                pos += 4;
            }
        }
        rng.Pack(s0, s1, s2, s3);
    }

    // The token a draw picks is a non-decreasing function of the draw, so the draw's top bits settle it for all but
    // the few slices of draws where the token changes: Picks holds, for each slice, the token and its length
    // (token | length << 8), or AmbiguousPick where the slice holds a change and the pick is worked out as defined.
    private const int PickBits = 12;
    private const ushort AmbiguousPick = ushort.MaxValue;

    private static int ExactPick(ulong x, byte[] lengths)
    {
        int t = (int)(Square(x) * lengths.Length);
        return t | lengths[t] << 8;
    }

    private static ushort[] Picks(byte[] lengths)
    {
        var picks = new ushort[1 << PickBits];
        for (ulong slice = 0; slice < (ulong)picks.Length; slice++)
        {
            ulong first = slice << (64 - PickBits), last = first | (ulong.MaxValue >> PickBits);
            int a = ExactPick(first, lengths), b = ExactPick(last, lengths);
            picks[slice] = a == b ? (ushort)a : AmbiguousPick;
        }
        return picks;
    }

    // The square of NextDouble() for the draw x: (x >> 11) * 2^-53, squared.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Square(ulong x)
    {
        double u = (long)(x >> 11) * (1.0 / (1UL << 53));
        return u * u;
    }

    // Most displacements and immediates are small (struct offsets, stack slots); the rest are addresses: the low byte
    // of the draw below SmallImmediateShare picks its next byte, else its high half is the immediate. Without a branch.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Immediate(ulong r)
    {
        ulong small = 0 - (((r & 0xFF) - SmallImmediateShare) >> 63);
        uint immediate = (uint)((((r >> 8) & 0xFF) & small) | ((r >> 32) & ~small));
        return BitConverter.IsLittleEndian ? immediate : BinaryPrimitives.ReverseEndianness(immediate);
    }

    // Every token padded to 64 bytes (the longest) with zeros, in one array, so that copying a token is a single
    // unaligned 64-byte load and store.
    private const int TokenStride = 64;
    private static readonly TokenTable WordTable = Pad(Words);
    private static readonly TokenTable OpcodeTable = Pad(Opcodes);

    private sealed record TokenTable(byte[] Padded, byte[] Lengths, ushort[] Picks);

    private static TokenTable Pad(byte[][] tokens)
    {
        if (tokens.Length > 256) throw new InvalidOperationException("A pick keeps its token in one byte: a table holds at most 256 tokens.");
        var padded = new byte[tokens.Length * TokenStride];
        var lengths = new byte[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            if (tokens[i].Length > TokenStride) throw new InvalidOperationException($"Token {i} is longer than {TokenStride} bytes.");
            tokens[i].CopyTo(padded, i * TokenStride);
            lengths[i] = (byte)tokens[i].Length;
        }
        return new TokenTable(padded, lengths, Picks(lengths));
    }

    private static byte[][] BuildWords()
    {
        string[] words =
        [
            "the ", "memory ", "page ", "of ", "and ", "domain ", "frame ", "to ", "in ", "guest ", "balloon ", "is ",
            "a ", "host ", "table ", "for ", "with ", "that ", "map ", "on ", "free ", "by ", "size ", "heap ",
            "order ", "list ", "node ", "data\n", "value=", "0x0000", "{\"id\":", "},", "null, ", "error ", "request ",
            "response ", "cache ", "index ", "user ", "session ", "2026-11-21T", "GET /", "200 OK\n", "Content-Length: ",
        ];
        // Heap data also holds runs of zero bytes (padding, high halves of small integers and pointers).
        var tokens = words.Select(w => System.Text.Encoding.ASCII.GetBytes(w)).ToList();
        tokens.Insert(1, new byte[32]);
        tokens.Insert(6, new byte[64]);
        return tokens.ToArray();
    }

    private static byte[][] BuildOpcodes()
    {
        // Common x86-64 instruction encodings (push/pop, mov, call, ret, lea, cmp, jcc, nop padding).
        return
        [
            [0x55], [0x48, 0x89, 0xE5], [0x5D], [0xC3], [0x48, 0x8B, 0x45], [0x48, 0x89, 0x45], [0xE8], [0x48, 0x83, 0xEC],
            [0x48, 0x83, 0xC4], [0x48, 0x8D, 0x05], [0x0F, 0x1F, 0x44, 0x00, 0x00], [0x85, 0xC0], [0x74], [0x75], [0xEB],
            [0x48, 0x39, 0xC7], [0x41, 0x54], [0x41, 0x5C], [0x53], [0x5B], [0x31, 0xC0], [0x48, 0x85, 0xFF], [0x0F, 0x84],
            [0x0F, 0x85], [0xFF, 0x15], [0xCC], [0x90], [0x66, 0x90], [0x48, 0xC7, 0xC0], [0x8B, 0x07], [0x89, 0x07], [0xF3, 0xC3],
            // Idioms compilers emit again and again: a prologue saving callee-saved registers, its epilogue, and padding.
            [0x55, 0x48, 0x89, 0xE5, 0x41, 0x57, 0x41, 0x56, 0x41, 0x55, 0x41, 0x54, 0x53],
            [0x5B, 0x41, 0x5C, 0x41, 0x5D, 0x41, 0x5E, 0x41, 0x5F, 0x5D, 0xC3],
            [0x66, 0x2E, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
            [0x48, 0x89, 0xDF, 0xE8], [0x48, 0x8B, 0x7D, 0xF8], [0x4C, 0x89, 0xE7, 0xE8],
        ];
    }
}
