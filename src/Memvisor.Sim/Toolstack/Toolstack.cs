using Memvisor.Guest.Kernel;
using Memvisor.Hypervisor.Errors;
using Memvisor.Seam;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;
using Memvisor.Hypervisor;

namespace Memvisor.Sim.Toolstack;

/// <summary>
/// The toolstack actions a scenario's timeline issues, as xl does them: create (build the domain and boot its
/// guest), destroy, restart, save and restore, mem-set (write the balloon target) and mem-max (the max_mem domctl).
/// </summary>
public sealed partial class XlToolstack(Host hv, CostModel costs, ulong seed) : IDisposable
{
    internal Host Hv => hv;
    private CostModel Costs => costs;

    /// <summary>Whether the guests built keep miss-ratio curves: only when something reads them (the policy, or kept snapshots).</summary>
    public bool TrackMissRatio { get; set; } = true;
    /// <summary>Guests forecast their accesses for the simulator's prefetches (<see cref="GuestOptions.ForecastAccesses"/>).</summary>
    public bool ForecastAccesses { get; set; }

    /// <summary>The host's dom0, whose kernel runs the backends of PV devices.</summary>
    internal DomainRecord? Dom0 { get; set; }
    private Guest.Devices.BlkBack? _blkback;
    private Guest.Devices.NetBack? _netback;

    /// <summary>dom0's block backend, made when the first PV disk connects; null until then.</summary>
    public Guest.Devices.BlkBack? BlockBackend => _blkback;

    public bool Create(DomainRecord r, long nowNs)
    {
        var spec = r.Spec ?? throw new InvalidOperationException("dom0 is built by the host, not by create.");
        var config = ScenarioLoader.ToConfig(spec, r.Name, hv.Personality);
        if (hv.CreateDomain(config, out var domain) != XenErrno.Ok || domain is null)
        {
            r.State = DomainState.Failed;
            return false;
        }
        Boot(r, domain, config, nowNs);
        return true;
    }

    /// <summary>
    /// xl reboot (Hyper-V's Restart-VM): the domain is destroyed and built again from its configuration through xl's
    /// create (autoballoon included), and its guest boots afresh. On Hyper-V a VM the host cannot give its startup
    /// memory restarts here under Smart Paging when its minimum memory is free, and fails below it. False if the
    /// domain was not running or its Smart Paging restart failed.
    /// </summary>
    internal bool Restart(DomainRecord r, long nowNs, CreateQueue creates)
    {
        if (r.Spec is not { } spec || r.Domain is null || r.State != DomainState.Running)
        {
            hv.Refusals.Record(r.Domain?.DomId ?? DomIds.Invalid, r.Name, "restart", XenErrno.ESRCH, RefusalCause.NotRunning, 0, 0);
            return false;
        }
        if (!Destroy(r, nowNs)) return false;
        var config = ScenarioLoader.ToConfig(spec, r.Name, hv.Personality);
        if (hv.Personality.Kind != Hypervisor.Personalities.HypervisorKind.HyperV || Host.BuildPagesFor(config, hv.Personality) <= hv.Machine.FreeFrames)
        {
            creates.Start(r, nowNs);
            return true;
        }
        long minimum = PageSize.FromBytes(spec.MinimumRamBytes);
        if (hv.SmartPaging.Restart(config, minimum, out var domain) != XenErrno.Ok || domain is null)
        {
            r.State = DomainState.Failed;
            return false;
        }
        Boot(r, domain, config, nowNs);
        return true;
    }

    // The built domain gets its guest kernel, which boots; then the device model and any paging target.
    private void Boot(DomainRecord r, Hypervisor.Domains.Domain domain, Hypervisor.Domains.DomainConfig config, long nowNs)
    {
        var spec = r.Spec!;
        // A record built again after it was destroyed is a restart.
        if (r.DestroyedAtNs >= 0)
        {
            r.Restarts++;
            r.DestroyedAtNs = -1;
        }
        r.Domain = domain;
        r.DomId = domain.DomId;
        r.State = DomainState.Running;
        r.CreatedAtNs = nowNs;
        var guestOptions = spec.Guest with { RandomStream = (ulong)r.Column, BootPages = config.PhysmapPages, TrackMissRatio = TrackMissRatio && spec.Guest.TrackMissRatio,
            ForecastAccesses = ForecastAccesses, LocalNodePages = config.Vnodes is { Count: > 1 } vnodes ? vnodes[0].Pages : null };
        // Ballooned-out memory comes back on demand where the host allocates on first touch (ESX, KVM); a Xen PoD
        // guest's balloon populates real frames, as Xen's populate_physmap does.
        bool firstTouch = config.Allocation == Hypervisor.Domains.AllocationMode.OnDemand && hv.Personality.OnDemand == Hypervisor.Personalities.OnDemandModel.FirstTouch;
        r.Guest = new GuestKernel(r.Name, hv.PortFor(domain), spec.Workload.Create(), guestOptions, costs, seed, firstTouch);
        r.Guest.Boot();
        if (spec.Disk.Pv) ConnectDisk(r, domain);
        if (spec.Nic.Pv) ConnectNic(r, domain);
        ConnectDisplay(domain);
        if (spec.PagingTargetBytes is long target) hv.DomCtl.SetPagingTarget(domain.DomId, PageSize.FromBytes(target));
    }

