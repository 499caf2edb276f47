using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Save;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// Save and restore under random sequences of writes (synthetic pages, zeros and real bytes), ballooning, sharing,
/// paging and compression: after any number of saves and restores every page the guest holds reads back the bytes
/// last written to it, through the port the guest had from the start (DESIGN.md invariant 4), and the auditor finds
/// nothing wrong (invariant 1: every frame the saved domain had went back to the heap).
/// </summary>
public class SaveRestoreProperties
{
    private const int Pages = 48;

    private static readonly ContentHandle[] Contents =
    [
        ContentHandle.Synthetic(ContentClass.Compressible, 1), ContentHandle.Synthetic(ContentClass.Compressible, 2),
        ContentHandle.Synthetic(ContentClass.Incompressible, 3), ContentHandle.Zero,
    ];

    private enum OpKind { Write, WriteBytes, Balloon, Populate, Scan, Evict, SaveRestore }

    private static readonly OpKind[] Weighted = [.. Enum.GetValues<OpKind>(), OpKind.Write, OpKind.Write, OpKind.Evict];

    private static readonly Gen<(OpKind Kind, int Dom, int Gfn, int Pick)> OpGen =
        from kind in Gen.Elements(Weighted)
        from dom in Gen.Choose(0, 1)
        from gfn in Gen.Choose(0, Pages - 1)
        from pick in Gen.Choose(0, 255)
        select (kind, dom, gfn, pick);

    [Fact]
    public void Every_page_reads_back_after_saves_and_restores_and_no_frame_is_lost()
    {
        int restores = 0, readBack = 0, duplicates = 0;
        var gen = from kvm in Gen.Elements(true, false)
                  from ops in Gen.ArrayOf(OpGen, 80)
                  select (kvm, ops);
        Properties.Check(gen, t => Run(t.kvm, t.ops, ref restores, ref readBack, ref duplicates), maxTest: 40);
        // The sequences must have restored domains with shared and paged-out pages in them, or this proved little.
        Assert.True(restores > 20 && readBack > 0 && duplicates > 0, $"restores {restores}, pages read back {readBack}, shared pages written once {duplicates}");
    }

    private static void Run(bool kvm, (OpKind Kind, int Dom, int Gfn, int Pick)[] ops, ref int restores, ref int readBack, ref int duplicates)
    {
        using var hv = new Host(new MachineMemory(1024, 1), new CostModel(), () => 0, new OvercommitOptions
        {
            Personality = kvm ? HostPersonality.Kvm : HostPersonality.Xen,
            Sharing = new SharingOptions { Enabled = true, MaxPageSharing = 100 },
            Paging = new PagingOptions { SwapPages = 256, Configured = true },
            Compression = new CompressionOptions { Enabled = true, Codec = CompressionCodec.Lz4, CacheShare = 0.25 },
        });
        var domains = new Domain[2];
        var ports = new IGuestMemory[2];
        var bytes = new byte[2][][];
        var present = new bool[2][];
        for (int i = 0; i < 2; i++)
        {
            // On KVM the second domain allocates on first touch: its untouched pages are entries without a frame.
            domains[i] = TestHost.Domain(hv, $"d{i}", Pages, Pages + 8, kvm && i == 1 ? AllocationMode.OnDemand : AllocationMode.Static);
            ports[i] = hv.PortFor(domains[i]);
            bytes[i] = new byte[Pages][];
            present[i] = new bool[Pages];
            for (int g = 0; g < Pages; g++)
            {
                bytes[i][g] = new byte[PageSize.Bytes];
                present[i][g] = true;
            }
        }
        var page = new byte[PageSize.Bytes];
        foreach (var (kind, dom, at, pick) in ops)
        {
            var d = domains[dom];
            var port = ports[dom];
            ulong gfn = (ulong)at;
            switch (kind)
            {
                case OpKind.Write when present[dom][at]:
                    var content = Contents[pick % Contents.Length];
                    Assert.NotEqual(AccessOutcome.Refused, port.Touch(new Gfn(gfn), true, content));
                    hv.Machine.Contents.Read(content, bytes[dom][at]);
                    break;
                case OpKind.WriteBytes when present[dom][at]:
                    new Random(pick).NextBytes(page.AsSpan(0, 64 * (1 + pick % 8)));
                    Assert.True(port.WritePage(new Gfn(gfn), page));
                    page.CopyTo(bytes[dom][at], 0);
                    Array.Clear(page);
                    break;
                case OpKind.Balloon when present[dom][at]:
                    Assert.Equal(XenErrno.Ok, port.DecreaseReservation([gfn], 0));
                    present[dom][at] = false;
                    break;
                case OpKind.Populate when !present[dom][at]:
                    Assert.Equal(XenErrno.Ok, port.PopulatePhysmap([gfn], 0));
                    present[dom][at] = true;
                    Array.Clear(bytes[dom][at]);
                    break;
                case OpKind.Scan:
                    for (ulong g = 0; g < Pages; g++) hv.Sharing.ScanGfn(d, g);
                    break;
                case OpKind.Evict:
                    hv.Paging.Evict(d, gfn);
                    break;
                case OpKind.SaveRestore:
                {
                    using var image = new MemoryStream();
                    Assert.Equal(XenErrno.Ok, hv.SaveDomain(d.DomId, image, out var saved, out var written));
                    Assert.Null(hv.Find(d.DomId));
                    Assert.Empty(Auditor.Check(hv));
                    Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved!, image, out var restored, out var read));
                    Assert.Equal(written with { PagesReadBack = 0 }, read with { PagesReadBack = 0 });
                    Assert.NotEqual(d.DomId, restored!.DomId);
                    Assert.Equal(written.Pages, restored.TotPages);
                    domains[dom] = restored;
                    restores++;
                    readBack += (int)written.PagesReadBack;
                    duplicates += (int)written.DuplicatePages;
                    break;
                }
                default:
                    continue;
            }
        }
        Assert.Empty(Auditor.Check(hv));
        for (int i = 0; i < 2; i++)
            for (int g = 0; g < Pages; g++)
                if (present[i][g])
                {
                    Assert.True(ports[i].ReadPage(new Gfn((ulong)g), page), $"d{i} gfn {g} could not be read");
                    Assert.True(page.AsSpan().SequenceEqual(bytes[i][g]), $"d{i} gfn {g} does not hold what was last written");
                }
    }
}
