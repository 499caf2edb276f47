using FsCheck;
using FsCheck.Fluent;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Memory;
using Memvisor.Guest.Mm;
using Memvisor.Machine.Frames;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Guest;

/// <summary>
/// A guest with transparent huge pages, two NUMA nodes it tiers between and a balloon, under random sequences of
/// reads and writes (into whole 2 MiB regions and a mapping that ends inside one), balloon targets that make it
/// reclaim and demote, munmap and mmap again, and steps of time: after every operation each page reads back what was
/// last written, meminfo adds up, every huge page the tables map is 512 pages of the process's in a row, marked
/// compound, with none but those marked, and the process's resident count equals what its tables map.
/// </summary>
public class TransparentHugePageProperties
{
    private enum OpKind { Write, Read, Balloon, Remap, Step }

    private sealed record Op(OpKind Kind, bool Aligned, int Page, long Target)
    {
        public override string ToString() => $"{Kind}({(Aligned ? "aligned" : "ragged")} page {Page}, target {Target})";
    }

    private const int AlignedPages = 2048, RaggedPages = 700;

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Frequency((10, Gen.Constant(OpKind.Write)), (6, Gen.Constant(OpKind.Read)), (2, Gen.Constant(OpKind.Balloon)),
            (1, Gen.Constant(OpKind.Remap)), (2, Gen.Constant(OpKind.Step)))
        from aligned in Gen.Frequency((3, Gen.Constant(true)), (1, Gen.Constant(false)))
        from page in Gen.Choose(0, AlignedPages - 1)
        from target in Gen.Choose(2500, 8192)
        select new Op(kind, aligned, page, target);

    [Fact]
    public void Huge_pages_stay_whole_and_consistent_and_every_read_is_right_through_splits_reclaim_and_demotion()
    {
        var gen = from n in Gen.Choose(20, 120)
                  from ops in Gen.ArrayOf(OpGen, n)
                  select ops;
        Properties.Check(gen, Run, maxTest: 40);
    }

    private static void Run(Op[] ops)
    {
        // 32 MiB in two nodes of 16 MiB, the second without CPUs, that the guest tiers; 16 MiB of swap.
        var (_, k) = GuestHost.Boot(8192, 4096, configure: o => o with { TransparentHugePages = true, LocalNodePages = 4096, Tiering = true });
        var p = k.Spawn("t")!;
        ulong aligned = k.MapAnonymous(p, AlignedPages), ragged = k.MapAnonymous(p, RaggedPages);
        long now = 0;
        int step = 0;
        foreach (var op in ops)
        {
            step++;
            ulong start = op.Aligned ? aligned : ragged;
            ulong page = (ulong)(op.Page % (op.Aligned ? AlignedPages : RaggedPages));
            switch (op.Kind)
            {
                case OpKind.Write: k.Access(p, start + (page << PageSize.Shift), write: true); break;
                case OpKind.Read: k.Access(p, start + (page << PageSize.Shift), write: false); break;
                case OpKind.Balloon:
                    k.Balloon.SetSelfTarget(op.Target);
                    GuestHost.Run(k, 3, now);
                    now += 3 * GuestHost.Tick;
                    break;
                case OpKind.Remap:
                    k.Unmap(p, aligned);
                    aligned = k.MapAnonymous(p, AlignedPages);
                    break;
                case OpKind.Step:
                    GuestHost.Run(k, 1, now);
                    now += GuestHost.Tick;
                    break;
            }
            Check(k, p, $"after step {step} ({op})");
        }
    }

    private static void Check(GuestKernel k, Process p, string when)
    {
        Assert.True(k.Integrity!.VerifyAll() == 0, $"a page read back wrong {when}");
        Assert.True(k.MemInfo().AddsUp, $"meminfo does not add up {when}: {k.MemInfo()}");
        long huge = 0, mapped = 0;
        var headOf = new HashSet<ulong>();
        k.Tables.ForEachLeaf(p.Root, 0, 1UL << 35, (vpn, table, index, e) =>
        {
            if (!Pte.IsPresent(e) || k.Pages.UseOf(Pte.Frame(e)) != PageUse.Anon) return;
            if ((e & Pte.Huge) == 0)
            {
                mapped++;
                Assert.False(k.Pages[Pte.Frame(e)].Has(PageFlags.Compound), $"a 4 KiB page is marked compound {when}");
                return;
            }
            huge++;
            mapped += 512;
            ulong first = Pte.Frame(e);
            Assert.True(first % 512 == 0 && vpn % 512 == 0, $"a huge page is not 2 MiB aligned {when}");
            for (ulong i = 0; i < 512; i++)
            {
                ref var d = ref k.Pages[first + i];
                Assert.True(d.Use == PageUse.Anon && d.Owner == p.Slot && d.Index == vpn + i && d.Has(PageFlags.Compound),
                    $"page {i} of the huge page at gfn {first} is {d.Use}, owner {d.Owner}, index {d.Index:x} {when}");
            }
        });
        Assert.True(huge == k.Thp!.HugePages, $"the tables map {huge} huge pages and the kernel counts {k.Thp.HugePages} {when}");
        long compound = 0;
        for (ulong gfn = 0; gfn < (ulong)k.Pages.Length; gfn++)
            if (k.Pages.UseOf(gfn) == PageUse.Anon && k.Pages[gfn].Has(PageFlags.Compound)) compound++;
        Assert.True(compound == 512 * huge, $"{compound} pages are marked compound for {huge} huge pages {when}");
        Assert.True(mapped == p.Stats.RssAnon, $"the tables map {mapped} anonymous pages and RssAnon is {p.Stats.RssAnon} {when}");
        long localFree = 0;
        for (ulong gfn = 0; gfn < (ulong)k.Allocator.LocalPages; gfn++)
            if (k.Pages.UseOf(gfn) == PageUse.Free) localFree++;
        Assert.True(localFree == k.Allocator.LocalFreePages(), $"{localFree} free pages on the CPUs' node, and the allocator counts {k.Allocator.LocalFreePages()} {when}");
    }
}
