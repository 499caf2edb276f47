using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Memory;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Port;
using Memvisor.Seam;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor;

// Domains' lives: built, registered and destroyed (Xen's xen/common/domain.c with libxl's domain builder).
public sealed partial class Host
{
    /// <summary>Builds a domain: takes its reserve, then populates all its memory (static) or reserves it (on-demand). All or nothing.</summary>
    public XenErrno CreateDomain(DomainConfig config, out Domain? domain) => Build(config, config.MemoryPages, out domain);

    // Builds a domain with the first `backed` pages of a static domain's memory in frames and the rest as entries
    // without one (Hyper-V's Smart Paging file); backed is the domain's memory except under Smart Paging.
    internal XenErrno Build(DomainConfig config, long backed, out Domain? domain)
    {
        domain = null;
        if (config.MemoryPages > config.MaxPages || config.MemoryPages < 0)
            return Refusals.Record(DomIds.Invalid, config.Name, "create", XenErrno.EINVAL, RefusalCause.BadConfiguration, config.MemoryPages, config.MaxPages);
        // Populate-on-demand and page sharing work on an HVM p2m; Xen refuses them for PV domains.
        if (config.Mmu.Mode == Mmu.MmuMode.Pv && (config.Allocation == AllocationMode.OnDemand || (config.Sharing && Sharing.Options.Enabled)))
            return Refusals.Record(DomIds.Invalid, config.Name, config.Allocation == AllocationMode.OnDemand ? "populate-on-demand" : "sharing", XenErrno.EOPNOTSUPP, RefusalCause.NeedsHvm, 0, 0);
        // Hyper-V allocates a VM's startup memory when it starts; it has no allocation on first touch.
        if (config.Allocation == AllocationMode.OnDemand && Personality.OnDemand == OnDemandModel.None)
            return Refusals.Record(DomIds.Invalid, config.Name, "on-demand allocation", XenErrno.EOPNOTSUPP, RefusalCause.NotOnThisHypervisor, 0, 0);
        ushort domid = config.IsDom0 ? DomIds.Dom0 : _nextDomId;
        if ((!config.IsDom0 && domid >= DomIds.FirstReserved) || _byId.ContainsKey(domid))
            return Refusals.Record(domid, config.Name, "create", XenErrno.EINVAL, RefusalCause.NotPermitted, 0, 0);

        // Xen and Hyper-V cover a domain's memory (a PoD domain's cache) before building it, all or nothing (Xen's
        // XENMEM_claim_pages, xl's claim_mode=1); on ESX and KVM the guest's memory comes at first touch.
        bool podCache = config.Allocation == AllocationMode.OnDemand && Personality.OnDemand == OnDemandModel.PodCache;
        long reserve = HeldPagesFor(config, Personality);
        long needed = BuildPagesFor(config, Personality) - (config.Allocation == AllocationMode.Static ? config.MemoryPages - backed : 0);
        if (needed > Machine.FreeFrames)
            return Refusals.Record(domid, config.Name, "create", XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, Machine.FreeFrames);

        // Virtual NUMA nodes name the builder's machine's nodes: a domain brought from another (a migration or restore)
        // whose vnodes name nodes this machine lacks has all its pages placed as one node's here.
        if (config.Vnodes is { } vnodes && vnodes.Any(v => v.Pnode < 0 || v.Pnode >= Machine.Nodes.Count)) config = config with { Vnodes = null };
        // A node the domain was pinned to elsewhere (a migration or restore) that this machine lacks, or that has no CPUs, is the host's to choose.
        int node = config.PreferredNode is int pinned && pinned >= 0 && pinned < Machine.Nodes.Count && (Machine.Tiers is null || Machine.Tiers[pinned].HasCpus)
            ? pinned : NodeWithMostFreeMemory();
        var d = new Domain(domid, config, node, Overcommit.Paging.MruSize, Overcommit.Activity);
        if (Machine.Tiers is { } tiers) d.NodeAccess = new Tiers.NodeAccess(tiers.Count, CpuNodeOf(d));
        if (!GrowReserve(d, reserve))
        {
            ReleaseReserve(d);
            return Refusals.Record(domid, config.Name, "create", XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, Machine.FreeFrames);
        }
        if (config.Allocation == AllocationMode.Static)
        {
            if (MemoryOp.PopulateRange(d, 0, backed) != XenErrno.Ok)
            {
                ReleaseAll(d);
                return Refusals.Record(domid, config.Name, "create", XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, Machine.FreeFrames);
            }
            for (long gfn = backed; gfn < config.MemoryPages; gfn++)
                d.P2m.Set((ulong)gfn, P2mEntry.PopulateOnDemand);
        }
        else
        {
            // A PoD guest's memory map shows what its balloon driver does not take back at boot: memory, or all of
            // maxmem for a guest without one (PhysmapPages).
            long entries = podCache ? config.PhysmapPages ?? config.MemoryPages : config.MemoryPages;
            for (long gfn = 0; gfn < entries; gfn++)
                d.P2m.Set((ulong)gfn, P2mEntry.PopulateOnDemand);
            if (podCache)
            {
                d.Pod = new Pod.PodCache();
                if (!FillPodCache(d, config.MemoryPages))
                {
                    ReleaseAll(d);
                    return Refusals.Record(domid, config.Name, "create", XenErrno.ENOMEM, RefusalCause.OutOfMemory, needed, Machine.FreeFrames);
                }
            }
        }
        d.Counters.HypervisorNs += Costs.DomainBuildNs;
        if (!config.IsDom0) _nextDomId++;
        Register(d);
        d.Port = new DomainPort(this, d);
        AttachMmu(d, config.Mmu);
        domain = d;
        return XenErrno.Ok;
    }