    // xl's vbd: blkfront in the guest connects to blkback in dom0 (Linux drivers/block/xen-blkfront.c, xen-blkback);
    // a frontend that cannot connect (no pages to spare in the guest or dom0) leaves the guest on its disk directly.
    private void ConnectDisk(DomainRecord r, Hypervisor.Domains.Domain domain)
    {
        if (BlockBackendHere() is not { } back) return;
        var front = new Guest.Devices.BlkFront(r.Guest!, hv.GrantsFor(domain), back, Dom0!.DomId, r.Spec!.Disk.PersistentGrants);
        r.Guest!.Block = front;
        if (front.Connect()) return;
        back.Disconnect(domain.DomId);
        r.Guest.Block = null;
        hv.Events.Add("blkback", r.Name, "The PV disk could not connect (the guest or dom0 had no pages to spare); the guest reaches its disk directly.");
    }

    // The backends of a domain that is gone (saved, or migrated away) drop it; its mappings went with it.
    private void ForgetDevices(ushort domid) => _blkback?.Forget(domid);

    // A guest whose domain was rebuilt on this host (restored, or arrived by migration) reconnects its PV devices to
    // this host's backends, as blkfront and netfront do on resume.
    private void ResumeDevices(DomainRecord r, Hypervisor.Domains.Domain domain)
    {
        if (r.Guest is not { } guest) return;
        // A device that cannot reconnect stays, disconnected, with its figures: the guest reaches its disk directly and has no traffic.
        if (guest.Block is Guest.Devices.BlkFront blk && BlockBackendHere() is { } back && !blk.Resume(back, Dom0!.DomId))
        {
            back.Disconnect(domain.DomId);
            hv.Events.Add("blkback", r.Name, "The PV disk could not reconnect after the move; the guest reaches its disk directly.");
        }
        if (guest.Nic is { } nic && NetBackendHere() is { } netback && !nic.Resume(netback, Dom0!.DomId))
            hv.Events.Add("netback", r.Name, "The PV network device could not reconnect after the move; the guest has no network traffic.");
    }

    // dom0's backends on this host, made when the first device needs one; null without a running dom0.
    private Guest.Devices.BlkBack? BlockBackendHere() =>
        Dom0 is { Guest: { } kernel, Domain: { } dom0 } ? _blkback ??= new Guest.Devices.BlkBack(kernel, hv.GrantsFor(dom0)) : null;
    private Guest.Devices.NetBack? NetBackendHere() =>
        Dom0 is { Guest: { } kernel, Domain: { } dom0 } ? _netback ??= new Guest.Devices.NetBack(kernel, hv.GrantsFor(dom0)) : null;

    // xl's vif: netfront in the guest connects to netback in dom0 (Linux drivers/net/xen-netfront.c, xen-netback).
    private void ConnectNic(DomainRecord r, Hypervisor.Domains.Domain domain)
    {
        if (NetBackendHere() is not { } back) return;
        var nic = r.Spec!.Nic;
        var front = new Guest.Devices.NetFront(r.Guest!, hv.GrantsFor(domain), back, Dom0!.DomId, nic.RxBytesPerSecond, nic.TxBytesPerSecond, nic.Flip);
        if (front.Connect()) r.Guest!.Nic = front;
        else hv.Events.Add("netback", r.Name, "The PV network device could not connect (the guest or dom0 had no pages to spare); the guest has no network traffic.");
    }

    // The device model's display backend (qemu's xenfb): finds the framebuffer the guest published and has Xen track its dirty pages.
    private void ConnectDisplay(Hypervisor.Domains.Domain d)
    {
        long first = hv.Store.ReadLong(Host.StorePath(d, StoreKeys.FramebufferGfn), -1);
        long pages = hv.Store.ReadLong(Host.StorePath(d, StoreKeys.FramebufferPages), -1);
        if (first >= 0 && pages > 0) hv.DomCtl.TrackDirtyVram(d.DomId, (ulong)first, (ulong)pages);
    }

    /// <summary>
    /// xl's autoballoon (tools/xl/xl_vmcontrol.c, freemem): on Xen, before a build the host cannot cover, dom0 is
    /// asked to give back the difference, never below its minimum, and the build waits for the memory. True when
    /// dom0 was asked (the caller waits, then creates); false when the build needs nothing from dom0 or dom0 has
    /// nothing to give.
    /// </summary>
    public bool AutoballoonFor(DomainRecord r, DomainRecord dom0, out long neededPages)
    {
        var config = ScenarioLoader.ToConfig(r.Spec!, r.Name, hv.Personality);
        neededPages = Host.BuildPagesFor(config, hv.Personality);
        return Autoballoon(neededPages, dom0);
    }

