using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// Live migration while the guest writes (handles, zeros and real bytes), balloons out and back in, and the source
/// host shares, pages and compresses its pages, to another host or to the same one, over a link slow enough that the
/// pre-copy takes several rounds: once the destination runs the guest, every page it holds reads back the bytes last
/// written to it through the guest's first port, every page it gave back is absent, and the auditor finds both hosts
/// sound (DESIGN.md invariants 1 and 4).
/// </summary>
public class MigrationProperties
{
    private const int Pages = 64;

    private enum OpKind { Write, WriteBytes, Balloon, Populate, Scan, Evict }

    private static readonly Gen<(OpKind Kind, int Gfn, int Pick)> OpGen =
        from kind in Gen.Elements(Enum.GetValues<OpKind>())
        from gfn in Gen.Choose(0, Pages - 1)
        from pick in Gen.Choose(0, 255)
        select (kind, gfn, pick);

    [Fact]
    public void Every_page_arrives_as_last_written_whatever_the_guest_and_the_source_host_do_meanwhile()
    {
        int rounds = 0, resent = 0;
        var gen = from sameHost in Gen.Elements(true, false)
                  from ops in Gen.ArrayOf(OpGen, 200)
                  select (sameHost, ops);
        Properties.Check(gen, t => Run(t.sameHost, t.ops, ref rounds, ref resent), maxTest: 40);
        Assert.True(rounds > 120 && resent > 0, $"{rounds} rounds in all, {resent} pages resent after the first round: the runs did not iterate");
    }

    private static Host NewHost() => new(new MachineMemory(1024, 1), new CostModel(), () => 0, new OvercommitOptions
    {
        Sharing = new SharingOptions { Enabled = true, MaxPageSharing = 100 },
        Paging = new PagingOptions { SwapPages = 256, Configured = true },
        Compression = new CompressionOptions { Enabled = true, Codec = CompressionCodec.Lz4, CacheShare = 0.25 },
    });

    private static void Run(bool sameHost, (OpKind Kind, int Gfn, int Pick)[] ops, ref int rounds, ref int resent)
    {
        using var from = NewHost();
        using var other = NewHost();
        var to = sameHost ? from : other;
        var d = TestHost.Domain(from, "g", Pages, Pages + 8);
        var port = from.PortFor(d);
        var bytes = new byte[Pages][];
        var present = new bool[Pages];
        for (int g = 0; g < Pages; g++) (bytes[g], present[g]) = (new byte[PageSize.Bytes], true);
        var page = new byte[PageSize.Bytes];
        // About 2 pages per 1 ms step: the first round takes 32 steps, and the guest's writes keep later ones going.
        var link = new MigrationOptions { BandwidthBytesPerSecond = 2 * 4104 * 1000, LatencyNs = 500_000, TargetDirtyPages = 1 };
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, link, out var m));
        int i = 0;
        for (; m!.Phase == MigrationPhase.PreCopy && i < ops.Length; i++)
        {
            var (kind, at, pick) = ops[i];
            ulong gfn = (ulong)at;
            switch (kind)
            {
                case OpKind.Write when present[at]:
                    var content = new[] { ContentHandle.Synthetic(ContentClass.Compressible, (ulong)pick), ContentHandle.Zero, ContentHandle.Synthetic(ContentClass.Incompressible, (ulong)pick) }[pick % 3];
                    Assert.NotEqual(AccessOutcome.Refused, port.Touch(new Gfn(gfn), true, content));
                    from.Machine.Contents.Read(content, bytes[at]);
                    break;
                case OpKind.WriteBytes when present[at]:
                    new Random(pick).NextBytes(page.AsSpan(0, 32 * (1 + pick % 8)));
                    Assert.True(port.WritePage(new Gfn(gfn), page));
                    page.CopyTo(bytes[at], 0);
                    Array.Clear(page);
                    break;
                case OpKind.Balloon when present[at]:
                    Assert.Equal(XenErrno.Ok, port.DecreaseReservation([gfn], 0));
                    present[at] = false;
                    break;
                case OpKind.Populate when !present[at]:
                    Assert.Equal(XenErrno.Ok, port.PopulatePhysmap([gfn], 0));
                    (present[at], bytes[at]) = (true, new byte[PageSize.Bytes]);
                    break;
                case OpKind.Scan:
                    for (ulong g = 0; g < Pages; g++) from.Sharing.ScanGfn(d, g);
                    break;
                case OpKind.Evict:
                    from.Paging.Evict(d, gfn);
                    break;
            }
            m.Step(1_000_000);
        }
        while (m.Phase == MigrationPhase.PreCopy) m.Step(1_000_000);
        Assert.Equal(MigrationPhase.Done, m.Phase);
        rounds += m.Stats.Rounds;
        resent += (int)Math.Max(0, m.Stats.PagesSent - Pages);
        Assert.Equal(m.Destination.DomId, port.DomId);
        for (int g = 0; g < Pages; g++)
        {
            if (!present[g])
            {
                Assert.True(m.Destination.P2m.Get((ulong)g).Type == P2mType.Invalid, $"gfn {g}, given back during the migration, is {m.Destination.P2m.Get((ulong)g).Type} on the destination");
                continue;
            }
            Assert.True(port.ReadPage(new Gfn((ulong)g), page), $"gfn {g} could not be read on the destination");
            Assert.True(page.AsSpan().SequenceEqual(bytes[g]), $"gfn {g} does not hold what was last written (after op {i} of {ops.Length})");
        }
        Assert.Empty(Auditor.Check(from));
        Assert.Empty(Auditor.Check(to));
    }
}
