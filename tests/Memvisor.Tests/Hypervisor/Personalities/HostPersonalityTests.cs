using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor.Personalities;

/// <summary>What differs between the hypervisors at the host: who swaps when short, ESX's overhead memory and salting, Hyper-V's startup memory.</summary>
public class HostPersonalityTests
{
    private static readonly ContentHandle Text = ContentHandle.Synthetic(ContentClass.Compressible, 42);

    private static Host Host(HostPersonality p, bool pagingConfigured = false, bool interVm = true) =>
        new(new MachineMemory(32768, 1), new CostModel(), () => 0, new OvercommitOptions
        {
            Personality = p,
            Sharing = new SharingOptions { Enabled = true, InterVm = interVm },
            Paging = new PagingOptions { Configured = pagingConfigured },
        });

    // Two domains share a page, a ballast domain takes every free frame, then a write to the shared page needs a new frame.
    private static (AccessOutcome Outcome, long Emergency) WriteToSharedPageOnAFullHost(HostPersonality p, bool pagingConfigured)
    {
        using var hv = Host(p, pagingConfigured);
        var a = TestHost.Domain(hv, "a", 256, 256);
        var b = TestHost.Domain(hv, "b", 256, 256);
        for (ulong g = 1; g < 200; g++)
        {
            hv.PortFor(a).Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Compressible, 1000 + g));
            hv.PortFor(b).Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Incompressible, 5000 + g));
        }
        hv.PortFor(a).Touch(new Gfn(7), true, Text);
        hv.PortFor(b).Touch(new Gfn(7), true, Text);
        Assert.True(hv.Sharing.ScanGfn(a, 7) | hv.Sharing.ScanGfn(b, 7));
        Assert.True(hv.Sharing.ScanGfn(b, 7) || hv.Sharing.ScanGfn(a, 7) || a.P2m.Get(7).Type == Memvisor.Hypervisor.P2m.P2mType.Shared);
        var ballast = TestHost.Domain(hv, "ballast", 0, 32768);
        for (ulong g = 0; hv.Machine.FreeFrames > 0; g++)
            Assert.Equal(XenErrno.Ok, hv.MemoryOp.PopulatePhysmap(ballast.DomId, [g], 0));
        var outcome = hv.PortFor(a).Touch(new Gfn(7), true, ContentHandle.Synthetic(ContentClass.Compressible, 9));
        Assert.Empty(Auditor.Check(hv));
        return (outcome, hv.Paging.Stats.EmergencyEvictions);
    }

    [Fact]
    public void Xen_pages_no_guest_out_when_short_unless_paging_is_set_up_while_esx_and_kvm_swap()
    {
        var xen = WriteToSharedPageOnAFullHost(HostPersonality.Xen, pagingConfigured: false);
        Assert.Equal(AccessOutcome.Refused, xen.Outcome);
        Assert.Equal(0, xen.Emergency);

        var xenpaging = WriteToSharedPageOnAFullHost(HostPersonality.Xen, pagingConfigured: true);
        Assert.Equal(AccessOutcome.Unshared, xenpaging.Outcome);
        Assert.True(xenpaging.Emergency > 0);

        foreach (var p in new[] { HostPersonality.Esx, HostPersonality.Kvm })
        {
            var r = WriteToSharedPageOnAFullHost(p, pagingConfigured: false);
            Assert.Equal(AccessOutcome.Unshared, r.Outcome);
            Assert.True(r.Emergency > 0, $"{p.Name} should have swapped a guest page out");
        }
        var hyperv = WriteToSharedPageOnAFullHost(HostPersonality.HyperV, pagingConfigured: false);
        Assert.Equal(AccessOutcome.Refused, hyperv.Outcome);
        Assert.Equal(0, hyperv.Emergency);
    }

    [Theory]
    [InlineData(256, 1, 20.29)]
    [InlineData(1024, 1, 25.90)]
    [InlineData(4096, 1, 48.64)]
    [InlineData(16384, 1, 139.62)]
    [InlineData(1024, 4, 37.86)]
    [InlineData(16384, 8, 168.60)]
    public void Esx_overhead_memory_follows_vmware_s_table_within_one_percent(double memoryMb, int vcpus, double tableMb) =>
        Assert.InRange(EsxOverhead.Megabytes(memoryMb, vcpus), tableMb * 0.99, tableMb * 1.01);

    [Fact]
    public void An_esx_vm_takes_its_overhead_memory_at_power_on_beside_its_reserve()
    {
        using var xen = Host(HostPersonality.Xen);
        using var esx = Host(HostPersonality.Esx);
        var config = new DomainConfig { Name = "vm", MemoryPages = 1024, MaxPages = 1024, Allocation = AllocationMode.OnDemand };
        Assert.Equal(XenErrno.Ok, esx.CreateDomain(config, out var e));
        Assert.Equal(XenErrno.Ok, xen.CreateDomain(config with { Allocation = AllocationMode.Static }, out var x));
        // 4 MiB of memory with 1 vCPU: the table's 256 MB row extended down, about 20 MB.
        long overhead = e!.ReservePages - x!.ReservePages;
        Assert.Equal(EsxOverhead.PagesFor(config), overhead);
        Assert.InRange(PageSize.ToMiB(overhead), 17, 21);
    }

    [Fact]
    public void Esx_shares_pages_within_one_vm_only_unless_inter_vm_sharing_is_turned_on()
    {
        foreach (bool interVm in new[] { false, true })
        {
            using var hv = Host(HostPersonality.Esx, interVm: interVm);
            var a = TestHost.Domain(hv, "a", 64, 64);
            var b = TestHost.Domain(hv, "b", 64, 64);
            foreach (ulong g in new ulong[] { 3, 4 })
            {
                hv.PortFor(a).Touch(new Gfn(g), true, Text);
                hv.PortFor(b).Touch(new Gfn(g), true, Text);
            }
            foreach (ulong g in new ulong[] { 3, 4 })
            {
                hv.Sharing.ScanGfn(a, g);
                hv.Sharing.ScanGfn(b, g);
            }
            // Salted: a's two copies share one frame and b's two another; unsalted: all four share one.
            Assert.Equal(interVm ? 1 : 2, hv.Sharing.Stats.PagesShared);
            Assert.Equal(interVm ? 3 : 2, hv.Sharing.Stats.PagesSharing);
            Assert.Empty(Auditor.Check(hv));
        }
    }

    [Fact]
    public void Hyper_v_refuses_on_demand_allocation_and_a_vm_whose_startup_memory_does_not_fit_does_not_start()
    {
        using var hv = Host(HostPersonality.HyperV);
        Assert.Equal(XenErrno.EOPNOTSUPP, hv.CreateDomain(new DomainConfig { Name = "lazy", MemoryPages = 64, MaxPages = 64, Allocation = AllocationMode.OnDemand }, out _));
        Assert.Contains(hv.Refusals.Kept, r => r.Cause == RefusalCause.NotOnThisHypervisor);
        string before = TestHost.Fingerprint(hv);
        Assert.Equal(XenErrno.ENOMEM, hv.CreateDomain(new DomainConfig { Name = "big", MemoryPages = 40000, MaxPages = 40000 }, out var d));
        Assert.Null(d);
        Assert.Equal(before, TestHost.Fingerprint(hv));
    }

    [Fact]
    public void Ksm_merges_zero_pages_like_any_other_unless_use_zero_pages_maps_them_to_the_zero_frame()
    {
        foreach (bool useZeroPages in new[] { false, true })
        {
            using var hv = new Host(new MachineMemory(32768, 1), new CostModel(), () => 0, new OvercommitOptions
            {
                Personality = HostPersonality.Kvm,
                Sharing = new SharingOptions { Enabled = true, UseZeroPages = useZeroPages, MaxPageSharing = 256 },
            });
            var a = TestHost.Domain(hv, "a", 400, 400);
            var b = TestHost.Domain(hv, "b", 400, 400);
            for (ulong g = 1; g <= 150; g++)
                foreach (var d in new[] { a, b })
                {
                    hv.PortFor(d).Touch(new Gfn(g), true, ContentHandle.Zero);
                    hv.Sharing.ScanGfn(d, g);
                }
            var st = hv.Sharing.Stats;
            // 300 zero pages: one zero frame, or KSM pages of 256 mappings at most (two frames).
            Assert.Equal(useZeroPages ? 300 : 0, st.ZeroPages);
            Assert.Equal(useZeroPages ? 0 : 2, st.PagesShared);
            Assert.Equal(useZeroPages ? 299 : 298, hv.Sharing.SavedPages);
            Assert.Empty(Auditor.Check(hv));
        }
    }

    // A busy guest (larger, every page just used) and an idle one (its pages' accessed flags cleared by an earlier
    // pass), on a full host; a third guest's page-in needs a frame.
    private static (long BusyLost, long IdleLost) ShortHostEvicts(HostPersonality p)
    {
        // 5000 frames: what the three guests leave (about 1,380 frames) goes to a ballast, smaller than busy.
        using var hv = new Host(new MachineMemory(5000, 1), new CostModel(), () => 0, new OvercommitOptions
        {
            Personality = p,
            Paging = new PagingOptions { Configured = true, SwapPages = 4096 },
        });
        var busy = TestHost.Domain(hv, "busy", 1500, 1500);
        var idle = TestHost.Domain(hv, "idle", 1000, 1000);
        var late = TestHost.Domain(hv, "late", 16, 16);
        hv.PortFor(late).Touch(new Gfn(1), true, Text);
        Assert.True(hv.Paging.Evict(late, 1));
        for (ulong g = 1; g < 1000; g++)
        {
            hv.PortFor(idle).Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Compressible, 100 + g));
            idle.P2m.TestAndClearAccessed(g);
        }
        for (ulong g = 1; g < 1500; g++) hv.PortFor(busy).Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Compressible, 5000 + g));
        var ballast = TestHost.Domain(hv, "ballast", 0, 2048);
        for (ulong g = 0; hv.Machine.FreeFrames > 0; g++)
            Assert.Equal(XenErrno.Ok, hv.MemoryOp.PopulatePhysmap(ballast.DomId, [g], 0));
        Assert.Equal(AccessOutcome.PagedIn, hv.PortFor(late).Touch(new Gfn(1), false, ContentHandle.Zero));
        Assert.Empty(Auditor.Check(hv));
        return (1500 - busy.TotPages, 1000 - idle.TotPages);
    }

    [Fact]
    public void Kvm_s_host_lru_swaps_the_cold_guest_s_pages_where_xenpaging_takes_from_the_largest_guest()
    {
        var kvm = ShortHostEvicts(HostPersonality.Kvm);
        Assert.Equal(0, kvm.BusyLost);
        Assert.True(kvm.IdleLost > 0);
        // Xen with xenpaging set up: the largest guest (busy) is paged, whatever it has used lately.
        var xen = ShortHostEvicts(HostPersonality.Xen);
        Assert.True(xen.BusyLost > 0);
        Assert.Equal(0, xen.IdleLost);
    }

    [Fact]
    public void An_esx_vm_swaps_no_more_than_its_swap_file_holds_and_the_host_turns_to_a_vm_with_room()
    {
        using var hv = new Host(new MachineMemory(32768, 1), new CostModel(), () => 0, new OvercommitOptions { Personality = HostPersonality.Esx });
        var config = new DomainConfig { Name = "vm", MemoryPages = 256, MaxPages = 256, SwapLimitPages = 10 };
        Assert.Equal(XenErrno.Ok, hv.CreateDomain(config, out var vm));
        for (ulong g = 0; g < 256; g++) hv.PortFor(vm!).Touch(new Gfn(g), true, ContentHandle.Synthetic(ContentClass.Incompressible, 300 + g));
        Assert.Equal(XenErrno.Ok, hv.DomCtl.SetPagingTarget(vm!.DomId, 0));
        for (int i = 0; i < 100; i++) hv.Paging.Step(100_000_000);
        Assert.Equal(10, vm.P2m.PagedOutEntries);
        Assert.True(hv.Paging.Stats.SwapFileFull > 0);
        Assert.Null(hv.Paging.StopReason);
        Assert.True(Memvisor.Hypervisor.Paging.HypervisorPaging.HasSwapRoom(TestHost.Domain(hv, "other", 64, 64)));
        Assert.False(Memvisor.Hypervisor.Paging.HypervisorPaging.HasSwapRoom(vm));
        Assert.Empty(Auditor.Check(hv));
    }
}