    // Asks dom0 to give back what a build of neededPages lacks, on Xen, down to dom0's minimum; true if it was asked.
    private bool Autoballoon(long neededPages, DomainRecord dom0)
    {
        if (hv.Personality.Kind != Hypervisor.Personalities.HypervisorKind.Xen || dom0.Domain is not { } d) return false;
        long shortfall = neededPages - hv.Machine.FreeFrames, room = d.TargetPages - d.Config.MinPages;
        if (shortfall <= 0 || room <= 0) return false;
        return hv.DomCtl.SetTarget(d.DomId, d.TargetPages - Math.Min(shortfall, room)) == XenErrno.Ok;
    }

    public bool Destroy(DomainRecord r, long nowNs)
    {
        if (r.Domain is null || r.State != DomainState.Running)
        {
            hv.Refusals.Record(DomIds.Invalid, r.Name, "destroy", XenErrno.ESRCH, RefusalCause.NoSuchDomain, 0, 0);
            return false;
        }
        var d = r.Domain;
        (r.FinalTotPages, r.FinalMaxPages, r.FinalTargetPages) = (d.TotPages, d.MaxPages, d.TargetPages);
        // The backend lets go of the guest's pages before the domain goes (xl's device teardown precedes the destroy).
        _blkback?.Disconnect(d.DomId);
        if (hv.DestroyDomain(d.DomId) != XenErrno.Ok) return false;
        r.State = DomainState.Destroyed;
        r.DestroyedAtNs = nowNs;
        return true;
    }

    /// <summary>xl mem-set: writes the balloon target; the guest gives memory back or takes it at its own pace.</summary>
    public bool MemSet(DomainRecord r, long bytes) =>
        r.Domain is { } d ? hv.DomCtl.SetTarget(d.DomId, PageSize.FromBytes(bytes)) == XenErrno.Ok : NotRunning(r, "mem-set");

    /// <summary>xl mem-max: sets max_pages through the max_mem domctl, and memory/static-max with it as libxl does.</summary>
    public bool MemMax(DomainRecord r, long bytes)
    {
        if (r.Domain is not { } d) return NotRunning(r, "mem-max");
        if (hv.MemoryOp.MaxMem(d.DomId, PageSize.FromBytes(bytes)) != XenErrno.Ok) return false;
        hv.Store.Write(Host.StorePath(d, StoreKeys.StaticMax), PageSize.ToKiB(d.MaxPages));
        return true;
    }

    /// <summary>
    /// Hot-adds (or with a negative size hot-removes) memory: raises the size the guest is asked to have plugged
    /// (memory/hotplug/requested, within maxmem less the boot size) and moves memory/target with it, so that the
    /// balloon keeps what was plugged.
    /// </summary>
    public bool Hotplug(DomainRecord r, long bytes)
    {
        string call = bytes >= 0 ? "hot-add" : "hot-remove";
        if (r.Domain is not { } d) return NotRunning(r, call);
        long room = d.MaxPages - d.Config.MemoryPages;
        string key = Host.StorePath(d, StoreKeys.HotplugRequested);
        long requested = hv.Store.ReadLong(key, 0) / PageSize.KiB;
        long delta = bytes >= 0 ? PageSize.FromBytes(bytes) : -PageSize.FromBytes(-bytes);
        long wanted = Math.Clamp(requested + delta, 0, room);
        if (wanted == requested)
        {
            hv.Refusals.Record(d.DomId, d.Name, call, XenErrno.EINVAL, RefusalCause.AboveMaxMem, requested + delta, room);
            return false;
        }
        hv.Store.Write(key, PageSize.ToKiB(wanted));
        return hv.DomCtl.SetTarget(d.DomId, Math.Clamp(d.TargetPages + wanted - requested, d.Config.MinPages, d.MaxPages)) == XenErrno.Ok;
    }

    /// <summary>Sets the hypervisor's paging target for the domain (xenpaging's target): it pages the domain out to this size behind the guest's back.</summary>
    public bool PagingTarget(DomainRecord r, long bytes) =>
        r.Domain is { } d ? hv.DomCtl.SetPagingTarget(d.DomId, PageSize.FromBytes(bytes)) == XenErrno.Ok : NotRunning(r, "paging-target");

    /// <summary>Writes memory/uncooperative, as squeezed does when it gives up on a domain's balloon.</summary>
    public bool MarkUncooperative(DomainRecord r)
    {
        if (r.Domain is not { } d) return NotRunning(r, "mark-uncooperative");
        hv.Store.Write(Host.StorePath(d, StoreKeys.Uncooperative), 1);
        return true;
    }

    /// <summary>Sets the sharing scanner's rate (MOM's KSM pages_to_scan control); false if the host does not share.</summary>
    public bool SharingScanRate(double pagesPerSecond)
    {
        if (!hv.Sharing.Options.Enabled) return false;
        hv.Sharing.SetScanRate(pagesPerSecond);
        return true;
    }

    private bool NotRunning(DomainRecord r, string call)
    {
        hv.Refusals.Record(DomIds.Invalid, r.Name, call, XenErrno.ESRCH, RefusalCause.NoSuchDomain, 0, 0);
        return false;
    }
}
