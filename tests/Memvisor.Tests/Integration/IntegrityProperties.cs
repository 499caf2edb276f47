using FsCheck;
using FsCheck.Fluent;
using Memvisor.Guest.Kernel;
using Memvisor.Guest.Mm;
using Memvisor.Guest.PageCache;
using Memvisor.Guest.Balloon;
using Memvisor.Guest.Hotplug;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Seam;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Hypervisor.Tmem;
using Memvisor.Machine.Frames;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Integration;

/// <summary>DESIGN.md invariant 4 from the guest's side: no lost or stale bytes through reclaim, swap, the OOM killer, the balloon, hot-plug and the host's overcommit mechanisms.</summary>
public class IntegrityProperties
{
    public enum Op { Spawn, Exit, Map, Unmap, Read, Write, ReadFile, WriteFile, Target, Tick, Hotplug, HostStep, PagingTarget }

    private static readonly Gen<(Op Op, int A, int B)> OneOp =
        from op in Gen.Frequency(
            (2, Gen.Constant(Op.Spawn)), (1, Gen.Constant(Op.Exit)), (3, Gen.Constant(Op.Map)), (1, Gen.Constant(Op.Unmap)),
            (10, Gen.Constant(Op.Read)), (10, Gen.Constant(Op.Write)), (3, Gen.Constant(Op.ReadFile)), (3, Gen.Constant(Op.WriteFile)),
            (1, Gen.Constant(Op.Target)), (2, Gen.Constant(Op.Tick)), (1, Gen.Constant(Op.Hotplug)), (2, Gen.Constant(Op.HostStep)),
            (1, Gen.Constant(Op.PagingTarget)))
        from a in Gen.Choose(0, 1 << 20)
        from b in Gen.Choose(0, 1 << 20)
        select (op, a, b);

    private static readonly Gen<(bool Swap, (Op, int, int)[] Ops)> Sequences =
        from swap in Gen.Elements(true, false)
        from n in Gen.Choose(50, 400)
        from ops in Gen.ArrayOf(OneOp, n)
        select (swap, ops);

    private static readonly Gen<(MmuMode Mmu, bool Swap, (Op, int, int)[] Ops)> SequencesInEveryMode =
        from mmu in Gen.Elements(MmuMode.Pv, MmuMode.Shadow2, MmuMode.Shadow3, MmuMode.Hap)
        from run in Sequences
        select (mmu, run.Swap, run.Ops);

    [Fact]
    public void Every_read_returns_what_was_last_written_through_reclaim_swap_and_balloon()
    {
        long swapIns = 0, oomKills = 0, stolen = 0, checks = 0;
        var trips = new long[4];
        Properties.Check(SequencesInEveryMode, run =>
        {
            // A 4 MiB guest with up to 4 MiB of swap and mappings of up to 2.7 MiB, so reclaim and the OOM killer are busy,
            // under each MMU mode: its tables validated (PV), shadowed (Shadow-2, Shadow-3) or walked in two dimensions.
            var (hv, k) = GuestOnHost.Boot(1024, run.Swap ? 1024 : 0, maxPages: 2048, mmu: run.Mmu);
            var domain = hv.Domains.Single(d => d.Name == "g");
            Apply(hv, k, run.Ops);
            Assert.Equal(0, k.Integrity!.VerifyAll());
            Assert.True(k.Integrity.Violations == 0, string.Join("\n", k.Integrity.Messages));
            Assert.Equal(0, k.Tables.Failures);
            Assert.Equal(0, k.Stats.MmuRefusals);
            Assert.Equal(0, domain.Mmu!.Stats.UpdatesRefused);
            Assert.Equal(k.HeldPages, domain.P2m.PresentEntries);     // paged-out and shared gfns leave tot_pages but stay the guest's
            Assert.Empty(Auditor.Check(hv));
            trips[(int)run.Mmu] += domain.Mmu.Stats.HypervisorTrips;
            swapIns += k.Stats.SwapIns;
            oomKills += k.Stats.OomKills;
            stolen += k.Stats.PagesStolen;
            checks += k.Integrity.Checks;
        }, maxTest: 60);
        // The runs, taken together, went through what the property is about.
        Assert.True(swapIns > 100 && oomKills > 0 && stolen > 100 && checks > 10_000, $"swap-ins {swapIns}, OOM kills {oomKills}, pages reclaimed {stolen}, checks {checks}");
        // PV and both shadow modes were exercised; nested paging never enters the hypervisor for the guest's tables.
        Assert.True(trips[(int)MmuMode.Pv] > 0 && trips[(int)MmuMode.Shadow2] > 0 && trips[(int)MmuMode.Shadow3] > 0, string.Join(", ", trips));
        Assert.Equal(0, trips[(int)MmuMode.Hap]);
    }

