using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Paging;
using Memvisor.Seam;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// DESIGN.md invariants 1, 4 and 5 through every overcommit mechanism: random interleavings of balloon out and in,
/// sharing scans, copy-on-write writes, page-out (to the compression cache or swap), page-in, free page reporting,
/// tmem put and get, whole-page and word writes. After each step the auditor finds nothing; every read returns the
/// bytes last written to that gfn, and every persistent tmem get returns the bytes put.
/// </summary>
public class OvercommitProperties
{
    public enum OpKind { Write, WriteWord, Read, Scan, Evict, BalloonOut, BalloonIn, Report, TmemPut, TmemGet, HostStep, Squeeze }

    public sealed record Op(OpKind Kind, int Dom, int Gfn, int Value);

    private const int Domains = 2;
    private const int Pages = 192;

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Frequency(
            (6, Gen.Constant(OpKind.Write)), (2, Gen.Constant(OpKind.WriteWord)), (5, Gen.Constant(OpKind.Read)),
            (2, Gen.Constant(OpKind.Scan)), (5, Gen.Constant(OpKind.Evict)), (1, Gen.Constant(OpKind.BalloonOut)),
            (1, Gen.Constant(OpKind.BalloonIn)), (1, Gen.Constant(OpKind.Report)), (2, Gen.Constant(OpKind.TmemPut)),
            (2, Gen.Constant(OpKind.TmemGet)), (1, Gen.Constant(OpKind.HostStep)), (1, Gen.Constant(OpKind.Squeeze)))
        from dom in Gen.Choose(0, Domains - 1)
        from gfn in Gen.Choose(0, Pages - 1)
        from value in Gen.Choose(0, 1 << 20)
        select new Op(kind, dom, gfn, value);

    // A few contents, so that pages repeat (sharing), compress well or not at all (compression), or are zero.
    private static readonly ContentHandle[] Contents =
    [
        ContentHandle.Zero,
        ContentHandle.Synthetic(ContentClass.Compressible, 1), ContentHandle.Synthetic(ContentClass.Compressible, 2),
        ContentHandle.Synthetic(ContentClass.Compressible, 3), ContentHandle.Synthetic(ContentClass.KernelText, 4),
        ContentHandle.Synthetic(ContentClass.Incompressible, 5), ContentHandle.Synthetic(ContentClass.Incompressible, 6),
    ];

    [Fact]
    public void Random_interleavings_of_every_mechanism_keep_bytes_ownership_and_accounting()
    {
        var gen = from codec in Gen.Elements(CompressionCodec.Lz4, CompressionCodec.Zstd)
                  from dedup in Gen.Elements(true, false)
                  from compress in Gen.Elements(true, false)
                  from policy in Gen.Elements(EvictionPolicy.Clock, EvictionPolicy.Random)
                  from n in Gen.Choose(50, 400)
                  from ops in Gen.ArrayOf(OpGen, n)
                  select (codec, dedup, compress, policy, ops);
        var seen = new Coverage();
        Properties.Check(gen, t => Run(t.codec, t.dedup, t.compress, t.policy, t.ops, seen), maxTest: 60);
        // The sequences must have reached every mechanism, or the property proved less than it claims.
        Assert.True(seen.Merges > 0 && seen.CowBreaks > 0 && seen.Compressed > 0 && seen.Decompressed > 0
            && seen.SwapWrites > 0 && seen.SwapReads > 0 && seen.TmemGets > 0 && seen.Emergency > 0,
            $"the random sequences did not reach every mechanism: {seen}");
    }

    private sealed record Coverage
    {
        public long Merges, CowBreaks, Compressed, Decompressed, SwapWrites, SwapReads, TmemGets, Emergency;
    }

