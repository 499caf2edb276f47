using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Tiers;
using Memvisor.Tests.Support;
using Memvisor.Hypervisor;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor;

/// <summary>DESIGN.md invariants 1, 3 and 5 under random sequences of create, populate, decrease, exchange, max_mem, touch and destroy, on a Xen, an ESX and a KVM host, and a tiered Xen host (per-node free frames and accesses add up).</summary>
public class InvariantProperties
{
    public enum OpKind { Create, Populate, PopulateOnDemand, Decrease, Exchange, MaxMem, Touch, Destroy, Scrub, MoveToNode, Step }

    public sealed record Op(OpKind Kind, int A, int B, int C);

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Frequency(
            (2, Gen.Constant(OpKind.Create)), (4, Gen.Constant(OpKind.Populate)), (1, Gen.Constant(OpKind.PopulateOnDemand)),
            (3, Gen.Constant(OpKind.Decrease)), (1, Gen.Constant(OpKind.Exchange)), (1, Gen.Constant(OpKind.MaxMem)),
            (4, Gen.Constant(OpKind.Touch)), (1, Gen.Constant(OpKind.Destroy)), (1, Gen.Constant(OpKind.Scrub)), (2, Gen.Constant(OpKind.MoveToNode)), (2, Gen.Constant(OpKind.Step)))
        from a in Gen.Choose(0, 1 << 20)
        from b in Gen.Choose(0, 1 << 20)
        from c in Gen.Choose(0, 1 << 20)
        select new Op(kind, a, b, c);

