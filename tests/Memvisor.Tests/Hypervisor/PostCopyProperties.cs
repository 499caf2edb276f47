using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Migration;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// Post-copy live migration between two KVM hosts while the guest writes, balloons out and back in (before and after
/// it moved, so remote pages are written, given back and repopulated before they arrive), and the source host shares,
/// pages and compresses the paused source's pages: at every step both hosts' auditors are clean, and once the last
/// page arrived every page the guest holds reads back the bytes last written to it, every page it gave back is
/// absent, and the source is gone (DESIGN.md invariants 1 and 4).
/// </summary>
public class PostCopyProperties
{
    private const int Pages = 64;

    private enum OpKind { Write, WriteBytes, Read, Balloon, Populate, Scan, Evict }

    private static readonly Gen<(OpKind Kind, int Gfn, int Pick)> OpGen =
        from kind in Gen.Elements(Enum.GetValues<OpKind>())
        from gfn in Gen.Choose(0, Pages - 1)
        from pick in Gen.Choose(0, 255)
        select (kind, gfn, pick);

    [Fact]
    public void Every_page_arrives_as_last_written_whether_fetched_pushed_or_given_back_before_it_came()
    {
        long fetched = 0, pushed = 0, touchedRemote = 0;
        var gen = from rounds in Gen.Choose(0, 2)
                  from ops in Gen.ArrayOf(OpGen, 200)
                  select (rounds, ops);
        Properties.Check(gen, t => Run(t.rounds, t.ops, ref fetched, ref pushed, ref touchedRemote), maxTest: 40);
        Assert.True(fetched > 50 && pushed > 300 && touchedRemote > 120, $"{fetched} fetched, {pushed} pushed, {touchedRemote} ops on remote pages: the runs did not exercise post-copy");
    }

    private static Host NewHost() => new(new MachineMemory(1024, 1), new CostModel(), () => 0, new OvercommitOptions
    {
        Personality = HostPersonality.Kvm,
        Sharing = new SharingOptions { Enabled = true, MaxPageSharing = 100 },
        Paging = new PagingOptions { SwapPages = 256, Configured = true },
        Compression = new CompressionOptions { Enabled = true, Codec = CompressionCodec.Lz4, CacheShare = 0.25 },
    });

    private static void Run(int precopyRounds, (OpKind Kind, int Gfn, int Pick)[] ops, ref long fetched, ref long pushed, ref long touchedRemote)
    {
        using var from = NewHost();
        using var to = NewHost();
        var d = TestHost.Domain(from, "g", Pages, Pages + 8);
        var port = from.PortFor(d);
        var bytes = new byte[Pages][];
        var present = new bool[Pages];
        for (int g = 0; g < Pages; g++) (bytes[g], present[g]) = (new byte[PageSize.Bytes], true);
        var page = new byte[PageSize.Bytes];
        // About a page per 1 ms step: a round takes 64 steps, and so does the background push.
        var link = new MigrationOptions { BandwidthBytesPerSecond = 4104 * 1000, LatencyNs = 500_000, TargetDirtyPages = 1, PostCopyAfterRounds = precopyRounds };
        Assert.Equal(XenErrno.Ok, from.StartMigration(d.DomId, to, link, out var m));
        int i = 0;
        for (; m!.Phase is MigrationPhase.PreCopy or MigrationPhase.PostCopy; i++)
        {
            var (kind, at, pick) = i < ops.Length ? ops[i] : (OpKind.Read, 0, 0);
            ulong gfn = (ulong)at;
            var here = m.Phase == MigrationPhase.PostCopy ? m.Destination : d;
            if (here.P2m.Get(gfn).Type == P2mType.Remote) touchedRemote++;
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
                case OpKind.Read when present[at]:
                    Assert.True(port.ReadPage(new Gfn(gfn), page), $"gfn {gfn} could not be read");
                    Assert.True(page.AsSpan().SequenceEqual(bytes[at]), $"gfn {gfn} read other bytes than were written (op {i}, {m.Phase})");
                    break;
                case OpKind.Balloon when present[at]:
                    Assert.Equal(XenErrno.Ok, port.DecreaseReservation([gfn], 0));
                    present[at] = false;
                    break;
                case OpKind.Populate when !present[at]:
                    Assert.Equal(XenErrno.Ok, port.PopulatePhysmap([gfn], 0));
                    (present[at], bytes[at]) = (true, new byte[PageSize.Bytes]);
                    break;
                // The source host keeps scanning and paging the source, running or paused.
                case OpKind.Scan when from.Find(d.DomId) == d:
                    for (ulong g = 0; g < Pages; g++) from.Sharing.ScanGfn(d, g);
                    break;
                case OpKind.Evict when from.Find(d.DomId) == d:
                    from.Paging.Evict(d, gfn);
                    break;
            }
            m.Step(1_000_000);
            Assert.Empty(Auditor.Check(from));
            Assert.Empty(Auditor.Check(to));
        }
        // A pre-copy that converged before its rounds were up ends as pre-copy does.
        Assert.True(m.Phase == MigrationPhase.Done, $"{m.Phase}: {m.Stats.FailedBecause}");
        fetched += m.Stats.PagesFetchedOnFault;
        pushed += m.Stats.PagesPushed;
        Assert.Equal(m.Destination.DomId, port.DomId);
        Assert.Null(from.Find(d.DomId));
        Assert.Equal(0, m.Destination.P2m.RemoteEntries);
        for (int g = 0; g < Pages; g++)
        {
            if (!present[g])
            {
                Assert.True(m.Destination.P2m.Get((ulong)g).Type == P2mType.Invalid, $"gfn {g}, given back, is {m.Destination.P2m.Get((ulong)g).Type} on the destination");
                continue;
            }
            Assert.True(port.ReadPage(new Gfn((ulong)g), page), $"gfn {g} could not be read on the destination");
            Assert.True(page.AsSpan().SequenceEqual(bytes[g]), $"gfn {g} does not hold what was last written");
        }
    }
}
