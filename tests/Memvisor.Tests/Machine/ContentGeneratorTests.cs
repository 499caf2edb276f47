using System.Buffers.Binary;
using System.Reflection;
using FsCheck;
using FsCheck.Fluent;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Randomness;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Machine;

/// <summary>
/// The generator's fast fill (64-byte stores while a whole token fits, the generator's state in locals, immediates
/// stored and the generator stepped without a branch) gives the same bytes as the plain definition: a page is compared
/// with a reference fill, token by token and draw by draw, for random classes and seeds.
/// </summary>
public class ContentGeneratorTests
{
    private static readonly byte[][] Words = Tokens("Words");
    private static readonly byte[][] Opcodes = Tokens("Opcodes");

    private static byte[][] Tokens(string name) =>
        (byte[][])typeof(ContentGenerator).GetField(name, BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;

    // The generator's definition, written plainly: each token copied exactly, then its immediate, to the last byte.
    private static void Reference(ContentClass cls, ulong seed, Span<byte> page)
    {
        var rng = new DeterministicRandom(DeterministicRandom.Mix(seed) ^ ((ulong)cls * 0xA24BAED4963EE407UL));
        if (cls == ContentClass.Incompressible)
        {
            for (int i = 0; i < page.Length; i += 8) BinaryPrimitives.WriteUInt64LittleEndian(page[i..], rng.NextUInt64());
            return;
        }
        var tokens = cls == ContentClass.Compressible ? Words : Opcodes;
        double chance = cls == ContentClass.Compressible ? 0 : 0.3;
        int pos = 0;
        while (pos < page.Length)
        {
            double u = rng.NextDouble();
            var token = tokens[(int)(u * u * tokens.Length)];
            int n = Math.Min(token.Length, page.Length - pos);
            token.AsSpan(0, n).CopyTo(page[pos..]);
            pos += n;
            if (chance > 0 && pos + 4 <= page.Length && rng.NextDouble() < chance)
            {
                ulong r = rng.NextUInt64();
                uint immediate = (r & 0xFF) < 200 ? (uint)(r >> 8) & 0xFF : (uint)(r >> 32);
                BinaryPrimitives.WriteUInt32LittleEndian(page[pos..], immediate);
                pos += 4;
            }
        }
    }

    [Fact]
    public void Token_pages_are_the_same_bytes_as_the_plain_fill()
    {
        // Seeds over the whole 64-bit range (FsCheck's own ulong generator stays below 100).
        var gen = from cls in Gen.Elements(ContentClass.Compressible, ContentClass.KernelText, ContentClass.SharedLibrary, ContentClass.Incompressible)
                  from high in Gen.Choose(int.MinValue, int.MaxValue)
                  from low in Gen.Choose(int.MinValue, int.MaxValue)
                  let seed = (ulong)(uint)high << 32 | (uint)low
                  select (cls, seed);
        var fast = new byte[PageSize.Bytes];
        var plain = new byte[PageSize.Bytes];
        Properties.Check(gen, t =>
        {
            fast.AsSpan().Fill(0xEE);
            plain.AsSpan().Fill(0x11);
            ContentGenerator.Fill(t.cls, t.seed, fast);
            Reference(t.cls, t.seed, plain);
            Assert.True(fast.AsSpan().SequenceEqual(plain), $"{t.cls} seed {t.seed}: the pages differ");
        }, maxTest: 2000);
    }
}