    private static void Run(CompressionCodec codec, bool dedup, bool tmemCompress, EvictionPolicy policy, Op[] ops, Coverage seen)
    {
        var options = new OvercommitOptions
        {
            Sharing = new SharingOptions { Enabled = true, ScanRatePagesPerSecond = 200, MaxPageSharing = 3 },
            Paging = new PagingOptions { Policy = policy, MruSize = 8, SwapPages = 4096, Configured = true },
            Compression = new CompressionOptions { Enabled = true, Codec = codec, CacheShare = 0.05 },
            Tmem = new TmemOptions { Enabled = true, Dedup = dedup, Compress = tmemCompress, ReservePages = 0 },
        };
        // Two domains of 192 pages and a ballast domain that Squeeze fills with every free frame, so that copy-on-write,
        // page-in and tmem run into an empty heap and the host has to make room (by evicting guest pages).
        using var hv = new Host(new MachineMemory(1_175, 1), new CostModel(), () => 0, options);
        var ballast = TestHost.Domain(hv, "ballast", 0, 512);
        ulong ballastNext = 0;
        var ds = new Domain[Domains];
        var ports = new IGuestMemory[Domains];
        var expected = new byte[Domains][][];
        var held = new bool[Domains][];
        var pools = new int[Domains];
        var tmem = new Dictionary<(int Dom, int Key), byte[]>();
        for (int i = 0; i < Domains; i++)
        {
            ds[i] = TestHost.Domain(hv, $"d{i}", Pages, Pages);
            ports[i] = hv.PortFor(ds[i]);
            expected[i] = new byte[Pages][];
            held[i] = new bool[Pages];
            for (int g = 0; g < Pages; g++)
            {
                expected[i][g] = new byte[PageSize.Bytes];
                held[i][g] = true;
            }
            pools[i] = ports[i].TmemNewPool(persistent: true);
        }
        var page = new byte[PageSize.Bytes];

        foreach (var op in ops)
        {
            var d = ds[op.Dom];
            var port = ports[op.Dom];
            ulong gfn = (ulong)op.Gfn;
            bool has = held[op.Dom][op.Gfn];
            switch (op.Kind)
            {
                case OpKind.Write when has:
                {
                    var content = Contents[op.Value % Contents.Length];
                    if (port.Touch(new Gfn(gfn), write: true, content) != AccessOutcome.Refused)
                        hv.Machine.Contents.Read(content, expected[op.Dom][op.Gfn]);
                    break;
                }
                case OpKind.WriteWord when has:
                    if (port.WriteWord(new Gfn(gfn), op.Value % 512, (ulong)op.Value * 0x9E3779B97F4A7C15UL))
                        BitConverter.TryWriteBytes(expected[op.Dom][op.Gfn].AsSpan(op.Value % 512 * 8), (ulong)op.Value * 0x9E3779B97F4A7C15UL);
                    break;
                case OpKind.Read when has:
                    Assert.True(port.ReadPage(new Gfn(gfn), page), $"gfn {gfn} of {d.Name} could not be read.");
                    Assert.True(page.AsSpan().SequenceEqual(expected[op.Dom][op.Gfn]), $"gfn {gfn} of {d.Name} does not hold what was last written.");
                    break;
                case OpKind.Scan:
                    hv.Sharing.ScanGfn(d, gfn);
                    break;
                case OpKind.Evict:
                    hv.Paging.Evict(d, gfn);
                    break;
                case OpKind.BalloonOut when has:
                    Assert.Equal(XenErrno.Ok, port.DecreaseReservation([gfn], 0));
                    held[op.Dom][op.Gfn] = false;
                    break;
                case OpKind.BalloonIn when !has:
                    if (port.PopulatePhysmap([gfn], 0) == XenErrno.Ok)
                    {
                        held[op.Dom][op.Gfn] = true;
                        Array.Clear(expected[op.Dom][op.Gfn]);
                    }
                    break;
                case OpKind.Report when has:
                    Assert.Equal(XenErrno.Ok, port.ReportFreePages([gfn], 0));
                    Array.Clear(expected[op.Dom][op.Gfn]);
                    break;
                case OpKind.TmemPut when has:
                {
                    int key = op.Value % 64;
                    // A put replaces what the key held; a refused put leaves the key empty, as Xen's does.
                    tmem.Remove((op.Dom, key));
                    if (port.TmemPut(pools[op.Dom], 7, (uint)key, new Gfn(gfn))) tmem[(op.Dom, key)] = (byte[])expected[op.Dom][op.Gfn].Clone();
                    break;
                }
                case OpKind.TmemGet when has:
                {
                    int key = op.Value % 64;
                    bool got = port.TmemGet(pools[op.Dom], 7, (uint)key, new Gfn(gfn));
                    if (tmem.Remove((op.Dom, key), out var bytes))
                    {
                        Assert.True(got, $"a persistent tmem page of {d.Name} (key {key}) did not come back.");
                        bytes.CopyTo(expected[op.Dom][op.Gfn], 0);
                    }
                    else Assert.False(got, $"tmem returned key {key} of {d.Name}, which it should not hold.");
                    break;
                }
                case OpKind.Squeeze:
                {
                    long n = Math.Min(hv.Machine.FreeFrames, 512 - (long)ballastNext);
                    if (n > 0 && hv.PortFor(ballast).PopulatePhysmap(Enumerable.Range(0, (int)n).Select(i => ballastNext + (ulong)i).ToArray(), 0) == XenErrno.Ok)
                        ballastNext += (ulong)n;
                    break;
                }
                case OpKind.HostStep:
                    hv.Step(100_000_000);
                    break;
            }
            var problems = Auditor.Check(hv);
            Assert.True(problems.Count == 0, $"after {op}: {string.Join(" ", problems)}");
        }

        for (int i = 0; i < Domains; i++)
            for (int g = 0; g < Pages; g++)
            {
                if (!held[i][g]) continue;
                Assert.True(ports[i].ReadPage(new Gfn((ulong)g), page), $"gfn {g} of d{i} could not be read at the end.");
                Assert.True(page.AsSpan().SequenceEqual(expected[i][g]), $"gfn {g} of d{i} lost its bytes.");
            }
        Assert.Empty(Auditor.Check(hv));
        seen.Merges += hv.Sharing.Stats.Merges;
        seen.CowBreaks += hv.Sharing.Stats.CowBreaks;
        seen.Compressed += hv.Paging.Compression.PagesCompressed;
        seen.Decompressed += hv.Paging.Compression.PagesDecompressed;
        seen.SwapWrites += hv.Paging.Stats.SwapWrites;
        seen.SwapReads += hv.Paging.Stats.SwapReads;
        seen.TmemGets += hv.Tmem.Stats.Gets;
        seen.Emergency += hv.Paging.Stats.EmergencyEvictions;
    }
}