    // Xen's on-demand domains are populate-on-demand with a cache; ESX's and KVM's take a frame, or a whole 2 MiB page, on first touch.
    [Theory]
    [InlineData("xen")]
    [InlineData("esx")]
    [InlineData("kvm")]
    [InlineData("xen-tiered")]
    [InlineData("esx-nvme")]
    public void Random_operation_sequences_keep_ownership_scrubbing_and_accounting_exact(string hypervisor)
    {
        bool nvme = hypervisor.EndsWith("-nvme", StringComparison.Ordinal);
        bool tiered = nvme || hypervisor.EndsWith("-tiered", StringComparison.Ordinal);
        var personality = Memvisor.Hypervisor.Personalities.HostPersonality.Find(hypervisor.Split('-')[0])!;
        long largePages = 0, nodeAccesses = 0, moved = 0, touchPromoted = 0, scanMoves = 0, offloaded = 0, brokenMoved = 0;
        Properties.Check(OpGen.ListOf().Select(l => l.ToList()), ops =>
        {
            // ESX keeps about 20 MiB of overhead memory per VM: its host is larger so that several VMs fit. The tiered
            // host's nodes are DRAM, NVM and CXL (the heap falls back to CXL first): the auditor counts each node's free frames.
            // The NVMe host brings every page touched on NVMe back to DRAM (vSphere's tiering, promote_on_touch) and offloads
            // cold pages under TMO's pressure control; the other tiered host's scanner is write-aware. Step runs their scans.
            var hv = nvme ? TestHost.CreateTiered([(MemoryKind.Dram, 8000), (MemoryKind.Nvme, 16000)], personality,
                    new Memvisor.Hypervisor.Tiers.TieringOptions
                    {
                        Enabled = true, PromoteOnTouch = true, ColdScans = 1, MovesPerScan = 256,
                        PressureTargetNs = 10_000_000, PressureProbeEvery = 0, PressureFloorPages = 16,
                    })
                : tiered ? TestHost.CreateTiered([(MemoryKind.Dram, 3000), (MemoryKind.Nvm, 1500), (MemoryKind.Cxl, 1500)], personality,
                    new Memvisor.Hypervisor.Tiers.TieringOptions { Enabled = true, WriteAware = true, ColdScans = 1, MovesPerScan = 256 })
                : TestHost.Create(frames: hypervisor == "esx" ? 24000 : 6000, nodes: 2, personality);
            int created = 0;
            long touched = 0;
            var page = new byte[PageSize.Bytes];
            foreach (var op in ops)
            {
                var domains = hv.Domains;
                var d = domains.Count == 0 ? null : domains[op.A % domains.Count];
                string before = TestHost.Fingerprint(hv);
                long refusalsBefore = hv.Refusals.Count;
                var handedOut = new List<ulong>();
                switch (op.Kind)
                {
                    case OpKind.Create:
                        long max = 64 + op.B % 3000, mem = op.C % (max + 1);
                        // On a tiered host a third of the domains are two virtual NUMA nodes, the second on node 1 (xl.cfg vnuma).
                        hv.CreateDomain(new DomainConfig
                        {
                            Name = $"d{created++}", MemoryPages = mem, MaxPages = max,
                            Allocation = op.A % 2 == 0 ? AllocationMode.Static : AllocationMode.OnDemand,
                            Vnodes = tiered && op.A % 3 == 0 ? [new Vnode(0, max / 2), new Vnode(1, max - max / 2)] : null,
                        }, out var nd);
                        if (nd is { Allocation: AllocationMode.Static }) for (ulong g = 0; g < (ulong)mem; g++) handedOut.Add(g);
                        d = nd;
                        break;
                    case OpKind.Populate when d is not null:
                    {
                        int order = op.B % 3 == 0 ? 9 : 0;
                        var gfns = Extents(d, op, order);
                        if (hv.MemoryOp.PopulatePhysmap(d.DomId, gfns, order) == XenErrno.Ok)
                            foreach (var g in gfns) for (ulong i = 0; i < 1UL << order; i++) handedOut.Add(g + i);
                        break;
                    }
                    case OpKind.PopulateOnDemand when d is not null:
                        hv.MemoryOp.PopulatePhysmap(d.DomId, Extents(d, op, 0), 0, onDemand: true);
                        break;
                    case OpKind.Decrease when d is not null:
                        hv.MemoryOp.DecreaseReservation(d.DomId, Extents(d, op, 0), 0);
                        break;
                    case OpKind.Exchange when d is not null:
                    {
                        var inGfns = Extents(d, op, 0);
                        ulong outBase = (ulong)(op.C % Math.Max(1, (int)(d.P2m.Capacity / 512))) * 512;
                        if (inGfns.Length == 512 || op.C % 4 == 0)
                            if (hv.MemoryOp.Exchange(d.DomId, inGfns, 0, [outBase], 9) == XenErrno.Ok)
                                for (ulong i = 0; i < 512; i++) handedOut.Add(outBase + i);
                        break;
                    }
                    case OpKind.MaxMem when d is not null:
                        hv.MemoryOp.MaxMem(d.DomId, op.B % 4000);
                        break;
                    case OpKind.Touch when d is not null:
                    {
                        var port = hv.PortFor(d);
                        for (int i = 0; i < 20; i++)
                        {
                            ulong g = (ulong)((op.B + i * 7919) % (int)Math.Max(1, d.P2m.Capacity));
                            bool wasPod = d.P2m.Get(g).Type == Memvisor.Hypervisor.P2m.P2mType.PopulateOnDemand;
                            if (wasPod && port.ReadPage(new Gfn(g), page))
                                Assert.True(page.All(x => x == 0), $"a page populated on demand for {d} held old bytes");
                            if (port.Touch(new Gfn(g), write: true, ContentHandle.Synthetic(ContentClass.Incompressible, (ulong)(op.C + i + 1))) != AccessOutcome.Refused) touched++;
                        }
                        break;
                    }
                    case OpKind.Destroy when d is not null:
                        hv.DestroyDomain(d.DomId);
                        break;
                    case OpKind.Scrub:
                        hv.Machine.Scrubber.Step(op.B % 2000);
                        break;
                    // The host's mechanisms run: on a tiered host, a tiering scan that promotes, demotes and offloads.
                    case OpKind.Step:
                        hv.Step(1_000_000_000);
                        break;
                    // Pages moved between memory nodes keep their bytes, their gfn and the domain's tot_pages.
                    case OpKind.MoveToNode when d is not null:
                    {
                        var port = hv.PortFor(d);
                        int node = op.C % hv.Machine.Nodes.Count;
                        for (int i = 0; i < 16; i++)
                        {
                            ulong g = (ulong)((op.B + i * 104_729) % (int)Math.Max(1, d.P2m.Capacity));
                            bool had = port.ReadPage(new Gfn(g), page);
                            var bytes = (byte[])page.Clone();
                            long tot = d.TotPages;
                            string unmoved = TestHost.Fingerprint(hv);
                            if (hv.MigratePage(d.DomId, g, node) != XenErrno.Ok)
                            {
                                Assert.Equal(unmoved, TestHost.Fingerprint(hv));
                                continue;
                            }
                            moved++;
                            // A crashed domain (Xen's PoD crash) keeps its frames until destroyed, but nothing reads them: its pages move unread.
                            Assert.True((had || d.IsCrashed) && hv.Machine.NodeOf(d.P2m.Get(g).Mfn) == node && d.TotPages == tot, $"gfn {g} of {d} did not land on node {node}");
                            if (had)
                                Assert.True(port.ReadPage(new Gfn(g), page) && page.AsSpan().SequenceEqual(bytes), $"gfn {g} of {d} changed its bytes moving to node {node}");
                        }
                        break;
                    }
                }

                // Invariant 3: whatever a domain was just handed reads as zeros.
                if (d is not null && hv.Find(d.DomId) is not null)
                {
                    var port = hv.PortFor(d);
                    foreach (var g in handedOut)
                    {
                        Assert.True(port.ReadPage(new Gfn(g), page));
                        Assert.True(page.All(x => x == 0), $"gfn {g} was handed to {d} holding another domain's bytes");
                    }
                }
                // A refused request changes nothing.
                if (hv.Refusals.Count > refusalsBefore && op.Kind is not (OpKind.Touch or OpKind.Create or OpKind.MoveToNode))
                    Assert.Equal(before, TestHost.Fingerprint(hv));
                // Invariants 1 and 5 (and the p2m/m2p agreement) by a full scan.
                var problems = Auditor.Check(hv);
                Assert.True(problems.Count == 0, $"after {op}: {string.Join(" ", problems)}");
                // Every 2 MiB page broken is counted once, under what its first changed entry became.
                foreach (var live in hv.Domains)
                {
                    var by = live.P2m.SplitsBy;
                    Assert.True(live.P2m.LargePagesBroken == by.Sharing + by.Paging + by.Released + by.Moved + by.Other, $"{live} broke {live.P2m.LargePagesBroken} large pages and counted {by} after {op}");
                }
                // A tiered host counts every access that reached a frame on that frame's node, destroyed domains' too.
                if (tiered)
                {
                    var totals = hv.NodeAccessTotals()!;
                    Assert.Equal(touched, totals.Writes.Sum());
                    Assert.Equal(0, totals.Reads.Sum());
                }
            }
            nodeAccesses += touched;
            touchPromoted += hv.Tiering.Stats.TouchPromoted;
            scanMoves += hv.Tiering.Stats.Promoted - hv.Tiering.Stats.TouchPromoted + hv.Tiering.Stats.Demoted;
            offloaded += hv.Tiering.Stats.Offloaded;
            foreach (var live in hv.Domains)
            {
                largePages += live.Stats.LargePagesPopulated;
                brokenMoved += live.P2m.SplitsBy.Moved;
            }
        }, maxTest: 60);
        // On a host that backs first touches with 2 MiB pages the sequences must have made some.
        if (personality.LargePagesOnFirstTouch) Assert.True(largePages > 0, "no first touch took a 2 MiB page");
        if (personality.LargePagesOnFirstTouch) Assert.True(brokenMoved > 0, $"no 2 MiB page was broken by a page moving to another node");
        if (tiered) Assert.True(nodeAccesses > 100, $"only {nodeAccesses} accesses reached a frame");
        Assert.True(moved > 100, $"only {moved} pages moved between nodes");
        if (nvme) Assert.True(touchPromoted > 10, $"only {touchPromoted} pages came back from NVMe when touched");
        if (tiered) Assert.True(scanMoves > 10, $"only {scanMoves} pages moved by tiering scans");
        if (nvme) Assert.True(offloaded > 10, $"only {offloaded} pages offloaded under pressure");
    }

    private static ulong[] Extents(Domain d, Op op, int order)
    {
        ulong capacity = d.P2m.Capacity;
        int count = order == 9 ? 1 + op.C % 2 : 1 + op.C % 600;
        var set = new SortedSet<ulong>();
        ulong step = 1UL << order;
        ulong slots = Math.Max(1, capacity / step);
        for (int i = 0; i < count; i++)
            set.Add(((ulong)(op.B + i * 31) % slots) * step);
        // Now and then name a gfn past the end, to exercise the refusal path.
        if (op.A % 17 == 0) set.Add(capacity + step);
        return set.ToArray();
    }
}
