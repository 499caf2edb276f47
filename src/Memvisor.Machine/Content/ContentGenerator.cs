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
        var rng = new DeterministicRandom(DeterministicRandom.Mix(seed) ^ ((ulong)cls * 0xA24BAED4963EE407UL));
        switch (cls)
        {
            case ContentClass.Zero:
                page.Clear();
                break;
            case ContentClass.Incompressible:
                for (int i = 0; i < page.Length; i += 8)
                    BinaryPrimitives.WriteUInt64LittleEndian(page[i..], rng.NextUInt64());
                break;
            case ContentClass.Compressible:
                FillFromTokens(page, Words, ref rng, immediateChance: 0);
                break;
            case ContentClass.KernelText:
            case ContentClass.SharedLibrary:
                FillFromTokens(page, Opcodes, ref rng, immediateChance: 0.3);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(cls), cls, "This content class has no generator.");
        }
    }

    /// <summary>Fills the page with tokens drawn with a skewed (roughly Zipf) choice, optionally followed by 4-byte immediates.</summary>
    private static void FillFromTokens(Span<byte> page, byte[][] tokens, ref DeterministicRandom rng, double immediateChance)
    {
        var table = tokens == Words ? WordTable : OpcodeTable;
        ref byte dst = ref MemoryMarshal.GetReference(page);
        ref byte src = ref MemoryMarshal.GetArrayDataReference(table.Padded);
        int pos = 0;
        // While the longest token and an immediate fit, a token of up to 16 bytes is one 16-byte store: the bytes past
        // the token are written over by the next ones, and the last ones are placed exactly below, so the page is the same.
        while (pos <= page.Length - TokenStride - 4)
        {
            double u = rng.NextDouble();
            int t = (int)(u * u * tokens.Length);
            int n = table.Lengths[t];
            if (n <= 16) Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, pos), Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref src, t * TokenStride)));
            else table.Padded.AsSpan(t * TokenStride, n).CopyTo(page[pos..]);
            pos += n;
            if (immediateChance > 0 && rng.NextDouble() < immediateChance)
            {
                ulong r = rng.NextUInt64();
                uint immediate = (r & 0xFF) < SmallImmediateShare ? (uint)(r >> 8) & 0xFF : (uint)(r >> 32);
                BinaryPrimitives.WriteUInt32LittleEndian(page[pos..], immediate);
                pos += 4;
            }
        }
        while (pos < page.Length)
        {
            // Square of a uniform variate skews the choice toward the first tokens, as real code and text do.
            double u = rng.NextDouble();
            var token = tokens[(int)(u * u * tokens.Length)];
            int n = Math.Min(token.Length, page.Length - pos);
            token.AsSpan(0, n).CopyTo(page[pos..]);
            pos += n;
            if (immediateChance > 0 && pos + 4 <= page.Length && rng.NextDouble() < immediateChance)
            {
                // Most displacements and immediates are small (struct offsets, stack slots); the rest are addresses.
                ulong r = rng.NextUInt64();
                uint immediate = (r & 0xFF) < SmallImmediateShare ? (uint)(r >> 8) & 0xFF : (uint)(r >> 32);
                BinaryPrimitives.WriteUInt32LittleEndian(page[pos..], immediate);
                pos += 4;
            }
        }
    }

    // Every token padded to 64 bytes (the longest) in one array, so that copying one of up to 16 bytes is a single
    // unaligned 16-byte load and store.
    private const int TokenStride = 64;
    private static readonly (byte[] Padded, byte[] Lengths) WordTable = Pad(Words);
    private static readonly (byte[] Padded, byte[] Lengths) OpcodeTable = Pad(Opcodes);

    private static (byte[] Padded, byte[] Lengths) Pad(byte[][] tokens)
    {
        var padded = new byte[tokens.Length * TokenStride];
        var lengths = new byte[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            if (tokens[i].Length > TokenStride) throw new InvalidOperationException($"Token {i} is longer than {TokenStride} bytes.");
            tokens[i].CopyTo(padded, i * TokenStride);
            lengths[i] = (byte)tokens[i].Length;
        }
        return (padded, lengths);
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
