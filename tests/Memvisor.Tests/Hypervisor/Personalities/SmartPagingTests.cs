using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor.Personalities;

/// <summary>Hyper-V's Smart Paging: only for a restart short of startup memory, only the restarting VM pages, and it ends once the host can back the VM.</summary>
public class SmartPagingTests
{
    private const long Frames = 8192;

    private static Host Host(HostPersonality p) => new(new MachineMemory(Frames, 1), new CostModel(), () => 0, new OvercommitOptions { Personality = p });

    private static DomainConfig Vm(string name, long pages) => new() { Name = name, MemoryPages = pages, MaxPages = pages };

    private static ContentHandle Content(ulong gfn) => ContentHandle.Synthetic(ContentClass.Incompressible, 7000 + gfn);

    // A host with `other` pages held by another VM, so that a VM of `startup` pages cannot be covered.
    private static (Host Hv, Domain Other) Crowded(HostPersonality p, long other)
    {
        var hv = Host(p);
        Assert.Equal(XenErrno.Ok, hv.CreateDomain(Vm("other", other), out var o));
        return (hv, o!);
    }

    [Fact]
    public void A_vm_started_short_of_its_startup_memory_does_not_start_but_one_restarting_starts_with_the_gap_on_its_smart_paging_file()
    {
        var (hv, other) = Crowded(HostPersonality.HyperV, 5000);
        using var host = hv;
        long startup = 4096, minimum = 1024;
        Assert.Equal(XenErrno.ENOMEM, hv.CreateDomain(Vm("vm", startup), out _));

        Assert.Equal(XenErrno.Ok, hv.SmartPaging.Restart(Vm("vm", startup), minimum, out var vm));
        Assert.True(vm!.SmartPaging);
        Assert.InRange(vm.TotPages, minimum, startup - 1);
        Assert.Equal(startup - vm.TotPages, vm.PodPages);
        Assert.Single(hv.Events.Kept, e => e.Mechanism == "smart-paging");

        // The VM writes all its startup memory: it pages against its own file, no other VM gives up a page.
        long otherPages = other.TotPages;
        var port = hv.PortFor(vm);
        for (ulong g = 0; g < (ulong)startup; g++) Assert.NotEqual(AccessOutcome.Refused, port.Touch(new Gfn(g), true, Content(g)));
        Assert.True(hv.Paging.Stats.SmartPagingEvictions > 0);
        Assert.Equal(otherPages, other.TotPages);
        AssertBytes(hv, vm, startup);
        Assert.Empty(Auditor.Check(hv));

        // Memory comes free elsewhere: the file is read back in, the VM is whole again and keeps its bytes.
        Assert.Equal(XenErrno.Ok, hv.DestroyDomain(other.DomId));
        hv.Machine.Scrubber.Step(Frames);
        hv.Step(1_000_000);
        Assert.False(vm.SmartPaging);
        Assert.Equal(startup, vm.TotPages);
        Assert.Equal(0, vm.P2m.PagedOutEntries + vm.P2m.CompressedEntries + vm.PodPages);
        Assert.Equal(2, hv.Events.Kept.Count(e => e.Mechanism == "smart-paging"));
        AssertBytes(hv, vm, startup);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void Smart_paging_is_refused_below_the_minimum_for_a_vm_the_host_can_cover_and_on_other_hypervisors()
    {
        var (hv, _) = Crowded(HostPersonality.HyperV, 5000);
        using (hv)
        {
            Assert.Equal(XenErrno.ENOMEM, hv.SmartPaging.Restart(Vm("vm", 4096), 3500, out _));
            Assert.Equal(XenErrno.EINVAL, hv.SmartPaging.Restart(Vm("small", 512), 256, out _));
            Assert.Equal(0, hv.SmartPaging.Restarts);
        }
        var (xen, _) = Crowded(HostPersonality.Xen, 5000);
        using (xen) Assert.Equal(XenErrno.EOPNOTSUPP, xen.SmartPaging.Restart(Vm("vm", 4096), 1024, out _));
    }

    private static void AssertBytes(Host hv, Domain vm, long pages)
    {
        var port = hv.PortFor(vm);
        var page = new byte[PageSize.Bytes];
        var expected = new byte[PageSize.Bytes];
        for (ulong g = 0; g < (ulong)pages; g++)
        {
            Assert.True(port.ReadPage(new Gfn(g), page), $"gfn {g} could not be read");
            ContentGenerator.Fill(ContentClass.Incompressible, 7000 + g, expected);
            Assert.True(page.AsSpan().SequenceEqual(expected), $"gfn {g} lost its bytes");
        }
    }
}