    /// <summary>Destroys a domain: its frames go back to the heap scrub-pending, its reserve is returned. dom0 cannot be destroyed.</summary>
    public XenErrno DestroyDomain(ushort domid)
    {
        if (!TryGetDomain(domid, "destroy", 0, out var d, out var missing)) return missing;
        if (d.IsDom0)
            return Refusals.Record(domid, d.Name, "destroy", XenErrno.EPERM, RefusalCause.NotPermitted, 0, 0);
        d.IsDying = true;
        RetireNodeAccess(d);
        SmartPaging.Forget(d);
        Grants.DomainDestroyed(d);
        ReleaseAll(d);
        _byId.Remove(domid);
        _domains.Remove(d);
        Store.ReleaseDomain(domid);
        return XenErrno.Ok;
    }

    // Registers a built domain and writes its memory keys, as libxl does when it builds one.
    private void Register(Domain d)
    {
        Store.Write(StorePath(d, StoreKeys.Target), PageSize.ToKiB(d.TargetPages));
        Store.Write(StorePath(d, StoreKeys.StaticMax), PageSize.ToKiB(d.MaxPages));
        _byId.Add(d.DomId, d);
        int at = _domains.FindIndex(x => x.DomId > d.DomId);
        if (at < 0) _domains.Add(d); else _domains.Insert(at, d);
    }

    private void ReleaseAll(Domain d)
    {
        // Tearing a domain down breaks no large page it used.
        long broken = d.P2m.LargePagesBroken;
        var by = d.P2m.SplitsBy;
        d.P2m.ForEachPresent((gfn, _) => DropEntry(d, gfn));
        d.P2m.LargePagesBroken = broken;
        d.P2m.SplitsBy = by;
        if (d.Pod is { } pod)
        {
            foreach (uint mfn in pod.Frames) Machine.Free(mfn, 0);
            pod.Frames.Clear();
        }
        d.TotPages = 0;
        d.Compression?.Release();
        Tmem.DestroyClient(d);
        ReleaseReserve(d);
    }

    private int NodeWithMostFreeMemory()
    {
        // On a tiered host a domain's vCPUs run on a node with CPUs: the DRAM node with the most free memory.
        int best = 0;
        for (int n = 1; n < Machine.Nodes.Count; n++)
            if ((Machine.Tiers is null || Machine.Tiers[n].HasCpus) && Machine.Nodes[n].FreePages > Machine.Nodes[best].FreePages) best = n;
        return best;
    }
}