    // Applies a sequence of operations to the guest (and its host), checking meminfo after each.
    private static void Apply(Host hv, GuestKernel k, (Op, int, int)[] ops)
    {
        var domain = hv.Domains.Single(d => d.Name == "g");
        var processes = new List<Process>();
        var regions = new List<(Process P, ulong Address, long Pages)>();
        var file = k.CreateDataFile("/data", 2048);
        long now = 0;
        foreach (var (op, a, b) in ops)
        {
            processes.RemoveAll(p => p.Exited);
            regions.RemoveAll(r => r.P.Exited);
            switch (op)
            {
                case Op.Spawn when processes.Count < 6:
                    if (k.Spawn($"p{a % 100}") is { } np) processes.Add(np);
                    break;
                case Op.Exit when processes.Count > 0:
                    k.Exit(processes[a % processes.Count]);
                    break;
                case Op.Map when processes.Count > 0:
                    var mp = processes[a % processes.Count];
                    long pages = 1 + b % 700;
                    regions.Add((mp, k.MapAnonymous(mp, pages), pages));
                    break;
                case Op.Unmap when regions.Count > 0:
                    var ur = regions[a % regions.Count];
                    k.Unmap(ur.P, ur.Address);
                    regions.Remove(ur);
                    break;
                case Op.Read or Op.Write when regions.Count > 0:
                    var r = regions[a % regions.Count];
                    for (int i = 0; i < 32 && !r.P.Exited; i++)
                        k.Access(r.P, r.Address + ((ulong)((b + i * 97) % r.Pages) << 12), op == Op.Write);
                    break;
                case Op.ReadFile:
                    k.ReadFile(file, a % file.Pages);
                    break;
                case Op.WriteFile:
                    k.WriteFile(file, a % file.Pages);
                    break;
                case Op.Target:
                    hv.DomCtl.SetTarget(domain.DomId, 512 + a % 1536);
                    break;
                case Op.Tick:
                    k.Step(now, GuestOnHost.Tick);
                    now += GuestOnHost.Tick;
                    break;
                case Op.Hotplug when k.Hotplug is not null:
                    hv.Store.Write(Host.StorePath(domain, StoreKeys.HotplugRequested), PageSize.ToKiB(a % 5 * k.Hotplug.Options.BlockPages));
                    break;
                case Op.HostStep:
                    hv.Step(GuestOnHost.Tick);
                    break;
                case Op.PagingTarget:
                    hv.DomCtl.SetPagingTarget(domain.DomId, a % 3 == 0 ? -1 : 256 + a % 1024);
                    break;
            }
            Assert.True(k.MemInfo().AddsUp, $"meminfo after {op}: {k.MemInfo()}");
        }
    }

    [Fact]
    public void Every_read_returns_what_was_last_written_through_hot_plug_self_ballooning_sharing_paging_and_tmem()
    {
        long removed = 0, migrated = 0, pagedIn = 0, cow = 0, tmemGets = 0;
        var overcommit = new OvercommitOptions
        {
            Sharing = new SharingOptions { Enabled = true, ScanRatePagesPerSecond = 20_000 },
            Compression = new CompressionOptions { Enabled = true },
            Tmem = new TmemOptions { Enabled = true, ReservePages = 64 },
        };
        Properties.Check(Sequences, run =>
        {
            // A 4 MiB guest that may plug four 1 MiB blocks, self-ballooning each tick, on a host that shares, pages and offers tmem.
            var (hv, k) = GuestOnHost.Boot(1024, run.Swap ? 1024 : 0, maxPages: 2048, overcommit: overcommit, configure: o => o with
            {
                Tmem = true,
                Hotplug = new HotplugOptions { Enabled = true, BlockPages = 256, BlocksPerSecond = 40 },
                SelfBalloon = new SelfBalloonOptions { Enabled = run.Swap, IntervalNs = GuestOnHost.Tick, MinUsablePages = 256 },
            });
            using (hv)
            {
                var domain = hv.Domains.Single(d => d.Name == "g");
                Apply(hv, k, run.Ops);
                Assert.Equal(0, k.Integrity!.VerifyAll());
                Assert.True(k.Integrity.Violations == 0, string.Join("\n", k.Integrity.Messages));
                Assert.Equal(k.HeldPages, domain.P2m.PresentEntries);     // paged-out and shared gfns leave tot_pages but stay the guest's
                Assert.Empty(Auditor.Check(hv));
                removed += k.Stats.HotplugPagesRemoved;
                migrated += k.Stats.PagesMigrated;
                pagedIn += k.Stats.HypervisorPageIns;
                cow += k.Stats.CowBreaks;
                tmemGets += hv.Tmem.Stats.Gets;
            }
        }, maxTest: 40);
        Assert.True(removed > 0 && migrated > 0 && pagedIn > 0 && cow > 0 && tmemGets > 0,
            $"hot-removed {removed}, migrated {migrated}, paged in {pagedIn}, copy-on-write breaks {cow}, tmem gets {tmemGets}");
    }
}
