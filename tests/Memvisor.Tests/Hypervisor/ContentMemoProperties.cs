using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// The pager and tmem keep what they work out from a synthetic page's bytes (its compressed length, its hash) by the
/// page's handle, and keep the page itself by handle. Their answers must be the bytes' answers, whether a page is met
/// for the first time or again, and whether its bytes are named by a handle, held as stored bytes or private: each
/// eviction's compressed length (or incompressibility) is the codec's on the page's bytes, tmem holds one frame per
/// distinct bytes, and every page reads back as written.
/// </summary>
public class ContentMemoProperties
{
    private const int Pages = 16;

    // What a write may put at a gfn: synthetic pages of each class (one reused often, so handles are met again), a
    // stored copy of the first one's bytes, or a word written into the page (which makes its bytes private).
    private static readonly ContentHandle[] Contents =
    [
        ContentHandle.Synthetic(ContentClass.Compressible, 11), ContentHandle.Synthetic(ContentClass.Compressible, 12),
        ContentHandle.Synthetic(ContentClass.Incompressible, 13), ContentHandle.ImagePage(ContentClass.KernelText, 3, 4),
        ContentHandle.Zero,
    ];
    private const int StoredCopy = 5;
    private const int WordWrite = 6;

    // A write, an eviction or a read, of one gfn; a write's pick from Contents, StoredCopy or WordWrite.
    private static readonly Gen<(int Kind, int At, int Pick)> Op =
        from kind in Gen.Choose(0, 2)
        from at in Gen.Choose(0, Pages - 1)
        from pick in Gen.Choose(0, WordWrite)
        select (kind, at, pick);

    [Fact]
    public void Evictions_compress_to_the_length_the_codec_gives_the_bytes_and_pages_come_back_whole()
    {
        var gen = from codec in Gen.Elements(CompressionCodec.Lz4, CompressionCodec.Zstd)
                  from ops in Gen.ArrayOf(Op, 120)
                  select (codec, ops);
        Properties.Check(gen, t =>
        {
            using var hv = new Host(new MachineMemory(4096, 1), new CostModel(), () => 0, new OvercommitOptions
            {
                Compression = new CompressionOptions { Enabled = true, Codec = t.codec, CacheShare = 0.25 },
            });
            using var reference = new PageCodec(t.codec, new CostModel());
            var d = TestHost.Domain(hv, "a", Pages + 1, Pages + 1);
            var port = hv.PortFor(d);
            var expected = new byte[Pages][];
            for (int g = 0; g < Pages; g++) expected[g] = new byte[PageSize.Bytes];
            var page = new byte[PageSize.Bytes];
            var squeezed = new byte[CompressionCache.SlotBytes];
            foreach (var (kind, at, pick) in t.ops)
            {
                ulong gfn = (ulong)at + 1;
                if (kind == 0) Write(hv, port, gfn, pick, expected[at]);
                else if (kind == 1 && d.P2m.Get(gfn).HasFrame)
                {
                    Assert.True(port.ReadPage(new Gfn(gfn), page));
                    var before = hv.Paging.Compression;
                    if (!hv.Paging.Evict(d, gfn)) continue;
                    var after = hv.Paging.Compression;
                    int n = reference.Compress(page, squeezed);
                    if (PageBytes.IsZero(page)) Assert.Equal(before, after);
                    else if (n == 0) Assert.Equal(before.Incompressible + 1, after.Incompressible);
                    else if (d.P2m.Get(gfn).Type == P2mType.Compressed)
                        Assert.Equal(before.CompressedBytesTotal + n, after.CompressedBytesTotal);
                }
                else
                {
                    Assert.True(port.ReadPage(new Gfn(gfn), page), $"gfn {gfn} could not be read");
                    Assert.True(page.AsSpan().SequenceEqual(expected[at]), $"gfn {gfn} does not hold what was last written");
                }
            }
            Assert.True(hv.Paging.Compression.PagesCompressed > 0);
            Assert.Empty(Auditor.Check(hv));
        }, maxTest: 40);
    }

    [Fact]
    public void Deduplicating_tmem_holds_one_frame_per_distinct_bytes_and_gives_each_page_back()
    {
        var gen = Gen.ArrayOf(Gen.Choose(0, WordWrite), Pages);
        Properties.Check(gen, picks =>
        {
            using var hv = new Host(new MachineMemory(4096, 1), new CostModel(), () => 0, new OvercommitOptions
            {
                Tmem = new TmemOptions { Enabled = true, Dedup = true, ReservePages = 0 },
            });
            var d = TestHost.Domain(hv, "a", 2 * Pages + 1, 2 * Pages + 1);
            var port = hv.PortFor(d);
            int pool = port.TmemNewPool(persistent: true);
            var expected = new byte[Pages][];
            var distinct = new HashSet<string>();
            // Each page is put twice (the second put replaces the first), so every handle is met again.
            for (int round = 0; round < 2; round++)
                for (int i = 0; i < Pages; i++)
                {
                    expected[i] = new byte[PageSize.Bytes];
                    Write(hv, port, (ulong)i + 1, picks[i], expected[i]);
                    Assert.True(port.TmemPut(pool, 1, (uint)i, new Gfn((ulong)i + 1)));
                    if (round == 1) distinct.Add(Convert.ToBase64String(expected[i]));
                }
            Assert.Equal(distinct.Count, hv.Tmem.Frames);
            var page = new byte[PageSize.Bytes];
            for (int i = 0; i < Pages; i++)
            {
                ulong gfn = (ulong)(Pages + 1 + i);
                Assert.True(port.TmemGet(pool, 1, (uint)i, new Gfn(gfn)));
                Assert.True(port.ReadPage(new Gfn(gfn), page));
                Assert.True(page.AsSpan().SequenceEqual(expected[i]), $"tmem page {i} came back with other bytes");
            }
            Assert.Equal(0, hv.Tmem.Frames);
            Assert.Empty(Auditor.Check(hv));
        }, maxTest: 60);
    }

    // Writes a pick at gfn and the bytes it leaves there into `expected`.
    private static void Write(Host hv, IGuestMemory port, ulong gfn, int pick, byte[] expected)
    {
        if (pick == WordWrite)
        {
            ulong word = gfn * 0x9E37_79B9_7F4A_7C15UL;
            if (!port.WriteWord(new Gfn(gfn), 7, word)) return;
            Assert.True(port.ReadPage(new Gfn(gfn), expected));
            return;
        }
        if (pick == StoredCopy)
        {
            hv.Machine.Contents.Read(Contents[0], expected);
            Assert.True(port.WritePage(new Gfn(gfn), expected));
            return;
        }
        Assert.NotEqual(AccessOutcome.Refused, port.Touch(new Gfn(gfn), true, Contents[pick]));
        hv.Machine.Contents.Read(Contents[pick], expected);
    }
}
